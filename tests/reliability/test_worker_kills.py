"""Scenario 1: kill -9 random workers throughout a 5,000-job run (HYPER_RELIABILITY_SCALE
scales it). Every job ends in exactly one final state, none is lost, none has two succeeded
attempts, the job rows agree with the attempts table, and every attempt is counted."""

from __future__ import annotations

import random
import signal
import time

from tests.reliability.helpers import (
    assert_no_leftovers,
    assert_succeeded_attempts_ran,
    audit,
    deadline_for,
    kill,
    make_host,
    qsub,
    scaled,
    wait_all_final,
)

JOB = ('echo "$HYPER_ARRAY_INDEX $HYPER_ATTEMPT" >> {ran}; '
       '[ $((HYPER_ARRAY_INDEX % 20)) -ne 0 ] || sleep 0.2')


def test_kill_random_workers_during_a_run(home, tmp_path):
    h = make_host(workers=4, lease=4.0)
    n = scaled(5000, minimum=50)
    ran = tmp_path / "ran"
    code, out, err = qsub(*h.qsub_env_args(), "-r", "6", "-J", f"1-{n}", "-c", JOB.format(ran=ran))
    assert code == 0, err
    head = int(out.strip().removesuffix("[]"))
    rng = random.Random(1)
    kills: list[str] = []
    # One kill per 1/40 of the run (at a random point of it), so the faults follow the
    # progress and not the clock: a slow machine gets the same number, not more.
    step = max(1, n // 40)
    next_kill = rng.randint(1, step)

    def inject(counts) -> None:
        nonlocal next_kill
        if counts["SUCCEEDED"] + counts["FAILED"] < next_kill:
            return
        next_kill += step + rng.randint(-step // 2, step // 2)
        busy = h.rows("SELECT id, pid FROM workers WHERE pid IS NOT NULL AND state != 'LOST'")
        if busy:
            wid, pid = rng.choice(busy)
            if kill(pid, signal.SIGKILL):
                kills.append(wid)

    t0 = time.monotonic()
    counts = wait_all_final(h, n, timeout=deadline_for(n), on_tick=inject)
    seconds = time.monotonic() - t0
    ids = [jid for (jid,) in h.rows("SELECT id FROM jobs WHERE array_id=?", (head,))]
    a = audit(h, list(range(head, head + n)))
    print("\n" + a.line("kill-workers", faults=len(kills), extra=f"seconds={seconds:.0f}"))
    assert len(ids) == n
    assert a.lost == 0 and a.duplicated == 0, a.disagree[:10]
    assert not a.disagree, a.disagree[:10]
    assert len(kills) >= min(20, n // 100), f"too few faults injected ({len(kills)})"
    # Attempts of killed workers were counted and requeued.
    assert a.lost_attempts >= 1
    # Every job that SUCCEEDED really ran, in the attempt that is recorded as succeeded.
    assert_succeeded_attempts_ran(h, head, ran)
    assert counts["SUCCEEDED"] + counts["FAILED"] == n
    assert_no_leftovers(h)


def test_killed_worker_leaves_no_job_process(home, tmp_path):
    """kill -9 a worker whose job started children, one of them in its own session (setsid):
    the daemon kills all of them (the job is requeued and runs again)."""
    from tests.reliability.helpers import alive, pids_with_env, wait_until

    h = make_host(workers=1, lease=4.0)
    pids = tmp_path / "pids"
    code, out, err = qsub(*h.qsub_env_args(), "-r", "3", "-c",
                          f'if [ "$HYPER_ATTEMPT" = 1 ]; then sleep 300 & echo $! >> {pids}; '
                          f"setsid sh -c 'echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait' & "
                          "wait; fi; echo done")
    assert code == 0, err
    jid = int(out)
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) >= 3, timeout=60,
               what="the job's processes to start")
    (worker,) = h.rows("SELECT pid FROM workers WHERE id=(SELECT worker FROM jobs WHERE id=?)", (jid,))
    kill(worker[0], signal.SIGKILL)
    wait_all_final(h, 1, timeout=120)
    started = [int(p) for p in pids.read_text().split()]
    wait_until(lambda: not [p for p in started if alive(p)], timeout=30,
               what=f"the dead worker's job processes {started} to be killed")
    assert not pids_with_env(h.marker)
    a = audit(h, [jid])
    assert not a.disagree and a.lost_attempts == 1, a.disagree
    print("\n" + a.line("kill-worker-with-setsid-children", faults=1, extra=f"processes={len(started)}"))
