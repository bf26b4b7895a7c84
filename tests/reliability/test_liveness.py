"""Liveness that does not depend on the store, and pids that are never mistaken.

* an outside process holds the store's write lock for 12 s during a run: no healthy job dies;
* the whole host (daemon, workers, jobs) is SIGSTOPped for 3x the lease: every job succeeds;
* a recycled worker pid: the process now holding it is never signalled;
* a stale daemon.pid naming another host's daemon: stop-host does not stop it, jobs still run;
* kill -9 of the daemon, restart, stop-host: no worker of the old daemon is left running.
Each prints one RELIABILITY line."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

from hyper_tui.local import procs
from hyper_tui.local.daemon_control import ensure_daemon, stop_daemon
from tests.reliability.helpers import (
    alive,
    audit,
    kill,
    make_host,
    process_tree,
    submit,
    wait_all_final,
    wait_running,
    wait_until,
)


def _line(name: str, a, faults: int, leaked: int = 0, extra: str = "") -> str:
    return (f"RELIABILITY {name}: jobs={a.jobs} faults={faults} lost={a.lost} "
            f"duplicated={a.duplicated} leaked={leaked} states={dict(sorted(a.by_state.items()))}"
            + (f" {extra}" if extra else ""))


def test_write_lock_held_12s_kills_no_healthy_job(home):
    h = make_host(workers=2, lease=4.0)
    ids = [submit(h, "--", "sleep", "20") for _ in range(2)]
    wait_running(h, 2)
    time.sleep(1.0)
    db = sqlite3.connect(str(h.store_path), timeout=30, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    t0 = time.monotonic()
    time.sleep(12.0)
    db.execute("ROLLBACK")
    db.close()
    held = time.monotonic() - t0
    wait_all_final(h, 2, timeout=90)
    a = audit(h, ids)
    print("\n" + _line("write-lock-held-12s", a, faults=1, extra=f"held_s={held:.1f} lease_s=4"))
    assert h.rows("SELECT state FROM jobs ORDER BY id") == [("SUCCEEDED",)] * 2
    assert a.lost == 0 and a.duplicated == 0 and a.lost_attempts == 0


def test_whole_host_paused_three_leases(home):
    h = make_host(workers=2, lease=3.0)
    ids = [submit(h, "--", "sleep", "6") for _ in range(2)]
    wait_running(h, 2)
    daemon = h.daemon_pid()
    assert daemon
    everything = process_tree(daemon)
    for p in everything:
        kill(p, signal.SIGSTOP)
    time.sleep(9.0)  # 3x the lease
    for p in sorted(everything):  # the daemon first: it must not judge anyone on waking
        kill(p, signal.SIGCONT)
    wait_all_final(h, 2, timeout=90)
    a = audit(h, ids)
    print("\n" + _line("host-paused-3x-lease", a, faults=len(everything),
                       extra="paused_s=9 lease_s=3"))
    assert h.rows("SELECT state FROM jobs ORDER BY id") == [("SUCCEEDED",)] * 2
    assert a.lost == 0 and a.lost_attempts == 0


def test_a_recycled_worker_pid_is_never_killed(home):
    from hyper_tui.local.store import Store

    h = make_host(workers=1, lease=2.0)
    jid = submit(h, "--hold", "--", "true")
    assert stop_daemon(h.name)
    # A worker that died long ago; its pid now belongs to an unrelated process.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        old = time.time() - 120
        s = Store(h.store_path)
        s.write(lambda db: db.execute(
            "INSERT INTO workers (id, pid, region, queue, definition, vcpus, started, heartbeat, "
            "state) VALUES ('w-dead', ?, 'local', 'default', 'default', 1, ?, ?, 'BUSY')",
            (stranger.pid, old, old)))
        s.write(lambda db: db.execute("UPDATE jobs SET state='RUNNING', held=0, worker='w-dead', "
                                      "attempts=1, started=? WHERE id=?", (old, jid)))
        s.close()
        ensure_daemon(h.name, wait=True)
        wait_all_final(h, 1, timeout=60)
        time.sleep(1.0)
        survived = stranger.poll() is None
        a = audit(h, [jid], exact_attempts=False)
        print("\n" + _line("recycled-worker-pid", a, faults=1,
                           extra=f"stranger_signalled={not survived}"))
        assert survived, "the process holding a dead worker's recycled pid was killed"
        assert h.rows("SELECT state FROM jobs") == [("FAILED",)]  # -r 0: the lost attempt ends it
    finally:
        stranger.kill()
        stranger.wait()


def test_a_stale_pid_file_naming_another_hosts_daemon(home):
    h = make_host(workers=1)
    assert stop_daemon(h.name) in (True, False)
    # Another machine's daemon: same shared folder, a pid that here is some other daemon-like
    # process (started with the daemon's module name in its command line).
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                              "hyper_tui.local.daemon", "--host", h.name])
    try:
        real = procs.identity(other.pid)
        assert real is not None
        pid_file = h.data_dir / "daemon.pid"
        stopped = False
        # A pid file that names no host (as written before identities), then one that names
        # another machine with the right pid and start time: neither may stop that process.
        for text in (f"{other.pid}\n", f"{other.pid} {real.start} another-machine\n"):
            pid_file.write_text(text)
            stopped = stop_daemon(h.name, timeout=5) or stopped
            time.sleep(0.5)
        ids = [submit(h, "--", "true") for _ in range(3)]
        ensure_daemon(h.name, wait=True)
        wait_all_final(h, 3, timeout=60)
        a = audit(h, ids, exact_attempts=False)
        print("\n" + _line("stale-foreign-pid-file", a, faults=1,
                           extra=f"foreign_stopped={other.poll() is not None}"))
        assert not stopped and other.poll() is None, "stop-host stopped another host's daemon"
        assert [s for (s,) in h.rows("SELECT state FROM jobs WHERE id IN (?,?,?)", tuple(ids))] \
            == ["SUCCEEDED"] * 3
    finally:
        other.kill()
        other.wait()


def test_stop_host_after_a_daemon_crash_leaves_no_worker(home, tmp_path):
    h = make_host(workers=2, lease=4.0)
    ran = tmp_path / "ran"
    ids = [submit(h, "-c", f"echo $HYPER_JOB_ID >> {ran}; sleep 300") for _ in range(2)]
    wait_running(h, 2)
    old_workers = list(h.worker_pids().values())
    daemon = h.daemon_pid()
    kill(daemon, signal.SIGKILL)
    wait_until(lambda: not alive(daemon), timeout=30, what="the daemon to die")
    job_pids = [p for w in old_workers for p in process_tree(w) if p != w]
    assert ensure_daemon(h.name, wait=True, timeout=60)
    assert stop_daemon(h.name, timeout=40)
    end = time.monotonic() + 20  # stop-host has returned: at most the kill itself is pending
    while [p for p in old_workers + job_pids if alive(p)] and time.monotonic() < end:
        time.sleep(0.1)
    leaked = len([p for p in old_workers + job_pids if alive(p)])
    states = [s for (s,) in h.rows("SELECT state FROM jobs ORDER BY id")]
    a = audit(h, ids, exact_attempts=False)
    print("\n" + f"RELIABILITY daemon-kill9-restart-stop-host: jobs={a.jobs} faults=1 "
          f"lost={sum(1 for s in states if s not in ('QUEUED', 'SUCCEEDED'))} "
          f"duplicated={a.duplicated} leaked={leaked} states={states}")
    assert leaked == 0
    assert states == ["QUEUED", "QUEUED"]  # interrupted by the stop: requeued, retries kept


def test_a_held_write_lock_does_not_stall_a_running_jobs_timeout_or_output(home):
    """The worker supervising a job keeps enforcing its timeout and draining its output while
    another process holds the store's write lock: its heartbeats and log flushes (writes) wait
    a moment and try again later, instead of blocking its loop until the lock is free."""
    h = make_host(workers=1, lease=4.0)
    # A 2 s timeout, and output beyond a pipe's 64 KiB: a stalled loop would let it block.
    jid = submit(h, "--timeout", "2", "--", "sh", "-c",
                 "head -c 300000 /dev/zero | tr '\\0' x; echo; sleep 30")
    wait_running(h, 1)
    db = sqlite3.connect(str(h.store_path), timeout=30, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    time.sleep(8.0)
    db.execute("ROLLBACK")
    db.close()
    wait_all_final(h, 1, timeout=60)
    (state, reason, started, ended), = h.rows("SELECT state, reason, started, ended FROM jobs")
    print(f"\nRELIABILITY write-lock-held-8s-timeout-2s: state={state} ran_s={ended - started:.1f}")
    assert state == "FAILED" and reason == "timeout", (state, reason)
    assert ended - started < 4.0, ended - started  # killed on time, not after the lock
    assert jid
