"""The worker transport contract, run against the local (SQLite) and the aws (SQS + DynamoDB)
transports alike: what the agent may rely on, whatever the backend."""

from __future__ import annotations

import threading
import time

from hyper_tui.agent.loop import Result
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
