"""worker/credential_endpoint.py through a real SDK: a job process using boto3 gets the job
role's credentials from the agent's loopback endpoint (STS: the moto server), fetches them
again as they near expiry and gets fresh ones once the agent's are stale; a request without
a job's live token is refused, and the agent's own keys never reach the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.credentials import ContainerProvider
from botocore.exceptions import CredentialRetrievalError

from hyper_tui.agent import job_credentials as jc
from hyper_tui.agent.job_credentials import JobAccess, JobCredentials
from tests.aws import moto_env

ROLE = f"arn:aws:iam::{moto_env.ACCOUNT}:role/jobs"

# One boto3 client for the job's whole life: each line on stdin is one call, whose signing
# key (from the request's Authorization header) and caller identity it prints.
JOB = r"""
import json, sys
import boto3
used = []
sts = boto3.Session().client("sts")
sts.meta.events.register("before-send", lambda request=None, **kw: used.append(
    request.headers["Authorization"].decode().split("Credential=")[1].split("/")[0]))
for line in sys.stdin:
    arn = sts.get_caller_identity()["Arn"]
    print(json.dumps({"arn": arn, "key": used[-1]}), flush=True)
"""


def job_env(url: str) -> dict[str, str]:
    # what an agent's job environment may hold before prepare: the agent's keys among them
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": str(Path(boto3.__file__).resolve().parents[1])}


@pytest.fixture
def access(moto_url):
    now = [1_000_000.0]
    # 15-minute credentials (STS's shortest): botocore fetches again on every call
    creds = JobCredentials(boto3.client("sts", region_name=moto_env.REGION), ROLE,
                           moto_env.REGION, session_name="w-cred", clock=lambda: now[0],
                           duration_s=900)
    a = JobAccess(creds, None)
    yield a, now
    a.close()


def test_a_job_gets_its_roles_credentials_and_fresh_ones_after_they_expire(access, moto_url):
    a, now = access
    env = job_env(moto_url)
    assert a.prepare(env, []) == []
    assert not [k for k in jc.STATIC_KEYS if k in env]  # the agent's keys are gone
    assert env[jc.FULL_URI_ENV].startswith("http://127.0.0.1:") and env[jc.TOKEN_ENV]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == moto_env.REGION
    proc = subprocess.Popen([sys.executable, "-c", JOB], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def call() -> dict[str, str]:
            proc.stdin.write("call\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            return json.loads(line)

        first = call()
        assert first["arn"] == f"arn:aws:sts::{moto_env.ACCOUNT}:assumed-role/jobs/w-cred"
        assert first["key"] not in ("testing", "") and a.credentials.assumed == 1
        second = call()  # the SDK fetched again (15 minutes left); the agent's are still good
        assert second == first and a.credentials.assumed == 1
        assert a.endpoint.served >= 2
        now[0] += jc.REUSE_S + 1  # the agent's credentials are stale: it assumes again
        third = call()
        assert third["arn"] == first["arn"] and third["key"] != first["key"]
        assert a.credentials.assumed == 2
        now[0] += 3600  # past a chained session's hour
        fourth = call()
        assert fourth["arn"] == first["arn"] and fourth["key"] not in (first["key"], third["key"])
        assert a.credentials.assumed == 3
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()
    assert a.endpoint.refused == 0


def fetch(url: str, token: str | None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_missing_wrong_or_revoked_token_is_refused(access, moto_url):
    a, _ = access
    env, other = job_env(moto_url), job_env(moto_url)
    a.prepare(env, [])
    a.prepare(other, [])
    url, token = env[jc.FULL_URI_ENV], env[jc.TOKEN_ENV]
    assert token != other[jc.TOKEN_ENV]  # a token per job
    status, body = fetch(url, token)
    assert status == 200 and body["AccessKeyId"] != "testing" and body["Token"]
    assert body["Expiration"] and body["AccountId"] == moto_env.ACCOUNT
    assert fetch(url, None)[0] == 401
    assert fetch(url, token[:-1] + ("A" if token[-1] != "A" else "B"))[0] == 403
    assert fetch(url.rsplit("/", 1)[0] + "/other", token)[0] == 404
    a.release(env)  # the job ended
    assert fetch(url, token)[0] == 403
    assert fetch(url, other[jc.TOKEN_ENV])[0] == 200  # the other job's still opens
    assert a.endpoint.refused == 4
    # what an SDK does with a refused token (it tries again, then fails): no credentials
    sdk = ContainerProvider(environ={jc.FULL_URI_ENV: url, jc.TOKEN_ENV: token})
    sdk._fetcher._sleep = lambda s: None
    with pytest.raises(CredentialRetrievalError):
        sdk.load()
    assert a.endpoint.refused > 4 and a.endpoint.served == 2


def test_a_role_that_cannot_be_assumed_gets_no_endpoint():
    class Refusing:
        def assume_role(self, **kw):
            raise RuntimeError("AccessDenied")

    a = JobAccess(JobCredentials(Refusing(), ROLE, "eu-west-1", session_name="w"))
    env = {"AWS_ACCESS_KEY_ID": "agent-key"}
    notes = a.prepare(env, [])
    assert len(notes) == 1 and ROLE in notes[0] and "AccessDenied" in notes[0]
    assert env == {} and a.endpoint is None
