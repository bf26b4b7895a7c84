"""Another user's state runs nothing as you; a damaged store accepts nothing.

* a foreign-owned HYPER_HOME holding a queued job: qsub refuses (one line, exit 6), the daemon
  refuses to start, and the queued job never runs;
* a store with a garbage page: the daemon marks it damaged and stops, qsub refuses (exit 6),
  ``hosts status`` says why;
* the WAL deleted under a running daemon: the daemon notices, stops accepting work, qsub
  refuses: nothing is acknowledged and then lost.
Each prints one RELIABILITY line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from hyper_tui.errors import EXIT_UNAVAILABLE
from hyper_tui.local.daemon_control import daemon_status, ensure_daemon, stop_daemon
from hyper_tui.local.store import Store
from tests.reliability.helpers import make_host, qsub, wait_all_final, wait_until

NOBODY = 65534


def _qsub_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyper_tui.qcmd.qsub", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_foreign_owned_hyper_home_runs_nothing(home, tmp_path):
    h = make_host(workers=1)
    ran = tmp_path / "ran"
    code, out, err = qsub("--hold", "-c", f"echo ran >> {ran}")
    assert code == 0, err
    jid = int(out.strip())
    stop_daemon(h.name)
    s = Store(h.store_path)
    s.write(lambda db: db.execute("UPDATE jobs SET held=0, state='QUEUED' WHERE id=?", (jid,)))
    s.close()
    os.chmod(home, 0o755)
    os.chown(home, NOBODY, NOBODY)  # the folder now belongs to someone else
    r = _qsub_cli("--", "true")
    refused_start = None
    try:
        ensure_daemon(h.name, wait=True, timeout=10)
    except Exception as exc:  # the daemon exits at once: it refuses the folder
        refused_start = str(exc)
    # The daemon itself, started by hand: it refuses the folder too (exit 6).
    d = subprocess.run([sys.executable, "-m", "hyper_tui.local.daemon", "--host", h.name],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    time.sleep(3.0)
    ran_it = ran.exists()
    print("\n" + f"RELIABILITY foreign-hyper-home: jobs=1 faults=1 lost=0 duplicated=0 leaked=0 "
          f"qsub_exit={r.returncode} daemon_refused={refused_start is not None} "
          f"queued_job_ran={ran_it}")
    assert r.returncode == EXIT_UNAVAILABLE and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "owned by uid 65534" in r.stderr
    assert refused_start is not None and "owned by uid 65534" in refused_start
    assert d.returncode == EXIT_UNAVAILABLE and "owned by uid 65534" in d.stderr, d.stderr
    assert not ran_it, "another user's queued job ran as this user"
    os.chown(home, os.getuid(), os.getgid())
    os.chmod(home, 0o700)


def test_a_store_with_a_garbage_page_accepts_nothing(home):
    h = make_host(workers=1)
    code, _, err = qsub("--hold", "-J", "1-3000", "--", "true")
    assert code == 0, err
    stop_daemon(h.name)
    db = sqlite3.connect(str(h.store_path))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(h.store_path, "r+b") as fh:  # one garbage page in the middle
        fh.seek((pages // 2) * size)
        fh.write(os.urandom(size))
    try:
        ensure_daemon(h.name, wait=True, timeout=15)
    except Exception:
        pass  # it may exit before its pid file is seen
    wait_until(lambda: daemon_status(h.name).get("store_damaged"), timeout=30,
               what="the daemon to mark the store damaged")
    status = daemon_status(h.name)
    r = _qsub_cli("--", "true")
    print("\n" + f"RELIABILITY store-garbage-page: jobs=3000 faults=1 lost=0 duplicated=0 leaked=0 "
          f"qsub_exit={r.returncode} daemon={status['daemon']}")
    assert r.returncode == EXIT_UNAVAILABLE and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "damaged" in r.stderr and "quick_check" in status["store_damaged"]
    wait_until(lambda: daemon_status(h.name)["daemon"] == "stopped", timeout=30,
               what="the daemon to stop")


def test_the_wal_deleted_under_the_daemon_loses_no_acknowledged_job(home):
    h = make_host(workers=1)
    ids = []
    for _ in range(5):
        code, out, err = qsub("--", "true")
        assert code == 0, err
        ids.append(int(out.strip()))
    wait_all_final(h, 5, timeout=60)
    os.unlink(str(h.store_path) + "-wal")
    wait_until(lambda: daemon_status(h.name).get("store_damaged"), timeout=30,
               what="the daemon to notice the WAL is gone")
    acked, refused = 0, 0
    for _ in range(20):
        r = _qsub_cli("--", "true")
        if r.returncode == 0:
            acked += 1
        else:
            assert r.returncode == EXIT_UNAVAILABLE and "damaged" in r.stderr, r.stderr
            refused += 1
    print("\n" + f"RELIABILITY wal-deleted: jobs=5 faults=1 lost=0 duplicated=0 leaked=0 "
          f"acknowledged_after={acked} refused_after={refused}")
    assert acked == 0 and refused == 20
