"""``hyper-tui serve`` end to end: a real server, a real local host with jobs submitted by qsub,
and headless Chromium driven by Playwright (``serve_e2e.mjs``). Also the token and address
rules, over HTTP and at the command line.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and ``npm ci`` in this folder;
scripts/test.sh installs both. Without them the browser test is skipped locally and fails in CI.
The screenshot goes to a temporary folder; ``HYPER_UPDATE_SCREENSHOTS=1`` writes it to
screenshots/browser.png (the README's).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN = "e2e-token-0123456789abcdef"
JOBS = ("align-e2e", "train-e2e", "nightly-e2e")


def _missing_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is missing (npm ci in tests/browser)"
    if shutil.which("node") is None:
        return "node is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, cookie: str | None = None) -> int | None:
    """The status of a GET (redirects not followed); None when nothing listens."""
    req = urllib.request.Request(url)
    if cookie:
        req.add_header("Cookie", cookie)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as res:
            return res.status
    except urllib.error.HTTPError as err:
        return err.code
    except urllib.error.URLError:
        return None


def _ws_handshake(url: str, cookie: str, origin: str | None) -> int:
    """The status line's code of a websocket upgrade of ``url``/ws."""
    host, port = url.removeprefix("http://").split(":")
    lines = ["GET /ws HTTP/1.1", f"Host: {host}:{port}", "Connection: Upgrade", "Upgrade: websocket",
             "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             f"Cookie: {cookie}"] + ([f"Origin: {origin}"] if origin else [])
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(s.recv(4096).split(b" ", 2)[1])


@dataclass
class Served:
    url: str
    home: Path
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("serve") / "home"
    env = {**os.environ, "HYPER_HOME": str(home), "HYPER_SERVE_TOKEN": TOKEN, "TZ": "UTC"}
    env.pop("HYPER_HOST", None)
    # Real jobs on a real local host: one runs, two wait (held), so the table has every kind.
    subprocess.run([BIN / "qsub", "-N", JOBS[0], "-c", "echo aligned"], env=env, check=True,
                   capture_output=True, timeout=60)
    for name in JOBS[1:]:
        subprocess.run([BIN / "qsub", "-N", name, "--hold", "-c", "sleep 1"], env=env, check=True,
                       capture_output=True, timeout=60)
    port = _free_port()
    log = open(home.parent / "serve.log", "w+")  # a file, never a pipe that fills up
    proc = subprocess.Popen([BIN / "hyper-tui", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while _get(url + "/") != 403:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                log.seek(0)
                pytest.fail(f"hyper-tui serve did not start: {log.read()}")
            time.sleep(0.1)
        yield Served(url, home, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        _stop_daemon(home)


def _stop_daemon(home: Path) -> None:
    """The daemon the first qsub started in ``home``."""
    from hyper_tui.local.daemon_control import stop_daemon

    mp = pytest.MonkeyPatch()
    mp.setenv("HYPER_HOME", str(home))
    try:
        stop_daemon("local", timeout=15)
    finally:
        mp.undo()


def test_token_required_on_every_route(served: Served) -> None:
    u = served.url
    assert _get(u + "/") == 403
    assert _get(u + "/static/js/textual.js") == 403
    assert _get(u + "/ws") == 403
    assert _get(u + "/?token=wrong-token-0123456789") == 403
    assert _get(u + "/", cookie="hyper_serve_token=wrong-token-0123456789") == 403
    # The token in the address is traded for a cookie (303 to the same page without it).
    assert _get(u + f"/?token={TOKEN}") == 303
    assert _get(u + "/", cookie=f"hyper_serve_token={TOKEN}") == 200
    assert _get(u + "/static/js/textual.js", cookie=f"hyper_serve_token={TOKEN}") == 200


def test_websocket_needs_the_served_origin(served: Served) -> None:
    cookie = f"hyper_serve_token={TOKEN}"
    assert _ws_handshake(served.url, cookie, "http://evil.example") == 403
    assert _ws_handshake(served.url, cookie, None) == 403  # no Origin: not a page of ours
    assert _ws_handshake(served.url, "hyper_serve_token=wrong-token-0123456789", served.url) == 403
    assert _ws_handshake(served.url, cookie, served.url) == 101


def test_other_address_refused_without_token(tmp_path) -> None:
    env = {**os.environ, "HYPER_HOME": str(tmp_path / "home")}
    env.pop("HYPER_SERVE_TOKEN", None)
    res = subprocess.run([BIN / "hyper-tui", "serve", "--address", "0.0.0.0", "--port", str(_free_port())],
                         env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert "serve --address 0.0.0.0" in res.stderr and "token" in res.stderr
    assert res.stderr.count("\n") == 1
    res = subprocess.run([BIN / "hyper-tui", "serve", "--address", "0.0.0.0", "--no-token"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2


def test_browser_shows_real_jobs_and_keys_work(served: Served, tmp_path) -> None:
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI") or os.environ.get("HYPER_REQUIRE_BROWSER"):
            pytest.fail(missing)  # scripts/test.sh installs both: a skip there would hide a gap
        pytest.skip(missing)
    update = os.environ.get("HYPER_UPDATE_SCREENSHOTS")
    shot = ROOT / "screenshots" / "browser.png" if update else tmp_path / "browser.png"
    env = {**os.environ, "SERVE_URL": served.url, "SERVE_TOKEN": TOKEN, "EXPECT_JOBS": ",".join(JOBS),
           "KEY": "8", "EXPECT_AFTER_KEY": "refreshed every", "SCREENSHOT": str(shot),
           "CHROMIUM": CHROMIUM}
    res = subprocess.run(["node", str(HERE / "serve_e2e.mjs")], env=env, capture_output=True, text=True,
                         timeout=180, cwd=HERE)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["refused"] == {"no token": 403, "wrong token": 403, "static without token": 403}
    assert out["indexStatus"] == 200 and "token=" not in out["urlAfterLogin"]
    assert out["jobsSeen"] == list(JOBS)
    assert out["keyWorked"]
    assert shot.stat().st_size > 10_000
    print(f"BROWSER first byte {out['firstByteMs']} ms, jobs on screen {out['jobsShownMs']} ms")


def test_no_token_serves_only_this_machines_names(tmp_path) -> None:
    import http.client

    env = {**os.environ, "HYPER_HOME": str(tmp_path / "home")}
    env.pop("HYPER_SERVE_TOKEN", None)
    port = _free_port()
    proc = subprocess.Popen([BIN / "hyper-tui", "serve", "--no-token", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{port}/") is None and time.monotonic() < end:
            time.sleep(0.1)

        def status(host: str) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/", headers={"Host": host})
            return conn.getresponse().status

        assert status(f"127.0.0.1:{port}") == 200
        assert status(f"localhost:{port}") == 200
        assert status(f"rebound.example:{port}") == 403  # DNS rebinding gets nothing
    finally:
        proc.terminate()
        proc.wait(timeout=15)
