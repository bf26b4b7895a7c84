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


# Fixtures worth making once per run, not once per xdist worker (pytest runs with -n 2
# --dist loadgroup, which spreads a module's tests over both workers and so makes a module
# fixture twice): every test that uses one gets an xdist group, so one worker runs them all.
# A synth of the example host takes a gigabyte and, on a loaded machine, half a minute.
ONE_WORKER_SESSION_FIXTURES = {"synthesized": "infra-synth"}   # fixture -> group
ONE_WORKER_MODULE_FIXTURES = {  # a fixture of this name defined in the test's module: its module
    "heat_by_workload",   # tests/aws/test_key_heat: five workloads of 10,000 jobs, a minute of CPU
    "hosts",              # tests/aws/test_bootstrap_policy: two synths
    "solo",               # tests/infra/test_variant_host: a synth
    "templates",          # tests/security/test_infra_security: a synth
    "wheel",              # tests/infra/test_worker_image: a wheel build
}


def one_worker_group(item) -> str | None:
    """The xdist group that keeps ``item`` with the other users of its expensive fixture."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    for name, group in ONE_WORKER_SESSION_FIXTURES.items():
        if name in info.names_closure:
            return group
    module = getattr(getattr(item, "module", None), "__name__", None)
    for name in ONE_WORKER_MODULE_FIXTURES & set(info.names_closure):
        defs = info.name2fixturedefs.get(name) or ()
        if defs and defs[-1].func.__module__ == module:
            return item.nodeid.split("::", 1)[0]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """The groups of :func:`one_worker_group`; a test with an ``xdist_group`` mark of its own
    keeps it. tryfirst: an xdist worker reads the marks in a hook of its own, registered after
    this file and so called before it otherwise."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            group = one_worker_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))


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


@pytest.fixture(autouse=True)
def _no_control_listener_outlives_its_test():
    """An aws worker's control-queue listener is a thread of its process (worker/transports/
    aws.py). Tests kill workers in-process (tests/aws/conftest.Killed) or drop them unclosed,
    where a real worker's death would end the thread; stop what is left at the end of each
    test, or it would poll a queue of a reset moto and write into a later test's stderr."""
    yield
    if "hyper_tui.agent.transports.aws" not in sys.modules:
        return
    import threading

    for thread in threading.enumerate():
        listener = getattr(getattr(thread, "_target", None), "__self__", None)
        if thread.name == "control-queue" and listener is not None:
            listener._stopped = True  # as the process's death would: no queue call
            listener._wake.set()
