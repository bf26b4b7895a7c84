"""The rules of ``hyper-tui serve`` without a server: who may listen where, with which token,
and which pages may open the websocket."""

from __future__ import annotations

import shlex
import sys

import pytest

from hyper_tui.core.errors import UsageError
from hyper_tui.serve import (
    app_command,
    browser_url,
    host_allowed,
    is_loopback,
    origin_matches,
    resolve_options,
)

TOKEN = "0123456789abcdef-token"


def test_loopback_gets_a_random_token_unless_told_otherwise() -> None:
    a = resolve_options("127.0.0.1", 8000, None)
    b = resolve_options("127.0.0.1", 8000, None)
    assert a.token and b.token and a.token != b.token and len(a.token) >= 24
    assert browser_url(a) == f"http://127.0.0.1:8000/?token={a.token}"
    none = resolve_options("127.0.0.1", 8000, None, no_token=True)
    assert none.token is None and browser_url(none) == "http://127.0.0.1:8000/"
    assert resolve_options("::1", 8000, TOKEN).public_url == "http://[::1]:8000"


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_any_other_address_needs_a_token(address: str) -> None:
    assert not is_loopback(address)
    with pytest.raises(UsageError, match="set a token"):
        resolve_options(address, 8000, None)
    with pytest.raises(UsageError, match="set a token"):
        resolve_options(address, 8000, None, no_token=True)
    assert resolve_options(address, 8000, TOKEN).token == TOKEN


def test_bad_options_are_one_line_each() -> None:
    with pytest.raises(UsageError, match="at least 16 characters"):
        resolve_options("127.0.0.1", 8000, "short")
    with pytest.raises(UsageError, match="contradict"):
        resolve_options("127.0.0.1", 8000, TOKEN, no_token=True)
    with pytest.raises(UsageError, match="1-65535"):
        resolve_options("127.0.0.1", 0, TOKEN)
    with pytest.raises(UsageError, match="http:// or https://"):
        resolve_options("127.0.0.1", 8000, TOKEN, public_url="ftp://x")


def test_the_websocket_is_for_pages_of_this_server() -> None:
    url = "http://127.0.0.1:8000"
    assert origin_matches("http://127.0.0.1:8000", url, "127.0.0.1:8000")
    assert origin_matches("http://localhost:9000", url, "localhost:9000")  # through a tunnel
    assert not origin_matches("http://evil.example", url, "127.0.0.1:8000")
    assert not origin_matches("https://127.0.0.1:8000", url, "127.0.0.2:8000")
    assert not origin_matches(None, url, "127.0.0.1:8000")


def test_app_command_runs_this_python_with_the_host_and_theme() -> None:
    words = shlex.split(app_command("lab", "hyper-light"))
    assert words == [sys.executable, "-m", "hyper_tui.serve", "--child", "--host", "lab",
                     "--theme", "hyper-light"]
    assert shlex.split(app_command(None, None))[-1] == "--child"


def test_without_a_token_only_this_machines_names_are_served() -> None:
    opts = resolve_options("127.0.0.1", 8000, None, no_token=True)
    for ok in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert host_allowed(ok, opts)
    for bad in ("rebound.example:8000", "127.0.0.1:9000", None):
        assert not host_allowed(bad, opts)
