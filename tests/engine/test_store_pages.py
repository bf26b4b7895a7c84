"""What a job's transaction writes: the pages of the store it changes, each one frame of the
WAL (and a copy at the next checkpoint). The indexes that hold a job's state end in ``id DESC``,
so that the three places a stream of jobs changes in each (leaving QUEUED at its lowest id,
entering RUNNING and SUCCEEDED with its highest) are the edges of neighbouring ranges, most
often one page. The claim still takes the highest priority first, then the lowest id."""

from __future__ import annotations

import os
import time

from hyper_tui.agent.loop import Result
from hyper_tui.core.jobs import ArraySpec, Submission

FRAME = 4096 + 24  # a WAL frame: its header and one page


def _client():
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient

    registry.resolve(None)  # first use: creates the local host
    return LocalHostClient("local", start_daemon=False)


def _frames_per_job(c, w, jobs: int) -> float:
    """Run ``jobs`` jobs through the transport as an agent does (no processes: each ends at
    once with exit 0) and return the WAL frames their transactions wrote, a job on average."""
    wal = str(c.store.path) + "-wal"
    c.store.one("PRAGMA wal_checkpoint(TRUNCATE)")
    assert os.path.getsize(wal) == 0
    done = 0
    finished = None
    while done < jobs:
        claims, started = w.reserve_and_start(8, finished)
        assert started
        for i, claim in enumerate(claims):
            if i:
                assert w.start(claim, finished)
            now = time.time()
            finished = Result(claim, "exit", 0, now, now)
            done += 1
    w.report(finished)
    return os.path.getsize(wal) / FRAME / jobs


def test_a_job_transaction_writes_fewer_than_ten_pages(home):
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    c.submit([Submission("default", "default", "s", argv=["true"], array=ArraySpec(1, 3000))])
    w = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    _frames_per_job(c, w, 200)  # past the first pages of each index
    per_job = _frames_per_job(c, w, 400)
    # 8.8 here; with ascending indexes 10.0, and 11.0 with attempts' rowid besides.
    assert per_job <= 9.5, per_job
    assert c.count_jobs()["SUCCEEDED"] == 600


def test_the_claim_takes_the_highest_priority_then_the_lowest_id(home):
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    refs = [c.submit([Submission("default", "default", f"p{p}", argv=["true"], priority=p)])[0]
            for p in (0, 10, 5, 10, 0, 5)]
    w = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    order = []
    while True:
        claims = w.reserve(1)
        if not claims:
            break
        order.append(claims[0].job_id)
        assert w.start(claims[0])
    assert order == [refs[1], refs[3], refs[2], refs[5], refs[0], refs[4]]
    plan = " ".join(str(r) for r in c.store.read(
        "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE state='QUEUED' AND queue='default' AND "
        "definition='default' ORDER BY priority DESC, id LIMIT 8"))
    assert "jobs_claim" in plan and "TEMP B-TREE" not in plan, plan  # the index, read backwards
