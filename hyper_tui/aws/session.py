"""boto3 sessions and clients for an aws host, and AWS errors turned into one line for people.

* ``HYPER_AWS_ENDPOINT_URL`` sends every call to one endpoint (tests point it at a local moto
  server; nothing else should set it).
* Clients retry in botocore's ``adaptive`` mode (exponential backoff with jitter plus a
  client-side rate limiter), which is what AWS expects for throttled and transient errors.
* :func:`friendly_error` turns what is left (no credentials, a wrong region, throttling that
  outlasted the retries, access denied, a missing table or queue) into a
  :class:`~hyper_tui.core.errors.HyperError` with one line that says what to do; :func:`aws_errors`
  does it for a block of code. Nothing of a botocore traceback reaches a user.

Standard library and boto3 only: the worker agent imports this.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hyper_tui.core.errors import HyperError, NotFoundError, UnavailableError

ENDPOINT_ENV = "HYPER_AWS_ENDPOINT_URL"
READ_TIMEOUT_ENV = "HYPER_AWS_READ_TIMEOUT"  # seconds; a request with no answer is retried
MAX_ATTEMPTS = 8

_THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
              "TooManyRequestsException", "ProvisionedThroughputExceededException",
              "RequestThrottled", "RequestThrottledException", "SlowDown",
              "LimitExceededException", "TransactionInProgressException"}
_BAD_CREDENTIALS = {"UnrecognizedClientException", "InvalidClientTokenId",
                    "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthFailure",
                    "InvalidSignatureException", "IncompleteSignature"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
           "AuthorizationError", "UnauthorizedException"}
_MISSING = {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist", "ParameterNotFound", "NoSuchEntity"}


class AwsSession:
    """One boto3 session with cached, thread-safe clients per (service, region).

    ``hooks`` are ``(event name, handler)`` pairs registered on every client (botocore copies
    the session's event system into each client when it is created, so hooks are added per
    client). The request-count benchmark uses ``before-call`` / ``before-send`` hooks.
    """

    def __init__(self, region: str, *, profile: str | None = None,
                 endpoint_url: str | None = None, max_attempts: int = MAX_ATTEMPTS,
                 max_pool: int = 32) -> None:
        import boto3
        from botocore.config import Config

        self.region = region
        self.endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        try:
            self.boto = boto3.session.Session(profile_name=profile, region_name=region)
        except Exception as err:  # ProfileNotFound and friends
            raise friendly_error(err, "opening the AWS session") from None
        # The read timeout must outlast an SQS long poll (20 s at most).
        read_timeout = float(os.environ.get(READ_TIMEOUT_ENV) or 70)
        self.config = Config(retries={"mode": "adaptive", "max_attempts": max_attempts},
                             connect_timeout=10, read_timeout=max(read_timeout, 21),
                             max_pool_connections=max_pool)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.hooks: list[tuple[str, Callable[..., Any]]] = []

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        c = self._clients.get(key)
        if c is not None:
            return c
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                try:
                    c = self.boto.client(service, region_name=key[1], config=self.config,
                                         endpoint_url=self.endpoint_url)
                except Exception as err:
                    raise friendly_error(err, f"creating the {service} client") from None
                for event, fn in self.hooks:
                    c.meta.events.register(event, fn)
                self._clients[key] = c
        return c

    def register(self, event: str, fn: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, present and future."""
        with self._lock:
            self.hooks.append((event, fn))
            for c in self._clients.values():
                c.meta.events.register(event, fn)


# --------------------------------------------------------------------------------------------
# Errors


def error_code(err: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``""`` for anything else)."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def is_throttle(err: BaseException) -> bool:
    return error_code(err) in _THROTTLED


def friendly_error(err: BaseException, what: str, *, region: str | None = None) -> HyperError:
    """One line for a person: what failed (``what``), why, and what to do."""
    if isinstance(err, HyperError):
        return err
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return UnavailableError(f"{what}: {err}")
    where = f" in region {region}" if region else ""
    if isinstance(err, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return UnavailableError(
            f"{what}: no AWS credentials found",
            fix="run 'aws configure' or 'aws sso login', or set AWS_PROFILE "
                "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    if isinstance(err, bx.ProfileNotFound):
        return UnavailableError(f"{what}: {err}", fix="check AWS_PROFILE and ~/.aws/config")
    if isinstance(err, bx.NoRegionError):
        return UnavailableError(f"{what}: no AWS region given",
                                fix="set the host's main region, or AWS_DEFAULT_REGION")
    if isinstance(err, (bx.TokenRetrievalError, bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError)):
        return UnavailableError(f"{what}: the AWS SSO login has expired", fix="run 'aws sso login'")
    if isinstance(err, bx.InvalidRegionError):
        return UnavailableError(f"{what}: {getattr(err, 'kwargs', {}).get('region_name', '?')!r} "
                                "is not an AWS region", fix="use a region code like us-east-1")
    if isinstance(err, bx.EndpointConnectionError):
        return UnavailableError(
            f"{what}: cannot reach {getattr(err, 'kwargs', {}).get('endpoint_url', 'AWS')}",
            fix="check the region name (a typo makes an endpoint that does not exist) and the "
                "network or proxy")
    if isinstance(err, (bx.ConnectTimeoutError, bx.ReadTimeoutError, bx.ConnectionClosedError)):
        return UnavailableError(f"{what}: AWS did not answer in time{where}",
                                fix="check the network, then try again")
    if isinstance(err, bx.ClientError):
        code = error_code(err)
        msg = str((err.response.get("Error") or {}).get("Message") or "").strip()
        op = getattr(err, "operation_name", "") or "the call"
        if code in _THROTTLED:
            return UnavailableError(
                f"{what}: AWS is throttling {op} ({code}) even after {MAX_ATTEMPTS} tries with "
                "backoff", fix="try again in a minute, or raise the service quota")
        if code in _EXPIRED:
            return UnavailableError(f"{what}: the AWS credentials have expired",
                                    fix="refresh them ('aws sso login' or new keys)")
        if code in _BAD_CREDENTIALS:
            return UnavailableError(
                f"{what}: AWS rejected the credentials ({code})",
                fix="check AWS_PROFILE / the access keys, and that the region is enabled "
                    "for the account")
        if code in _DENIED:
            return UnavailableError(f"{what}: access denied for {op}{where}: {msg}",
                                    fix="grant the permission to these credentials, or use "
                                        "credentials of the host's account")
        if code in _MISSING or (code == "ValidationError" and "does not exist" in msg):
            return NotFoundError(f"{what}: {msg or code}{where}",
                                 fix="is the host deployed in this account and region? "
                                     "(hyper-tui deploy, or hosts import-deployment)")
        return UnavailableError(f"{what}: {op} failed{where}: {code}: {msg}")
    if isinstance(err, bx.BotoCoreError):
        return UnavailableError(f"{what}: {err}")
    return UnavailableError(f"{what}: {type(err).__name__}: {err}")


@contextmanager
def aws_errors(what: str, *, region: str | None = None) -> Iterator[None]:
    """Turn AWS exceptions raised in the block into one-line HyperErrors."""
    try:
        yield
    except HyperError:
        raise
    except Exception as err:
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:  # pragma: no cover
            raise
        if isinstance(err, (BotoCoreError, ClientError)):
            raise friendly_error(err, what, region=region) from None
        raise
