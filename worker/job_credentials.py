"""What a job of an aws worker agent gets instead of the agent's own access: temporary
credentials of its definition's job role, and a uid of its own. Standard library and boto3.

The job definition's Batch job role is the agent's (work queues, jobs table, job logs). Each
definition also has a job role for its jobs (``HYPER_JOB_ROLE_ARN`` in the container's
environment: the definition's ``iam_policies`` and nothing of the host), which trusts the agent
role only. :class:`JobCredentials` assumes it (``sts:AssumeRole``) and the agent serves those
credentials to its jobs from a loopback endpoint (``worker/credential_endpoint.py``), as ECS
serves a task's: each job gets ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and a token of its own
(``AWS_CONTAINER_AUTHORIZATION_TOKEN``, revoked when the job ends) plus ``AWS_REGION``/
``AWS_DEFAULT_REGION``, and its SDK fetches the credentials there and again before they expire.
The agent's own ways to credentials (``AWS_CONTAINER_CREDENTIALS_*`` of its container, static
keys) never reach a job, whatever the submission's environment says.

Credentials of a role assumed by a role last one hour at most (IAM's role-chaining limit). The
agent assumes again when the ones it holds are older than :data:`REUSE_S` or have less than
:data:`MIN_LEFT_S` left, so an SDK always fetches credentials it will not want to refresh for
a while (botocore refreshes 15 minutes before expiry), and a job of any length keeps its role.

:class:`JobUser`: when the agent runs as root (the base image's default), each job runs as an
unprivileged user (``HYPER_JOB_USER``, default ``worker``, uid 1000 of the base image; ``nobody``
when the image has no such user): the job cannot read the agent's ``/proc/<pid>/environ`` or
memory, nor signal it. The agent also marks itself non-dumpable, which makes its ``/proc``
files root's even for a job of its own uid (an image that runs the container as a non-root
``user``).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hyper_tui.agent.credential_endpoint import CredentialEndpoint

JOB_ROLE_ENV = "HYPER_JOB_ROLE_ARN"   # hyper_tui.aws.schema.JOB_ROLE_ENV
JOB_USER_ENV = "HYPER_JOB_USER"
DEFAULT_JOB_USER = "worker"
NOBODY = 65534
REUSE_S = 300.0          # assume again when the credentials held are older than this
MIN_LEFT_S = 1200.0      # ... or expire sooner than this (an SDK refreshes 15 minutes before)
DURATION_S = 3600        # the most a chained role session may last

# The agent's own way to credentials: never in a job's environment.
AGENT_ONLY = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME")
# Static keys win over the endpoint in every SDK's chain: a job with a role has none.
STATIC_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
               "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION")
FULL_URI_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
TOKEN_ENV = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
_SESSION_NAME = re.compile(r"[^\w+=,.@-]")


class JobCredentials:
    """The jobs' role's temporary credentials, assumed when needed (see the module doc);
    safe to call from the endpoint's threads."""

    def __init__(self, sts: Any, role_arn: str, region: str, *, session_name: str,
                 clock: Callable[[], float] = time.time, duration_s: int = DURATION_S) -> None:
        self.sts = sts
        self.role_arn = role_arn
        self.region = region
        self.session_name = (_SESSION_NAME.sub("-", session_name) or "hyper-job")[:64]
        if len(self.session_name) < 2:
            self.session_name = "hyper-job"
        self.clock = clock
        self.duration_s = int(duration_s)
        self._held: dict[str, str] | None = None
        self._at = 0.0
        self._expires = 0.0   # on ``clock``
        self._lock = threading.Lock()
        self.assumed = 0   # AssumeRole calls made

    def current(self) -> dict[str, str]:
        """The credentials in the container-credentials format (``AccessKeyId``,
        ``SecretAccessKey``, ``Token``, ``Expiration``, ``AccountId``); raises what STS raised
        when it cannot assume the role."""
        with self._lock:
            now = self.clock()
            if (self._held is None or now - self._at > REUSE_S
                    or self._expires - now < min(MIN_LEFT_S, self.duration_s / 2)):
                sent = time.time()
                creds = self.sts.assume_role(
                    RoleArn=self.role_arn, RoleSessionName=self.session_name,
                    DurationSeconds=self.duration_s)["Credentials"]
                expiration = creds["Expiration"]
                stamp = expiration.isoformat() if hasattr(expiration, "isoformat") \
                    else str(expiration)
                life = expiration.timestamp() - sent if hasattr(expiration, "timestamp") \
                    else float(self.duration_s)
                self._held = {"AccessKeyId": creds["AccessKeyId"],
                              "SecretAccessKey": creds["SecretAccessKey"],
                              "Token": creds["SessionToken"], "Expiration": stamp,
                              "AccountId": self.role_arn.split(":")[4]
                              if self.role_arn.count(":") >= 5 else ""}
                self._at, self._expires = now, now + life
                self.assumed += 1
            return dict(self._held)


@dataclass(frozen=True)
class JobUser:
    uid: int
    gid: int
    name: str
    home: str

    @classmethod
    def named(cls, name: str) -> JobUser:
        """The user ``name`` (or a uid); ``nobody`` (65534) when the image has no such user."""
        try:
            entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except (KeyError, ValueError):
            try:
                entry = pwd.getpwuid(NOBODY)
            except KeyError:
                return cls(NOBODY, NOBODY, "nobody", "/")
        return cls(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir or "/")

    def preexec(self, inner: Callable[[], None] | None) -> Callable[[], None]:
        """The child's last steps before exec: ``inner`` (the sandbox's cgroup and rlimits,
        which need root), then drop to this user for good (groups, gid, uid)."""
        uid, gid = self.uid, self.gid

        def child() -> None:
            if inner is not None:
                inner()
            os.setgroups([gid])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)

        return child


class JobAccess:
    """Applied by the agent to each job: :meth:`prepare` its environment and files,
    :meth:`preexec` its child (``worker/loop.py`` calls both, only when it has one)."""

    def __init__(self, credentials: JobCredentials | None = None,
                 user: JobUser | None = None) -> None:
        self.credentials = credentials
        self.user = user
        self.endpoint: CredentialEndpoint | None = None   # started for the first job

    @classmethod
    def from_environment(cls, environ: dict[str, str], session: Any, *, worker_id: str,
                         region: str) -> JobAccess:
        """The aws agent's: the job role of ``HYPER_JOB_ROLE_ARN`` (none: jobs get no AWS
        credentials), and a job user when the agent runs as root."""
        role = environ.get(JOB_ROLE_ENV)
        creds = JobCredentials(session.client("sts", region), role, region,
                               session_name=worker_id) if role else None
        user = JobUser.named(environ.get(JOB_USER_ENV) or DEFAULT_JOB_USER) \
            if os.geteuid() == 0 else None
        return cls(creds, user)

    def prepare(self, env: dict[str, str], paths: list[str | None]) -> list[str]:
        """Rewrite the job's environment (``env``, in place) and hand it ``paths`` (its script,
        its TMPDIR); return the notes for the job's log."""
        notes: list[str] = []
        for key in AGENT_ONLY:
            env.pop(key, None)
        if self.credentials is not None:
            for key in STATIC_KEYS:
                env.pop(key, None)
            try:
                self.credentials.current()  # the role can be assumed: else a note, no endpoint
            except Exception as err:  # noqa: BLE001 - the job runs, without AWS credentials
                notes.append(f"no AWS credentials for the job: cannot assume "
                             f"{self.credentials.role_arn}: {err}")
            else:
                if self.endpoint is None:
                    self.endpoint = CredentialEndpoint(self.credentials.current)
                env.update({FULL_URI_ENV: self.endpoint.url, TOKEN_ENV: self.endpoint.issue(),
                            "AWS_REGION": self.credentials.region,
                            "AWS_DEFAULT_REGION": self.credentials.region})
        if self.user is not None:
            env.update({"HOME": self.user.home, "USER": self.user.name,
                        "LOGNAME": self.user.name})
            for path in paths:
                if path:
                    try:
                        os.chown(path, self.user.uid, self.user.gid)
                    except OSError as err:
                        notes.append(f"cannot hand {path} to user {self.user.name}: {err}")
        return notes

    def preexec(self, inner: Callable[[], None] | None) -> Callable[[], None] | None:
        return self.user.preexec(inner) if self.user is not None else inner

    def release(self, env: dict[str, str]) -> None:
        """The job has ended: its token (in ``env``, as :meth:`prepare` left it) opens
        nothing any more."""
        token = env.get(TOKEN_ENV)
        if self.endpoint is not None and token:
            self.endpoint.revoke(token)

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None


def protect_agent() -> bool:
    """Mark this process non-dumpable: its /proc files (environ, mem) become root's, so a
    process of its own uid cannot read them (Linux; False elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        return False
