"""Fixtures of the TUI tests: a live local host (real daemon) and a frozen store for snapshots."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FIXED_NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC: the frozen clock of the snapshots


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests in a fresh event loop (no asyncio plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


async def settle(pilot, until: Callable[[], bool] | None = None, timeout: float = 20.0) -> None:
    """Without ``until``: let every worker and message finish. With it: poll until it holds
    (or fail, naming the screen and the notifications)."""
    app = pilot.app
    end = time.monotonic() + timeout
    while True:
        await pilot.pause()
        if until is None:
            await app.workers.wait_for_complete()
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
        elif until():
            return
        if time.monotonic() > end:
            notes = [n.message for n in app._notifications]
            raise AssertionError(f"timed out waiting for the app; screen {app.screen!r}, "
                                 f"notifications {notes}")
        await pilot.pause(0.03)


def no_blink(app) -> None:
    from textual.widgets import Input, TextArea

    for screen in app.screen_stack:
        for w in screen.query(Input):
            w.cursor_blink = False
        for w in screen.query(TextArea):
            w.cursor_blink = False


@pytest.fixture
def live_home(home: Path) -> Path:
    """A HYPER_HOME with the default local host ``local`` (its daemon starts on submit)."""
    from hyper_tui.hosts import registry

    registry.resolve(None)
    yield home
    from hyper_tui.local.daemon_control import stop_daemon

    stop_daemon("local", timeout=15)


def _build_snapshot_store() -> None:
    """Resources and jobs with fixed times; no daemon ever runs here."""
    from hyper_tui import config
    from hyper_tui.core.jobs import ArraySpec, Submission
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient
    from hyper_tui.model import Cluster, Definition, Image, Queue, Region

    registry.resolve(None)
    cfg = config.load("local")
    cfg.clusters["default"] = Cluster(name="default", max_vcpus=8, compute_envs=1)
    cfg.clusters["big"] = Cluster(name="big", max_vcpus=256, type="ON_DEMAND", compute_envs=2,
                                  instance_types=["c6i.large", "m6i.xlarge"])
    cfg.regions["gpu-pool"] = Region(name="gpu-pool", worker_slots=4)
    cfg.queues["fast"] = Queue(name="fast", cluster="big", weights={"local": 3, "gpu-pool": 1},
                               max_running=50)
    cfg.images["base"] = Image(name="base", directory="./images/base", build_args={"PY": "3.12"})
    cfg.definitions["py"] = Definition(name="py", image="base", vcpus=2, memory_mib=4096,
                                       jobs_to_workers_ratio=10, retries=3)
    client = LocalHostClient("local", start_daemon=False)
    client.save_config(cfg)
    client.submit([Submission(queue="default", definition="default", name="render", command="echo hi",
                              array=ArraySpec(1, 30))])
    for i, name in enumerate(("align", "train", "score", "report", "merge", "plot")):
        client.submit([Submission(queue="fast" if i % 2 else "default", definition="py" if i % 3 else "default",
                                  name=name, command=f"echo {name}")])
    client.submit([Submission(queue="fast", definition="py", name="nightly", command="echo later",
                              hold=True)])

    def freeze(db):
        db.execute("UPDATE jobs SET submitted=?", (FIXED_NOW - 600,))
        db.execute("UPDATE jobs SET user=CASE WHEN name IN ('train', 'nightly') THEN 'bob' "
                   "ELSE 'alice' END")  # who submitted: the same on every machine
        db.execute("UPDATE jobs SET state='SUCCEEDED', attempts=1, started=?, ended=?, exit_code=0, "
                   "worker='w-3f2a9c01', reason=NULL WHERE array_id IS NOT NULL AND idx <= 12",
                   (FIXED_NOW - 500, FIXED_NOW - 488))
        db.execute("UPDATE jobs SET state='RUNNING', attempts=1, started=?, worker='w-3f2a9c01' "
                   "WHERE array_id IS NOT NULL AND idx BETWEEN 13 AND 16", (FIXED_NOW - 75,))
        db.execute("UPDATE jobs SET state='FAILED', attempts=3, started=?, ended=?, exit_code=2, "
                   "worker='w-77d0e412', reason='exit code 2 (attempt 3 of 3)' WHERE name='score'",
                   (FIXED_NOW - 300, FIXED_NOW - 290))
        db.execute("UPDATE jobs SET state='CANCELLED', ended=?, reason='cancelled by qdel (was QUEUED)' "
                   "WHERE name='plot'", (FIXED_NOW - 100,))
        db.execute("UPDATE jobs SET reason='waiting for a worker (2 of 8 vCPUs free)' WHERE state='QUEUED'")
        score = db.execute("SELECT id FROM jobs WHERE name='score'").fetchone()[0]
        for a in (1, 2, 3):
            db.execute("INSERT INTO attempts VALUES (?,?,?,?,?,?,?)",
                       (score, a, "w-77d0e412", FIXED_NOW - 400 + a * 30, FIXED_NOW - 395 + a * 30, 2,
                        "failed"))
        db.execute("UPDATE resources SET log='2025-06-15 15:00:00 applied (local host: nothing to "
                   "provision)\n', updated=?", (FIXED_NOW - 3600,))
        rows = []
        for k in range(0, 300):
            ts = FIXED_NOW - 600 + k * 2
            wave = (k % 60) / 60
            rows += [(ts, "submitted_per_s", "", 40 * wave), (ts, "finished_per_s", "default", 35 * wave),
                     (ts, "finished_per_s", "fast", 10 * (1 - wave)), (ts, "workers", "local", 2 + k // 60),
                     (ts, "vcpus", "local", 2 * (2 + k // 60)), (ts, "backlog", "default", 300 - k),
                     (ts, "jobs_running", "default", 4)]
        db.executemany("INSERT INTO metrics VALUES (?,?,?,?)", rows)

    client.store.write(freeze)
    client.close()


@pytest.fixture(scope="module")
def snap_home(tmp_path_factory) -> Path:
    """A HYPER_HOME with fixed resources, jobs in every state and metrics, in UTC."""
    home = tmp_path_factory.mktemp("snap") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("HYPER_HOME", str(home))
    mp.delenv("HYPER_HOST", raising=False)
    mp.setenv("TZ", "UTC")
    time.tzset()
    _build_snapshot_store()
    yield home
    mp.undo()
    time.tzset()
    os.environ.get("HYPER_HOME")
