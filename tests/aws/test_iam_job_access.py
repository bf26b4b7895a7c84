"""worker/job_credentials.py: the jobs' role's credentials (STS: moto in-process), reused for
five minutes then assumed again; the agent's own ways to credentials kept out of a job's
environment; a job's child dropped to its own uid after the sandbox's root-only steps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from hyper_tui.agent import job_credentials as jc
from hyper_tui.agent.job_credentials import JobAccess, JobCredentials, JobUser

ROLE = "arn:aws:iam::123456789012:role/jobs"


@pytest.fixture
def sts(monkeypatch):
    for k in ("AWS_ENDPOINT_URL", "HYPER_AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "agent-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "agent-secret")
    with mock_aws():
        yield boto3.client("sts", region_name="eu-west-1")


def test_credentials_are_the_roles_reused_then_assumed_again(sts):
    now = [1000.0]
    creds = JobCredentials(sts, ROLE, "eu-west-1", session_name="w-4f6e:3", clock=lambda: now[0])
    assert creds.session_name == "w-4f6e-3"  # what STS accepts in a session name
    first = creds.env()
    assert first["AWS_ACCESS_KEY_ID"] != "agent-key" and first["AWS_SESSION_TOKEN"]
    assert first["AWS_REGION"] == first["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert first["AWS_CREDENTIAL_EXPIRATION"]
    who = boto3.client("sts", region_name="eu-west-1",
                       aws_access_key_id=first["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=first["AWS_SECRET_ACCESS_KEY"],
                       aws_session_token=first["AWS_SESSION_TOKEN"]).get_caller_identity()
    assert who["Arn"] == "arn:aws:sts::123456789012:assumed-role/jobs/w-4f6e-3"
    now[0] += jc.REUSE_S - 1
    assert creds.env() == first and creds.assumed == 1
    now[0] += 2
    assert creds.env()["AWS_ACCESS_KEY_ID"] != first["AWS_ACCESS_KEY_ID"]
    assert creds.assumed == 2


def test_prepare_keeps_the_agents_credentials_out_of_the_job(sts):
    env = {"PATH": "/usr/bin", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/x",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t",
           "AWS_ACCESS_KEY_ID": "from-the-submission"}
    notes = JobAccess(JobCredentials(sts, ROLE, "eu-west-1", session_name="w")).prepare(env, [])
    assert notes == []
    assert not [k for k in env if k.startswith("AWS_CONTAINER") or k.startswith("AWS_WEB")]
    assert env["AWS_ACCESS_KEY_ID"] not in ("from-the-submission", "agent-key")
    assert env["PATH"] == "/usr/bin"


def test_a_role_that_cannot_be_assumed_is_a_note_not_a_crash():
    class Refusing:
        def assume_role(self, **kw):
            raise RuntimeError("AccessDenied")

    env: dict[str, str] = {}
    notes = JobAccess(JobCredentials(Refusing(), ROLE, "eu-west-1", session_name="w")) \
        .prepare(env, [])
    assert len(notes) == 1 and ROLE in notes[0] and "AccessDenied" in notes[0]
    assert "AWS_ACCESS_KEY_ID" not in env


def test_the_job_role_variable_is_the_job_definitions():
    from hyper_tui.aws import schema

    assert jc.JOB_ROLE_ENV == schema.JOB_ROLE_ENV


def test_job_user_falls_back_to_nobody():
    assert JobUser.named("no-such-user-here").uid == 65534
    assert JobUser.named("0").name == "root"


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_the_job_runs_as_its_user_after_the_root_only_steps():
    user = JobUser.named("nobody")
    folder = Path(tempfile.mkdtemp(prefix="hyper-uid-"))  # /tmp: reachable by other users
    try:
        folder.chmod(0o755)
        run_as_job_user(user, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_as_job_user(user: JobUser, folder: Path) -> None:
    script = folder / "job.sh"
    script.write_text("id -u; id -g; id -G; cat /proc/1/environ >/dev/null 2>&1 || echo denied\n")
    script.chmod(0o700)  # the agent's own file, as loop._command makes it
    scratch = folder / "tmpdir"
    scratch.mkdir(mode=0o700)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root"}
    notes = JobAccess(None, user).prepare(env, [str(script), str(scratch), None])
    assert notes == [] and env["HOME"] == user.home and env["USER"] == user.name
    assert os.stat(script).st_uid == user.uid and os.stat(scratch).st_uid == user.uid
    ran: list[str] = []

    def inner() -> None:  # the sandbox's steps (cgroup, rlimits) still run as root
        ran.append(str(os.geteuid()))
        assert os.geteuid() == 0

    out = subprocess.run(["/bin/sh", str(script)], env=env, capture_output=True, text=True,
                         preexec_fn=JobAccess(None, user).preexec(inner), timeout=30)
    assert out.returncode == 0, out.stderr
    uid, gid, groups, denied = out.stdout.split("\n")[:4]
    assert (int(uid), int(gid), groups) == (user.uid, user.gid, str(user.gid))
    assert denied == "denied"  # PID 1's environment is root's


def test_without_a_user_the_sandbox_preexec_is_kept():
    def inner() -> None:
        pass

    assert JobAccess(None, None).preexec(inner) is inner
    assert JobAccess(None, None).preexec(None) is None


def test_protect_agent_makes_the_process_non_dumpable():
    code = ("from hyper_tui.agent.job_credentials import protect_agent; import ctypes; "
            "assert protect_agent(); libc = ctypes.CDLL(None); print(libc.prctl(3, 0, 0, 0, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"  # PR_GET_DUMPABLE
