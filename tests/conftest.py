"""Shared fixtures: every test runs in its own HYPER_HOME; daemons are stopped afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config) -> None:
    """A test that forgets the ``home`` fixture must still never touch the user's own hosts:
    the XDG directories (where hyper-tui lives without HYPER_HOME) point into a temp dir."""
    import tempfile

    base = tempfile.mkdtemp(prefix="hyper-tests-xdg-")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = os.path.join(base, var.lower())


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An isolated HYPER_HOME; any local daemon started in it is stopped at teardown."""
    h = tmp_path / "home"
    monkeypatch.setenv("HYPER_HOME", str(h))
    monkeypatch.delenv("HYPER_HOST", raising=False)
    yield h
    _stop_all_daemons(h)


def _stop_all_daemons(h: Path) -> None:
    from hyper_tui.local.daemon_control import stop_daemon

    hosts = h / "data" / "hosts"
    if hosts.is_dir():
        for d in hosts.iterdir():
            stop_daemon(d.name, timeout=15)


def run_cli(*args: str, input: str | None = None, env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m hyper_tui.cli.main ARGS`` (or a q-command when args[0] is one)."""
    if args and args[0] in ("qsub", "qstat", "qdel", "qlog", "qrls"):
        cmd = [sys.executable, "-m", f"hyper_tui.qcmd.{args[0]}", *args[1:]]
    else:
        cmd = [sys.executable, "-m", "hyper_tui.cli.main", *args]
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(cmd, input=input, capture_output=True, text=True, env=full_env,
                          timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
