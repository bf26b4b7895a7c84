"""``hyper-tui serve``: the same full-screen app in a web browser, served with textual-serve.

Every browser tab that connects gets its own app process (textual-serve's model), started as
``python -m hyper_tui.serve --child`` with the host and theme of the command line.

Who may connect:
- The server listens on 127.0.0.1 unless ``--address`` says otherwise; any other address is
  refused without a token.
- With a token (``--token``, or ``HYPER_SERVE_TOKEN`` which keeps it out of ``ps``), every
  request must carry it: ``/?token=...`` on the first visit (the reply sets an HttpOnly,
  SameSite=Strict cookie and redirects, so the token leaves the address bar) and the cookie
  after that. The token is compared in constant time.
- Without ``--token`` a random one is made and printed with the address, as Jupyter does: on a
  shared machine (a login node) 127.0.0.1 is reachable by every user, and the app can submit
  jobs as you. ``--no-token`` turns that off, on 127.0.0.1 only.
- The websocket that drives the app also needs an ``Origin`` equal to the address served, so a
  page of another site open in the same browser cannot drive the app. Without a token, the
  ``Host`` of every request must be this machine's loopback name or the public URL's, so a site
  whose name was made to point at 127.0.0.1 (DNS rebinding) gets nothing.

Nothing here imports aiohttp or textual-serve until the server starts, so ``hyper-tui --help``
stays fast.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import secrets
import shlex
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from hyper_tui.core.errors import UnavailableError, UsageError

TOKEN_ENV = "HYPER_SERVE_TOKEN"
COOKIE = "hyper_serve_token"
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class ServeOptions:
    address: str
    port: int
    token: str | None        # None: no check at all (--no-token, loopback only)
    public_url: str          # what the browser opens (the websocket URL is derived from it)
    host: str | None = None  # the hyper-tui host the app opens
    theme: str | None = None


# --------------------------------------------------------------------------------------------
# The rules (pure)


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def resolve_options(address: str, port: int, token: str | None, *, no_token: bool = False,
                    public_url: str | None = None, host: str | None = None,
                    theme: str | None = None) -> ServeOptions:
    """Check the address against the token rule and fill in what was not given."""
    if not 1 <= port <= 65535:
        raise UsageError(f"serve --port {port}: a port is 1-65535", fix="e.g. --port 8000")
    if token is not None and len(token) < 16:
        raise UsageError("serve --token: a token has at least 16 characters",
                         fix="make one with: python3 -c 'import secrets; print(secrets.token_urlsafe())'")
    if no_token and token is not None:
        raise UsageError("serve: --no-token and a token (--token or HYPER_SERVE_TOKEN) contradict",
                         fix="give one of them")
    if not is_loopback(address):
        if no_token or token is None:
            raise UsageError(f"serve --address {address}: anyone who can reach {address} could drive "
                             "the app and submit jobs as you",
                             fix=f"set a token (--token or {TOKEN_ENV}), or serve on 127.0.0.1 "
                                 "and reach it through an ssh tunnel")
    if token is None and not no_token:
        token = secrets.token_urlsafe(24)
    if public_url is None:
        shown = address
        if address in ("0.0.0.0", "::"):
            import socket

            shown = socket.getfqdn()
        elif ":" in address:
            shown = f"[{address}]"
        public_url = f"http://{shown}:{port}"
    public_url = public_url.rstrip("/")
    if urlsplit(public_url).scheme not in ("http", "https"):
        raise UsageError(f"serve --public-url {public_url}: give an http:// or https:// address")
    return ServeOptions(address, port, None if no_token else token, public_url, host, theme)


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def origin_matches(origin: str | None, public_url: str, host_header: str | None) -> bool:
    """The websocket's Origin is the page we served: the public URL's, or (behind a tunnel or a
    proxy that keeps the Host header) the one the request came to."""
    if not origin:
        return False
    got = urlsplit(origin)
    want = urlsplit(public_url)
    if (got.scheme, got.netloc) == (want.scheme, want.netloc):
        return True
    return host_header is not None and got.netloc == host_header


def host_allowed(host_header: str | None, opts: ServeOptions) -> bool:
    """Without a token: the request names this server (not a rebound foreign name)."""
    names = {urlsplit(opts.public_url).netloc}
    names.update(f"{h}:{opts.port}" for h in ("127.0.0.1", "localhost", "[::1]"))
    return host_header in names


def app_command(host: str | None, theme: str | None) -> str:
    """The shell command textual-serve runs for each browser tab."""
    words = [sys.executable, "-m", "hyper_tui.serve", "--child"]
    if host:
        words += ["--host", host]
    if theme:
        words += ["--theme", theme]
    return " ".join(shlex.quote(w) for w in words)


def browser_url(opts: ServeOptions) -> str:
    return f"{opts.public_url}/" + (f"?{urlencode({'token': opts.token})}" if opts.token else "")


# --------------------------------------------------------------------------------------------
# The server


def make_server(opts: ServeOptions) -> Any:
    """A textual-serve ``Server`` with the token and origin checks in front of every route."""
    from aiohttp import web
    from textual_serve.server import Server

    forbidden_text = ("hyper-tui serve: this address needs its token; open the address printed "
                      "by hyper-tui serve (it ends in ?token=...)")

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if opts.token is not None:
            in_query = request.query.get("token")
            if in_query is not None:
                if not token_matches(in_query, opts.token):
                    raise web.HTTPForbidden(text=forbidden_text)
                if request.path == "/":
                    # Trade the token in the address for a cookie; keep the other parameters.
                    rest = {k: v for k, v in request.query.items() if k != "token"}
                    reply = web.HTTPSeeOther("/" + (f"?{urlencode(rest)}" if rest else ""))
                    reply.set_cookie(COOKIE, opts.token, httponly=True, samesite="Strict", path="/",
                                     secure=opts.public_url.startswith("https:"))
                    raise reply
            elif not token_matches(request.cookies.get(COOKIE), opts.token):
                raise web.HTTPForbidden(text=forbidden_text)
        elif not host_allowed(request.headers.get("Host"), opts):
            raise web.HTTPForbidden(text="hyper-tui serve: open it as 127.0.0.1 or localhost")
        if request.path == "/ws" and not origin_matches(request.headers.get("Origin"),
                                                        opts.public_url, request.headers.get("Host")):
            raise web.HTTPForbidden(text="hyper-tui serve: the websocket is for the page served here")
        response = await handler(request)
        return response

    class HyperServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

        async def on_startup(self, app: web.Application) -> None:
            self.console.print(f"hyper-tui serve: open [bold]{browser_url(opts)}[/bold]", highlight=False)
            if opts.token is None:
                self.console.print("no token: every user of this machine can open it", style="yellow")
            elif not is_loopback(opts.address) and not opts.public_url.startswith("https:"):
                self.console.print("plain http: the token crosses the network readable; prefer an ssh "
                                   "tunnel or a TLS proxy (--public-url https://...)", style="yellow")
            self.console.print("Ctrl+C stops the server and the apps it started")

    return HyperServer(app_command(opts.host, opts.theme), host=opts.address, port=opts.port,
                       title="hyper-tui", public_url=opts.public_url)


def serve(opts: ServeOptions) -> int:
    server = make_server(opts)
    try:
        server.serve()
    except OSError as err:
        raise UnavailableError(f"serve: cannot listen on {opts.address}:{opts.port} ({err.strerror})",
                               fix="pick another --port, or stop what uses it") from None
    return 0


# --------------------------------------------------------------------------------------------
# The command line


def register(sub: argparse._SubParsersAction, parser_cls: type) -> None:
    p = sub.add_parser(
        "serve", help="serve the full-screen app to a web browser",
        description="Serve the full-screen app to a web browser (textual-serve).\n"
                    "Listens on 127.0.0.1; another --address needs a token. A random token is made\n"
                    f"unless --token or {TOKEN_ENV} gives one: open the printed address, which\n"
                    "carries it. Each browser tab runs its own app.")
    p.add_argument("--address", default=DEFAULT_ADDRESS,
                   help="address to listen on (default 127.0.0.1; another one needs a token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8000)")
    p.add_argument("--token", default=None,
                   help=f"the token every request must carry (or set {TOKEN_ENV}, which ps does not show)")
    p.add_argument("--no-token", action="store_true",
                   help="no token at all (127.0.0.1 only; every user of this machine can connect)")
    p.add_argument("--public-url", default=None,
                   help="the address browsers open, when it differs (a proxy or a tunnel)")
    p.add_argument("--theme", default=None, help="theme of the app")
    p.set_defaults(func=cmd_serve)


def cmd_serve(ctx: Any, args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    opts = resolve_options(args.address, args.port, token, no_token=args.no_token,
                           public_url=args.public_url, host=ctx.host_name, theme=args.theme)
    # The apps are started with this process's environment: the token stays here.
    os.environ.pop(TOKEN_ENV, None)
    return serve(opts)


def _child(argv: list[str]) -> int:
    """One browser tab's app (textual-serve gives it a web driver instead of a terminal)."""
    p = argparse.ArgumentParser(prog="hyper_tui.serve --child")
    p.add_argument("--child", action="store_true")
    p.add_argument("--host", default=None)
    p.add_argument("--theme", default=None)
    args = p.parse_args(argv)
    from hyper_tui.app import run_app

    return run_app(host=args.host, theme=args.theme)


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
