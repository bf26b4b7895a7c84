"""Per-job claims and reports on a real local host (daemon, workers, qsub, qdel): what a state
promises (DESIGN.md, "Jobs: what a state promises"), where it used to break: a job batched
behind a long one, a job cancelled while its worker had it reserved, a worker that dies."""

from __future__ import annotations

import signal
import time

from tests.reliability.helpers import audit, kill, make_host, qdel, qsub, wait_all_final, wait_until


def _state(h, jid: int) -> str:
    return h.rows("SELECT state FROM jobs WHERE id=?", (jid,))[0][0]


def test_finished_jobs_are_recorded_while_a_long_one_runs(home, tmp_path):
    """A job that exited is SUCCEEDED at once, never RUNNING behind a sleep; at most one job
    per worker is RUNNING; a qdel afterwards finds it finished."""
    h = make_host(workers=2)
    code, out, err = qsub(*h.qsub_env_args(), "--", "sleep", "8")
    assert code == 0, err
    long = int(out.strip())
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-40", "--", "true")
    assert code == 0, err
    head = int(out.strip().removesuffix("[]"))
    t0 = time.monotonic()
    most_running = 0

    def short_done() -> bool:
        nonlocal most_running
        most_running = max(most_running, len(h.rows("SELECT 1 FROM jobs WHERE state='RUNNING'")))
        return len(h.rows("SELECT 1 FROM jobs WHERE array_id=? AND state='SUCCEEDED'",
                          (head,))) == 40

    wait_until(short_done, timeout=60, what="the short jobs", interval=0.02)
    took = time.monotonic() - t0
    assert _state(h, long) == "RUNNING", took
    assert most_running <= 2, most_running  # RUNNING means a process runs: 2 workers
    code, out, _ = qdel(f"{head}[3]")
    assert ": already SUCCEEDED" in out, out
    qdel(str(long))
    wait_all_final(h, 41, timeout=60)
    a = audit(h)
    assert not a.disagree, a.disagree[:10]


def test_cancelled_reserved_jobs_never_run_and_a_dead_worker_costs_one_attempt(home, tmp_path):
    """Jobs qdel'd right after qsub, as workers reserve them, never run (no side effect); a
    worker killed with -9 loses only the attempt it was running (-r 0: FAILED), and the jobs
    it had finished or reserved are SUCCEEDED with one attempt."""
    h = make_host(workers=1, lease=3.0)
    marks = tmp_path / "ran"
    marks.mkdir()
    code, out, err = qsub(*h.qsub_env_args(), "-r", "0", "-J", "1-200", "-c",
                          f"sleep 0.01; touch {marks}/$HYPER_ARRAY_INDEX")
    assert code == 0, err
    head = int(out.strip().removesuffix("[]"))
    for idx in range(10, 200, 7):
        qdel(f"{head}[{idx}]")
    wait_all_final(h, 200, timeout=120)
    for _jid, idx, state, attempts in h.rows("SELECT id, idx, state, attempts FROM jobs "
                                            "WHERE array_id=?", (head,)):
        ran = (marks / str(idx)).exists()
        if state == "CANCELLED" and attempts == 0:
            assert not ran, f"task {idx} was cancelled before it started, yet it ran"
        if state == "SUCCEEDED":
            assert ran and attempts == 1, (idx, attempts)
    # A worker dies while running a job with short jobs behind it.
    code, out, err = qsub(*h.qsub_env_args(), "-r", "0", "--", "sleep", "30")
    assert code == 0, err
    victim = int(out.strip())
    code, out, err = qsub(*h.qsub_env_args(), "-r", "0", "-J", "1-20", "--", "true")
    assert code == 0, err
    behind = int(out.strip().removesuffix("[]"))
    wait_until(lambda: _state(h, victim) == "RUNNING", timeout=30, what="the long job running")
    worker = h.rows("SELECT worker FROM jobs WHERE id=?", (victim,))[0][0]
    pid = h.worker_pids().get(worker)
    assert pid and kill(pid, signal.SIGKILL)
    wait_all_final(h, 221, timeout=120)
    assert _state(h, victim) == "FAILED"
    rows = h.rows("SELECT state, attempts FROM jobs WHERE array_id=?", (behind,))
    assert rows and all(r == ("SUCCEEDED", 1) for r in rows), rows
    a = audit(h)
    assert not a.disagree, a.disagree[:10]
