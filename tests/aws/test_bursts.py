"""Bursts spread over every idle worker within one scaler pass (issue 14, deliverable 5): the
message sizing (``schema.ids_per_message``, used by every send: ``outbox.enqueue_or_fail``)
and the launch rule (``core.scaling.decide``: one new worker per visible message at most),
driven by a simulation of the workers on a virtual clock (no 30 s sleeps).

The simulated worker is the aws transport's rules: one job at a time, it receives one message
(all its ids reserved), runs them in turn, and hands the unstarted ones back, one a message,
once a job has run ``HANDBACK_AFTER_S``. One sent message of the real send is checked too."""

from __future__ import annotations

import heapq
import json

from hyper_tui.agent.transports.aws import HANDBACK_AFTER_S
from hyper_tui.aws import schema
from hyper_tui.core.jobs import Submission
from hyper_tui.core.scaling import PairObservation, decide
from tests.aws.conftest import make_aws_host
from tests.aws.test_aws_scaler import pair


def simulate(messages: list[list[str]], workers: int, job_s: float) -> float:
    """When the last job ends, ``workers`` idle workers taking ``messages`` at t=0."""
    queue = [list(m) for m in messages]          # visible messages, FIFO
    events: list[tuple[float, int, str, int]] = []  # (time, seq, kind, worker)
    held: dict[int, list[str]] = {}               # worker -> unstarted ids of its message
    seq = 0
    end = 0.0

    def take(w: int, now: float) -> None:
        nonlocal seq
        if held.get(w):
            held[w].pop(0)
        elif queue:
            held[w] = queue.pop(0)
            held[w].pop(0)
        else:
            return
        seq += 1
        heapq.heappush(events, (now + job_s, seq, "done", w))
        if held[w]:
            seq += 1
            heapq.heappush(events, (now + HANDBACK_AFTER_S, seq, "handback", w))

    idle = list(range(workers))
    for w in idle:
        take(w, 0.0)
    while events:
        now, _, kind, w = heapq.heappop(events)
        if kind == "handback" and held.get(w):
            queue.extend([i] for i in held[w])  # one id a message
            held[w] = []
            for other in range(workers):  # idle workers long-poll: they take them now
                if not any(e[3] == other and e[2] == "done" for e in events):
                    take(other, now)
        elif kind == "done":
            end = max(end, now)
            take(w, now)
    return end


def messages_for(jobs: int, per_message: int) -> list[list[str]]:
    ids = [f"j{i}" for i in range(jobs)]
    return [ids[i:i + per_message] for i in range(0, jobs, per_message)]


def workers_launched(messages: int, jobs: int, ratio: float) -> int:
    [d] = decide([pair(ratio=ratio)], {("q", "d"): PairObservation(
        queued=jobs, visible_messages=messages)})
    return sum(x.count for x in d.launches)


def test_eight_30s_jobs_on_four_workers_take_60s_not_240s() -> None:
    per = schema.ids_per_message(8)
    assert per == 1
    msgs = messages_for(8, per)
    # One scaler pass launches 4 workers for the burst (ratio 2: 8 jobs, 4 workers)...
    assert workers_launched(len(msgs), 8, ratio=2) == 4
    # ...which run it in two rounds of 30 s.
    took = simulate(msgs, 4, 30.0)
    print(f"\n8 x 30 s jobs, {per} id(s) a message: 4 workers launched, done in {took:g} s")
    assert took == 60.0
    # Before: 10 ids a message, so one visible message, one worker launched: 240 s.
    old = messages_for(8, schema.IDS_PER_MESSAGE)
    assert workers_launched(len(old), 8, ratio=2) == 1
    assert simulate(old, 1, 30.0) == 240.0
    # And even with 4 workers already idle, one message of 8 ids waits for its handback.
    assert simulate(old, 4, 30.0) > 60.0


def test_big_sends_keep_ten_ids_a_message() -> None:
    assert [schema.ids_per_message(n) for n in (1, 64, 65, 128, 640, 100_000)] == [
        1, 1, 2, 2, 10, 10]


def test_a_submitted_burst_is_one_job_a_message(home) -> None:
    h = make_aws_host()
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN",
                                commands=["sleep 30"] * 8)])
    sqs = h.res.session.client("sqs")
    url = h.res.work_urls[("q1", "d1")]
    bodies = []
    for _ in range(10):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") or []
        bodies += [json.loads(m["Body"])["ids"] for m in got]
        if len(bodies) >= 8 or not got:
            break
    assert len(bodies) == 8 and all(len(b) == 1 for b in bodies)
