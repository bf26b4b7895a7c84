"""Emergency stop for a local host: cancel every job, stop every worker."""

from __future__ import annotations

from hyper_tui.local import jobs
from hyper_tui.local.apply import open_store
from hyper_tui.local.daemon_control import stop_daemon


def emergency_stop_local(host: str) -> dict:
    store = open_store(host)
    try:
        ids = [str(r[0]) for r in store.read(
            "SELECT id FROM jobs WHERE state IN ('PENDING','QUEUED','RUNNING')")]
        results = jobs.cancel(store, ids, why="cancelled by emergency-stop")
    finally:
        store.close()
    stopped = stop_daemon(host)
    return {"host": host, "jobs_cancelled": sum(r.outcome == "cancelled" for r in results),
            "daemon_stopped": stopped}
