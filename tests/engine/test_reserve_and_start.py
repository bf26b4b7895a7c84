"""The local transport's one-transaction-a-job path: ``reserve_and_start`` records the last
result, reserves jobs (they stay QUEUED) and starts the first, in one transaction; the claim
takes the rows it names (not a walk of every QUEUED job: the query plan is checked)."""

from __future__ import annotations

import time

from hyper_tui.agent.loop import Agent, AgentOptions, Result
from hyper_tui.core.jobs import ArraySpec, Submission


def _client():
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient

    registry.resolve(None)  # first use: creates the local host
    return LocalHostClient("local", start_daemon=False)


def _states(store, head: int) -> dict[int, tuple[str, str | None, int]]:
    return {i: (s, w, a) for i, s, w, a in store.read(
        "SELECT idx, state, worker, attempts FROM jobs WHERE array_id=? ORDER BY idx", (head,))}


def test_one_transaction_records_reserves_and_starts(home):
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    [ref] = c.submit([Submission("default", "default", "a", argv=["true"],
                                 array=ArraySpec(1, 6))])
    head = int(ref[:-2])
    w = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    claims, started = w.reserve_and_start(3)
    assert started and [cl.job_id for cl in claims] == [f"{head}[1]", f"{head}[2]", f"{head}[3]"]
    st = _states(c.store, head)
    assert st[1] == ("RUNNING", "w-1", 1)
    assert st[2][:2] == st[3][:2] == ("QUEUED", "w-1")  # reserved, still QUEUED, no attempt
    assert st[4] == ("QUEUED", None, 0)
    assert not w.start(claims[0])  # started already: a second start changes nothing

    version = c.store.data_version()
    now = time.time()
    done = Result(claims[0], "exit", 0, now, now, "")
    w.release(claims[1:])
    more, started = w.reserve_and_start(2, done)
    assert c.store.data_version() == version + 1  # one commit for all of it
    assert started and [cl.job_id for cl in more] == [f"{head}[2]", f"{head}[3]"]
    st = _states(c.store, head)
    assert st[1][0] == "SUCCEEDED" and st[2] == ("RUNNING", "w-1", 1) and st[3][1] == "w-1"
    assert c.store.read("SELECT outcome FROM attempts WHERE job_id=?",
                        (int(claims[0].key),)) == [("succeeded",)]

    # Nothing left to reserve: the result is still recorded, nothing starts.
    w.release(more[1:])
    w2 = LocalTransport(c.store.path, worker_id="w-2", queue="default", definition="default")
    taken = w2.reserve(10)
    assert len(taken) == 4
    now = time.time()
    none, started = w.reserve_and_start(4, Result(more[0], "exit", 0, now, now, ""))
    assert none == [] and not started
    assert _states(c.store, head)[2][0] == "SUCCEEDED"


def test_a_job_cancelled_while_reserved_never_starts_with_the_reservation(home):
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    ids = c.submit([Submission("default", "default", f"j{i}", argv=["true"]) for i in range(3)])
    c.cancel([ids[0]])
    w = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    claims, started = w.reserve_and_start(3)
    assert started and [cl.job_id for cl in claims] == ids[1:]  # the cancelled one: never
    assert c.get_job(ids[0]).state == "CANCELLED"
    assert c.get_job(ids[1]).state == "RUNNING"


def test_the_claim_updates_the_rows_it_names(home):
    """With thousands of QUEUED jobs and no statistics, SQLite would take the claim index
    (state first) for ``id IN (...) AND state='QUEUED'`` and walk every QUEUED job: 2.8 ms a
    reservation at 30,000 queued. ``+state`` keeps it on the row ids."""
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    c.submit([Submission("default", "default", "big", argv=["true"], array=ArraySpec(1, 3000))])
    w = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    seen: list[str] = []
    w.store.db.set_trace_callback(seen.append)
    assert len(w.reserve(8)) == 8
    w.store.db.set_trace_callback(None)
    [claim_sql] = [s for s in seen if s.startswith("UPDATE jobs SET worker=")]
    plan = " ".join(str(r) for r in c.store.read("EXPLAIN QUERY PLAN " + claim_sql))
    assert "PRIMARY KEY" in plan and "jobs_claim" not in plan, plan


def test_an_agent_runs_a_stream_in_one_transaction_a_job(home):
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    [ref] = c.submit([Submission("default", "default", "s", argv=["true"],
                                 array=ArraySpec(1, 40))])
    t = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    commits = []
    write = t.store.write
    t.store.write = lambda fn, **kw: commits.append(1) or write(fn, **kw)
    ran = Agent(t, AgentOptions(idle_timeout=0.0, max_jobs=40)).run()
    t.close()
    assert ran == 40 and c.count_jobs()["SUCCEEDED"] == 40
    # 40 transactions that start a job (the result before riding along), the first heartbeat,
    # the last result and the worker's goodbye: not one more per reservation (there were 8
    # reservations and 6 results recorded alone before, 56 in all).
    assert len(commits) <= 40 + 3, len(commits)


def test_reservations_hold_at_most_a_short_while_of_work(home):
    """Short jobs are reserved about ``RESERVE_AHEAD_S`` (25 ms) of work ahead, never more
    than ``max_batch``: a job of higher priority submitted meanwhile waits at most that long
    behind them. 10 ms jobs: two at a time at most; `true`: up to 32."""
    from hyper_tui.agent.loop import RESERVE_AHEAD_S
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    c.submit([Submission("default", "default", "s", argv=["sleep", "0.01"],
                         array=ArraySpec(1, 12))])
    c.submit([Submission("default", "default", "t", argv=["true"], array=ArraySpec(1, 120))])
    t = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    sizes: list[tuple[int, int]] = []  # (jobs asked for, jobs done before)
    agent = Agent(t, AgentOptions(idle_timeout=0.0))
    reserve = t.reserve_and_start
    t.reserve_and_start = lambda n, finished=None: sizes.append((n, agent.jobs_done)) or reserve(
        n, finished)
    assert agent.run() == 132
    t.close()
    assert RESERVE_AHEAD_S == 0.025 and agent.o.max_batch == 32
    sleeps = [n for n, done in sizes if done < 12]
    assert sleeps and max(sleeps) <= 2, sizes  # 25 ms / 10 ms or more a job
    assert max(n for n, _ in sizes) <= 32, sizes


def test_a_release_under_a_held_write_lock_gives_up_at_once_and_the_leases_stay(home):
    """A running job hands its reservations back from the loop that supervises it: with the
    write lock held elsewhere, the release gives up within a moment (the leases then lapse by
    themselves) instead of stalling that loop; once the lock is free it goes through."""
    import sqlite3

    import pytest

    from hyper_tui.agent.transports.local import BACKGROUND_WAIT_S, LocalTransport
    from hyper_tui.core.errors import UnavailableError

    c = _client()
    [ref] = c.submit([Submission("default", "default", "a", argv=["true"],
                                 array=ArraySpec(1, 4))])
    head = int(ref[:-2])
    w = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    claims = w.reserve(3)
    holder = sqlite3.connect(c.store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    t0 = time.monotonic()
    with pytest.raises(UnavailableError):
        w.release(claims)
    assert time.monotonic() - t0 < BACKGROUND_WAIT_S + 0.5
    holder.execute("ROLLBACK")
    holder.close()
    assert [v[1] for v in _states(c.store, head).values()] == ["w-1"] * 3 + [None]
    w.release(claims)
    assert [v[1] for v in _states(c.store, head).values()] == [None] * 4
