"""The loopback endpoint an aws agent serves its jobs' role credentials from, as ECS does.

A job gets ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (``http://127.0.0.1:PORT/...``, a loopback
address, which every AWS SDK accepts over plain HTTP) and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``
(a random token of its own). Its SDK fetches the job role's temporary credentials here and
fetches again before they expire (botocore: 15 minutes before), so a job calling AWS after
the first hour of a chained role session keeps working. The agent's own credentials are never
served: a request with a live job token gets the job role's (:class:`JobCredentials`), one
without it is refused (401 no token, 403 a token that is not, or no longer, a job's).

Standard library only; the credentials object does the STS calls.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/hyper/job-credentials"


class CredentialEndpoint:
    """An HTTP server on 127.0.0.1 (a port of its own) serving ``fetch()`` to holders of a
    token it issued (:meth:`issue`, :meth:`revoke`); a daemon thread until :meth:`close`."""

    def __init__(self, fetch: Callable[[], dict[str, Any]], *, host: str = "127.0.0.1") -> None:
        self.fetch = fetch
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self.served = 0     # credentials handed out
        self.refused = 0    # requests refused (no token, a wrong one, a wrong path)
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="job-credentials", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def issue(self) -> str:
        """A new token (one per job), valid until :meth:`revoke`."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens.add(token)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.discard(token)

    def allowed(self, token: str | None) -> bool:
        if not token:
            return False
        with self._lock:
            live = list(self._tokens)
        return any(secrets.compare_digest(token, t) for t in live)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(endpoint: CredentialEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            token = self.headers.get("Authorization")
            if self.path.split("?", 1)[0] != PATH:
                endpoint.refused += 1
                return self._reply(404, {"code": "NotFound", "message": "no such path"})
            if not token:
                endpoint.refused += 1
                return self._reply(401, {"code": "Unauthorized",
                                         "message": "no authorization token"})
            if not endpoint.allowed(token):
                endpoint.refused += 1
                return self._reply(403, {"code": "Forbidden", "message": "not a job's token"})
            try:
                creds = endpoint.fetch()
            except Exception as err:  # noqa: BLE001 - the SDK reports it to the job
                return self._reply(500, {"code": "CredentialsUnavailable",
                                         "message": f"{type(err).__name__}: {err}"})
            endpoint.served += 1
            self._reply(200, creds)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the agent's log is its jobs'; a request line is not worth one

    return Handler
