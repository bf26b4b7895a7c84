"""worker/job_credentials.py: the jobs' role's credentials (STS: moto in-process), reused for
five minutes then assumed again; the agent's own ways to credentials kept out of a job's
environment (its endpoint instead: tests/aws/test_job_credentials_endpoint.py); a job's child
dropped to its own uid after the sandbox's root-only steps."""

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
    first = creds.current()
    assert first["AccessKeyId"] != "agent-key" and first["Token"] and first["Expiration"]
    who = boto3.client("sts", region_name="eu-west-1",
                       aws_access_key_id=first["AccessKeyId"],
                       aws_secret_access_key=first["SecretAccessKey"],
                       aws_session_token=first["Token"]).get_caller_identity()
    assert who["Arn"] == "arn:aws:sts::123456789012:assumed-role/jobs/w-4f6e-3"
    now[0] += jc.REUSE_S - 1
    assert creds.current() == first and creds.assumed == 1
    now[0] += 2
    assert creds.current()["AccessKeyId"] != first["AccessKeyId"]
    assert creds.assumed == 2


def test_prepare_keeps_the_agents_credentials_out_of_the_job(sts):
    env = {"PATH": "/usr/bin", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/x",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t",
           "AWS_ACCESS_KEY_ID": "from-the-submission", "AWS_SESSION_TOKEN": "agent"}
    access = JobAccess(JobCredentials(sts, ROLE, "eu-west-1", session_name="w"))
    try:
        notes = access.prepare(env, [])
    finally:
        access.close()
    assert notes == []
    assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in env
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" not in env
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] != "t"
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SESSION_TOKEN" not in env
    assert env["PATH"] == "/usr/bin"


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
