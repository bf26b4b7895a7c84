"""Scenario: the store's WAL file deleted under a running daemon while submitters loop.

SQLite keeps writing to an unlinked ``-wal`` through the descriptors already open, and a
connection opened afterwards makes a new one and resets the shared index: commits then vanish
for everyone. So no ``qsub`` may be acknowledged whose write cannot survive:

* a store whose WAL is gone while its index is in use is refused at open (exit 6), before
  SQLite could reset anything;
* every write checks, inside its transaction, that its connection's WAL is still the file on
  disk (an inode and a link count: two system calls), and a submission checks again after its
  commit;
* the daemon, which still has the deleted file open, checkpoints its commits into the
  database file, marks the store damaged and stops.

Two submitters loop through the deletion (one in-process, a new store connection each call;
one running ``qsub`` processes). After the host is stopped and started again (the recovery an
operator does), every acknowledged job exists: lost = 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from hyper_tui.core.errors import EXIT_UNAVAILABLE
from hyper_tui.local.daemon_control import daemon_status, ensure_daemon, stop_daemon
from tests.conftest import ROOT
from tests.reliability.helpers import (
    assert_no_leftovers,
    make_host,
    pids_with_env,
    qsub,
    wait_all_final,
    wait_until,
)


def _results(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_wal_deleted_under_a_running_daemon_loses_no_acknowledged_job(home, tmp_path):
    h = make_host(workers=2, lease=4.0)
    # Workers with store connections open through the deletion: long jobs hold them.
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-4", "--", "sleep", "3")
    assert code == 0, err
    wait_until(lambda: h.rows("SELECT count(*) FROM jobs WHERE state='RUNNING'")[0][0] >= 1,
               timeout=60, what="a job running")
    stop = tmp_path / "stop"
    outs = [tmp_path / "inproc.jsonl", tmp_path / "cli.jsonl"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subs = [subprocess.Popen([sys.executable, "-m", "tests.reliability.loop_submitter",
                              "--marker", h.marker, "--stop", str(stop), "--out", str(o),
                              *(["--inproc"] if i == 0 else [])], env=env, cwd=str(ROOT),
                             stdin=subprocess.DEVNULL)
            for i, o in enumerate(outs)]
    try:
        wait_until(lambda: all(sum(r["code"] == 0 for r in _results(o)) >= 5 for o in outs),
                   timeout=120, what="both submitters acknowledged jobs")
        before = sum(len(_results(o)) for o in outs)
        os.unlink(f"{h.store_path}-wal")
        deleted_at = time.monotonic()
        # Keep submitting through the deletion and the daemon's reaction.
        wait_until(lambda: sum(len(_results(o)) for o in outs) >= before + 20
                   and time.monotonic() - deleted_at > 2.0, timeout=120,
                   what="submissions after the deletion")
    finally:
        stop.touch()
        for p in subs:
            p.wait(timeout=120)
    results = [r for o in outs for r in _results(o)]
    wait_until(lambda: (lambda s: s if s.get("store_damaged") else None)(daemon_status(h.name)),
               timeout=30, what="the daemon to mark the store damaged")
    wait_until(lambda: daemon_status(h.name)["daemon"] == "stopped", timeout=60,
               what="the damaged daemon to stop")
    # Recovery: every process of the host gone, then the host started again.
    stop_daemon(h.name)
    wait_until(lambda: not h.worker_pids() or not any(
        os.path.exists(f"/proc/{p}") for p in h.worker_pids().values()), timeout=60,
        what="the workers to exit")
    assert ensure_daemon(h.name, wait=True, timeout=60)
    wait_until(lambda: daemon_status(h.name).get("store_damaged") is None, timeout=30,
               what="the restarted daemon to find the store healthy")
    acked = [int(r["out"]) for r in results if r["code"] == 0]
    refused = [r for r in results if r["code"] != 0]
    bad = [r for r in refused if r["code"] != EXIT_UNAVAILABLE or "damaged" not in r["err"]
           or len(r["err"].splitlines()) != 1]
    have = {i for (i,) in h.rows("SELECT id FROM jobs")}
    lost = sorted(set(acked) - have)
    counts = wait_all_final(h, len(have), timeout=240)
    leaked = len(pids_with_env(h.marker))
    assert_no_leftovers(h)
    log = (h.data_dir / "daemon.log").read_text()
    saved = "its commits were saved into the database file" in log
    print(f"\nRELIABILITY wal-deleted-while-submitting: jobs={len(have)} faults=1 lost={len(lost)} "
          f"duplicated=0 leaked={leaked} acknowledged={len(acked)} refused={len(refused)} "
          f"integrity={h.rows('PRAGMA integrity_check')[0][0]} "
          f"daemon_saved_deleted_wal={saved} states={dict(sorted(counts.items()))}")
    assert not lost, f"acknowledged and lost: {lost[:20]}"
    assert saved, log[-2000:]  # the daemon checkpointed what only the deleted file held
    assert not bad, bad[:5]
    assert refused, "no submission was refused after the deletion"
    assert h.rows("PRAGMA integrity_check")[0][0] == "ok"
    # The host works again: a new job runs.
    code, out, err = qsub(*h.qsub_env_args(), "--", "true")
    assert code == 0, err
    wait_until(lambda: h.rows("SELECT state FROM jobs WHERE id=?", (int(out),))[0][0] == "SUCCEEDED",
               timeout=60, what="a job after the recovery")
