"""Scenario 2: kill -9 the daemon in the middle of a run, and with it one worker (dead) while
another hangs (SIGSTOP); restart the daemon with ``ensure_daemon``. The run completes with
the same guarantees as scenario 1; the dead and the hung worker's leases expire and their
jobs are requeued (attempts recorded as lost), and the hung worker is killed."""

from __future__ import annotations

import signal
import time

from hyper_tui.local.daemon_control import ensure_daemon
from tests.reliability.helpers import (
    alive,
    assert_no_leftovers,
    assert_succeeded_attempts_ran,
    audit,
    deadline_for,
    kill,
    make_host,
    qsub,
    scaled,
    state_counts,
    wait_all_final,
    wait_until,
)

JOB = ('echo "$HYPER_ARRAY_INDEX $HYPER_ATTEMPT" >> {ran}; '
       '[ $((HYPER_ARRAY_INDEX % 20)) -ne 0 ] || sleep 0.2; '
       # a few long first attempts after the first quarter: the workers the test kills and
       # hangs are surely inside a job then (a 0.2 s job may end before the signal lands)
       '[ "$HYPER_ATTEMPT" != 1 ] || [ $((HYPER_ARRAY_INDEX % {step})) -ne 0 ] || '
       '[ "$HYPER_ARRAY_INDEX" -le {lo} ] || [ "$HYPER_ARRAY_INDEX" -gt {hi} ] || sleep {hold}')
HOLD_S = 8


def test_kill_daemon_mid_run_and_restart(home, tmp_path):
    h = make_host(workers=4, lease=4.0)
    n = scaled(5000, minimum=50)
    ran = tmp_path / "ran"
    step, lo = max(1, n // 20), n // 4
    long_jobs = dict(step=step, lo=lo, hi=lo + 4 * step, hold=HOLD_S)
    code, out, err = qsub(*h.qsub_env_args(), "-r", "6", "-J", f"1-{n}", "-c",
                          JOB.format(ran=ran, **long_jobs))
    assert code == 0, err
    head = int(out.strip().removesuffix("[]"))
    t0 = time.monotonic()
    wait_until(lambda: sum(v for k, v in state_counts(h).items() if k == "SUCCEEDED") >= n // 4,
               timeout=deadline_for(n // 4), what="a quarter of the run")
    # Busy workers, each inside a long job: one will die with the daemon, one will hang.
    busy = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(h.rows(
        "SELECT DISTINCT w.id, w.pid FROM workers w JOIN jobs j ON j.worker = w.id "
        "WHERE j.state='RUNNING' AND w.pid IS NOT NULL AND j.attempts = 1 AND j.idx % ? = 0 "
        "AND j.idx > ? AND j.idx <= ? AND j.started > ?",
        (step, lo, lo + 4 * step, time.time() - HOLD_S / 2))), timeout=60,
        what="two workers inside long jobs")
    (dead_wid, dead_pid), (hung_wid, hung_pid) = busy[:2]
    daemon = h.daemon_pid()
    assert daemon
    kill(daemon, signal.SIGKILL)
    kill(dead_pid, signal.SIGKILL)
    kill(hung_pid, signal.SIGSTOP)
    wait_until(lambda: not alive(daemon) and h.daemon_pid() is None, timeout=30, what="the daemon to die")
    faults = 3
    try:
        # Without a daemon the other workers carry on; then it comes back.
        time.sleep(1.0)
        assert ensure_daemon(h.name, wait=True, timeout=60)
        counts = wait_all_final(h, n, timeout=deadline_for(n))
    finally:
        kill(hung_pid, signal.SIGCONT)  # in case the test failed before it was killed
    seconds = time.monotonic() - t0
    # The hung worker was killed once its lease expired; both workers' jobs were requeued.
    wait_until(lambda: not alive(hung_pid), timeout=30, what="the hung worker to be killed")
    lost_by = {w for (w,) in h.rows("SELECT DISTINCT worker FROM attempts WHERE outcome='lost'")}
    assert {dead_wid, hung_wid} <= lost_by, (dead_wid, hung_wid, lost_by)
    assert not h.rows("SELECT 1 FROM jobs WHERE worker IN (?, ?) AND state='RUNNING'", (dead_wid, hung_wid))
    a = audit(h, list(range(head, head + n)))
    print("\n" + a.line("kill-daemon", faults=faults, extra=f"seconds={seconds:.0f}"))
    assert a.lost == 0 and a.duplicated == 0, a.disagree[:10]
    assert not a.disagree, a.disagree[:10]
    assert_succeeded_attempts_ran(h, head, ran)
    assert counts["SUCCEEDED"] + counts["FAILED"] == n
    assert_no_leftovers(h)


def test_worker_hung_inside_a_write_transaction(home, tmp_path):
    """A worker that hangs (SIGSTOP) while it holds the store's write lock blocks every writer.
    The daemon must still notice the silent worker when its lease expires and kill it, which
    releases the lock; the run then completes."""
    from tests.reliability.helpers import holds_write_lock

    h = make_host(workers=4, lease=4.0)
    n = scaled(800, minimum=50)
    code, out, err = qsub(*h.qsub_env_args(), "-r", "6", "-J", f"1-{n}", "--", "true")
    assert code == 0, err
    shm = h.store_path.with_name("store.db-shm")
    caught = None
    end = time.monotonic() + 60
    while caught is None and time.monotonic() < end:
        for wid, pid in h.worker_pids().items():
            if not kill(pid, signal.SIGSTOP):
                continue
            time.sleep(0.002)
            if holds_write_lock(pid, shm):
                caught = (wid, pid)
                break
            kill(pid, signal.SIGCONT)
    assert caught, "could not catch a worker inside a write transaction"
    wid, pid = caught
    t0 = time.monotonic()
    try:
        wait_until(lambda: not alive(pid), timeout=60, what="the hung lock holder to be killed")
        freed = time.monotonic() - t0
        counts = wait_all_final(h, n, timeout=deadline_for(n))
    finally:
        kill(pid, signal.SIGCONT)
    a = audit(h)
    print("\n" + a.line("hung-lock-holder", faults=1, extra=f"lock_freed_after_s={freed:.1f}"))
    assert not a.disagree, a.disagree[:10]
    assert counts["SUCCEEDED"] == n
