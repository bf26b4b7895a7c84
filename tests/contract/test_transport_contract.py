"""The worker transport contract, run against the local (SQLite) and the aws (SQS + DynamoDB)
transports alike: what the agent may rely on, whatever the backend."""

from __future__ import annotations

import threading
import time

from hyper_tui.agent.loop import Agent, AgentOptions, Result
from tests.conftest import wait_for


def ok(claim, code: int = 0, outcome: str = "exit", detail: str = "") -> Result:
    now = time.time()
    return Result(claim, outcome, code if outcome == "exit" else None, now, now, detail)


def take(t, n: int) -> list:
    """Reserve up to ``n`` jobs and start them all (what the agent does, one by one)."""
    return [c for c in t.reserve(n) if t.start(c)]


def report(t, results: list[Result]) -> None:
    for r in results:
        t.report(r)


def test_idle_claim_returns_nothing(harness) -> None:
    t = harness.transport("w-idle")
    t0 = time.monotonic()
    assert t.reserve(4) == []
    assert time.monotonic() - t0 < 5
    t.close()


def test_claims_are_exclusive(harness) -> None:
    keys = harness.submit(24)
    seen: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(wid: str) -> None:
        try:
            t = harness.transport(wid)
            empty = 0
            deadline = time.monotonic() + 60
            while empty < 3 and time.monotonic() < deadline:
                claims = take(t, 3)
                if not claims:
                    empty += 1
                    time.sleep(0.05)
                    continue
                empty = 0
                with lock:
                    seen.extend((c.key, c.attempt, wid) for c in claims)
                report(t, [ok(c) for c in claims])
            t.close()
        except BaseException as err:  # surfaced by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"w-{i}",)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    attempts = [(k, a) for k, a, _ in seen]
    assert len(attempts) == len(set(attempts)), "two workers held the same attempt"
    assert {k for k, _ in attempts} == set(keys)
    assert all(harness.job(k)["state"] == "SUCCEEDED" for k in keys)


def test_report_success_and_failure_only_for_the_held_attempt(harness) -> None:
    a, b = harness.submit(2)
    t = harness.transport("w-r")
    claims = {c.key: c for c in take(t, 2)}
    assert set(claims) == {a, b} and all(c.attempt == 1 for c in claims.values())
    assert harness.job(a)["state"] == "RUNNING" and harness.job(a)["worker"] == "w-r"
    report(t, [ok(claims[a], 0), ok(claims[b], 3)])
    assert harness.job(a)["state"] == "SUCCEEDED"
    jb = harness.job(b)
    assert jb["state"] == "FAILED" and jb["reason"] == "exit code 3"
    report(t, [ok(claims[b], 0)])  # a repeated report changes nothing
    assert harness.job(b)["state"] == "FAILED"
    t.close()


def test_cancel_is_visible_to_the_worker(harness) -> None:
    [k] = harness.submit(1)
    t = harness.transport("w-c")
    [c] = take(t, 1)
    assert t.is_cancelled(c) is False
    harness.cancel(k)
    assert wait_for(lambda: t.is_cancelled(c), timeout=5, what="cancel seen")
    report(t, [ok(c, outcome="cancelled", detail="process group sent SIGTERM")])
    assert harness.job(k)["state"] == "CANCELLED"
    t.close()


def test_interrupted_requeues_without_using_a_retry(harness) -> None:
    [k] = harness.submit(1, retries=0)
    t = harness.transport("w-i")
    [c] = take(t, 1)
    report(t, [ok(c, outcome="interrupted", detail="worker received SIGTERM")])
    j = harness.job(k)
    assert j["state"] == "QUEUED" and j["retries"] == 1 and j["attempts"] == 1
    assert "without using a retry" in j["reason"]
    t2 = harness.transport("w-i2")
    [c2] = wait_for(lambda: take(t2, 1), timeout=10, what="the requeued job")
    assert c2.key == k and c2.attempt == 2
    report(t2, [ok(c2)])
    assert harness.job(k)["state"] == "SUCCEEDED"
    t.close()
    t2.close()


def test_lost_lease_requeues_and_the_lost_worker_cannot_report(harness) -> None:
    [k] = harness.submit(1, retries=2)
    a = harness.transport("w-a")
    [ca] = take(a, 1)
    harness.lose(a)
    b = harness.transport("w-b")
    [cb] = wait_for(lambda: take(b, 1), timeout=10, what="the requeued job")
    assert cb.key == k and cb.attempt == 2
    report(a, [ok(ca)])  # too late: the attempt is not a's any more
    j = harness.job(k)
    assert j["state"] == "RUNNING" and j["worker"] == "w-b" and j["attempts"] == 2
    assert a.heartbeat([ca]) is False  # a learns that it was declared lost
    report(b, [ok(cb)])
    assert harness.job(k)["state"] == "SUCCEEDED"
    b.close()


# ---- what a state promises (DESIGN.md, "Jobs: what a state promises") ----------------------


def test_a_reserved_job_stays_queued_until_it_starts(harness) -> None:
    keys = harness.submit(3)
    t = harness.transport("w-res")
    claims = t.reserve(3)
    assert sorted(c.key for c in claims) == sorted(keys)
    assert all(harness.job(k)["state"] == "QUEUED" and harness.job(k)["attempts"] == 0
               for k in keys)
    assert t.start(claims[0]) is True
    j = harness.job(claims[0].key)
    assert j["state"] == "RUNNING" and j["attempts"] == 1 and j["worker"] == "w-res"
    assert harness.job(claims[1].key)["state"] == "QUEUED"
    t.release(claims[1:])  # given back at once, without an attempt: another worker runs them
    other = harness.transport("w-other")
    got = wait_for(lambda: take(other, 2), timeout=10, what="the released jobs")
    assert sorted(c.key for c in got) == sorted(c.key for c in claims[1:])
    assert all(c.attempt == 1 for c in got)
    report(t, [ok(claims[0])])
    report(other, [ok(c) for c in got])
    assert all(harness.job(k)["state"] == "SUCCEEDED" and harness.job(k)["attempts"] == 1
               for k in keys)
    t.close()
    other.close()


def test_a_cancelled_job_never_starts(harness) -> None:
    a, b = harness.submit(2)
    t = harness.transport("w-nc")
    claims = {c.key: c for c in t.reserve(2)}
    harness.cancel(b)  # while reserved (a worker would be running a just now)
    assert t.start(claims[a]) is True
    assert t.start(claims[b], finished=ok(claims[a])) is False
    jb = harness.job(b)
    assert jb["state"] == "CANCELLED" and jb["attempts"] == 0
    assert harness.job(a)["state"] == "SUCCEEDED"
    t.close()


def test_a_finished_job_is_recorded_at_once(harness) -> None:
    """The result of a job is recorded when the next one starts (one round trip), or alone:
    never held behind another job."""
    a, b = harness.submit(2)
    t = harness.transport("w-once")
    claims = {c.key: c for c in t.reserve(2)}
    assert t.start(claims[a])
    assert t.start(claims[b], finished=ok(claims[a], 0))
    assert harness.job(a)["state"] == "SUCCEEDED"  # while b runs
    assert harness.job(b)["state"] == "RUNNING"
    t.report(ok(claims[b], 4))
    assert harness.job(b)["state"] == "FAILED"
    t.close()


def test_a_lost_worker_costs_at_most_its_running_attempt(harness) -> None:
    done, running, reserved = harness.submit(3, retries=2)
    a = harness.transport("w-dies")
    claims = {c.key: c for c in a.reserve(3)}
    assert set(claims) == {done, running, reserved}
    assert a.start(claims[done])
    assert a.start(claims[running], finished=ok(claims[done]))
    harness.lose(a)  # it dies with one job running and one reserved
    assert harness.job(done)["state"] == "SUCCEEDED"  # its recorded result stands
    assert harness.job(reserved)["state"] == "QUEUED" and harness.job(reserved)["attempts"] == 0
    b = harness.transport("w-next")
    got: dict = {}
    deadline = time.monotonic() + 15
    while len(got) < 2 and time.monotonic() < deadline:
        got.update({c.key: c for c in take(b, 2)})
        time.sleep(0.05)
    assert set(got) == {running, reserved}
    assert got[running].attempt == 2   # the running attempt was lost
    assert got[reserved].attempt == 1  # the reserved job cost nothing
    report(b, [ok(c) for c in got.values()])
    assert all(harness.job(k)["state"] == "SUCCEEDED" for k in (done, running, reserved))
    b.close()


def _agent(harness, wid: str, **kw) -> tuple[Agent, threading.Thread]:
    t = harness.transport(wid)
    agent = Agent(t, AgentOptions(idle_timeout=kw.pop("idle", 1.0), heartbeat_every=0.3, **kw))

    def run() -> None:
        try:
            agent.run()
        finally:
            t.close()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return agent, th


def test_logs_stream(harness) -> None:
    """A running job's output and SYSTEM records are readable while it runs."""
    [k] = harness.submit(1, command="echo first line; sleep 20")
    agent, th = _agent(harness, "w-logs", max_jobs=1)
    wait_for(lambda: harness.job(k)["state"] == "RUNNING", timeout=20, what="running")
    t0 = time.monotonic()
    recs = wait_for(lambda: ("STDOUT", "first line") in harness.logs(k) and harness.logs(k),
                    timeout=10, what="the first line in the log")
    seen = time.monotonic() - t0
    assert harness.job(k)["state"] == "RUNNING"
    assert any(kind == "SYSTEM" and d.startswith("started attempt 1") for kind, d in recs), recs
    assert seen < (1.5 if harness.kind == "local" else 4.0), seen
    harness.cancel(k)
    th.join(timeout=30)
    assert not th.is_alive()


def test_no_job_waits_behind_a_long_one(harness) -> None:
    """Head-of-line: a long job among short ones on two workers; the short ones all finish
    while it runs (the worker running it gives its reservations back)."""
    [long] = harness.submit(1, command="sleep 60")  # head-of-line would hold them a minute
    short = harness.submit(20, command="true")
    workers = [_agent(harness, f"w-hol{i}", idle=2.0) for i in range(2)]
    t0 = time.monotonic()
    wait_for(lambda: all(harness.job(k)["state"] == "SUCCEEDED" for k in short), timeout=30,
             what="every short job")
    took = time.monotonic() - t0
    assert harness.job(long)["state"] == "RUNNING", took
    assert took < 20.0, took  # (a loaded CI machine: seconds; blocked behind the long job: 60 s)
    harness.cancel(long)
    for agent, _ in workers:
        agent.request_stop("test over")
    for _, th in workers:
        th.join(timeout=30)
