"""No stranded job: the reconciler (RUNNING jobs on dead workers, QUEUED jobs with no message)
and the worker's rule that a message is deleted only after its job's write succeeded.

Faults are injected through botocore ``before-call`` hooks against the moto server:
throttling (ProvisionedThroughputExceededException, ThrottlingException) and
ConditionalCheckFailed conflicts answered in place of the call (botocore does not retry an
answer given by a hook, so only our own retries run). Time is injected (``now``, ``clock``):
a heartbeat "expires" by passing a later ``now``, never by sleeping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from hyper_tui.agent.loop import Result
from hyper_tui.agent.transports.aws import AwsTransport
from hyper_tui.aws import schema
from hyper_tui.aws.reconciler import CURSOR_ID, Reconciler
from hyper_tui.aws.scaler import run_scaler
from hyper_tui.aws.scaler_config import build_scaler_config
from hyper_tui.aws.session import AwsSession
from hyper_tui.aws.table import batch_get
from hyper_tui.core.errors import HyperError
from hyper_tui.core.jobs import Submission
from tests.aws import moto_env
from tests.aws.conftest import AwsHost, make_aws_host

LATER = 3600.0  # seconds added to "now": every heartbeat of the test has expired by then


# ---- fault injection ---------------------------------------------------------------------------


class Faults:
    """Answers calls of one botocore client with an error instead of sending them:
    ``fail(op, code, times, when)``; ``times`` None = until ``clear``; ``when(body)`` picks
    the calls (the request body as a dict)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.rules: list[dict[str, Any]] = []
        self.injected: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        client.meta.events.register("before-call", self._hook)

    def fail(self, op: str, code: str, *, times: int | None = None,
             when: Callable[[dict], bool] | None = None, before: Callable[[], None] | None = None
             ) -> Faults:
        self.rules.append({"op": op, "code": code, "left": times, "when": when,
                           "before": before})
        return self

    def answer(self, op: str, fn: Callable[[dict], dict]) -> Faults:
        """Answer ``op`` with ``fn(body)`` (a success) instead of sending it."""
        self.rules.append({"op": op, "code": None, "left": None, "when": None, "before": None,
                           "answer": fn})
        return self

    def clear(self) -> None:
        self.rules.clear()

    def _hook(self, model: Any = None, params: Any = None, **kw: Any) -> Any:
        op = model.name
        self.calls[op] = self.calls.get(op, 0) + 1
        body = {}
        raw = (params or {}).get("body")
        if raw:
            try:
                body = json.loads(raw)
            except (TypeError, ValueError):
                body = {}
        for rule in self.rules:
            if rule["op"] != op or rule["left"] == 0:
                continue
            if rule["when"] is not None and not rule["when"](body):
                continue
            if rule["left"] is not None:
                rule["left"] -= 1
            if rule.get("answer") is not None:
                return SimpleNamespace(status_code=200, headers={}), rule["answer"](body)
            if rule["before"] is not None:  # something that happens meanwhile (a race)
                rule["before"]()
                return None  # then the call itself goes through
            self.injected[op] = self.injected.get(op, 0) + 1
            return (SimpleNamespace(status_code=400, headers={}),
                    {"Error": {"Code": rule["code"], "Message": "injected by the test"},
                     "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None


def about(job_id: str) -> Callable[[dict], bool]:
    return lambda body: (body.get("Key") or {}).get("id", {}).get("S") == job_id


# ---- helpers -----------------------------------------------------------------------------------


def transport(h: AwsHost, wid: str, session: AwsSession | None = None, **kw: Any) -> AwsTransport:
    kw.setdefault("poll_wait", 0)
    return AwsTransport.for_host(h.cfg, worker_id=wid, queue="q1", definition="d1",
                                 session=session or h.res.session, **kw)


def take(t: AwsTransport, n: int) -> list:
    return [c for c in t.reserve(n) if t.start(c)]


def submit(h: AwsHost, n: int, **kw: Any) -> list[str]:
    return h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}",
                                       command="true", **kw) for i in range(n)])


def item(h: AwsHost, jid: str) -> dict:
    return batch_get(h.res.session.client("dynamodb"), h.res.table, [jid])[jid]


def depth(h: AwsHost) -> dict[str, int]:
    attrs = h.res.session.client("sqs").get_queue_attributes(
        QueueUrl=h.res.work_urls[("q1", "d1")], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return {"visible": int(attrs["ApproximateNumberOfMessages"]),
            "hidden": int(attrs["ApproximateNumberOfMessagesNotVisible"])}


def drop_messages(h: AwsHost) -> int:
    """Receive and delete every visible work message: what a worker did before this fix
    after a write that failed (the job is left without a message)."""
    sqs = h.res.session.client("sqs")
    url = h.res.work_urls[("q1", "d1")]
    n = 0
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                   WaitTimeSeconds=0).get("Messages") or []
        if not msgs:
            return n
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            n += 1


def reconciler(h: AwsHost, session: AwsSession | None = None, **kw: Any) -> Reconciler:
    s = session or h.res.session
    kw.setdefault("lease", h.cfg.host.settings.lease_seconds)
    return Reconciler(s.client("dynamodb"), s.client("sqs"), h.res.table,
                      lambda q, d: h.res.work_urls[(q, d)], **kw)


def finish(h: AwsHost, wid: str) -> list[str]:
    """A new worker runs what it can receive now; the job ids it ran."""
    t = transport(h, wid)
    ran = []
    for _ in range(5):
        got = take(t, 10)
        if not got:
            break
        for c in got:
            t.report(Result(c, "exit", 0, time.time(), time.time()))
            ran.append(c.key)
    t.close()
    return ran


# ---- RUNNING on a dead worker --------------------------------------------------------------------


def test_a_dead_workers_job_is_requeued_exactly_once_then_runs_once(home) -> None:
    h = make_aws_host(lease=15.0)
    [jid] = submit(h, 1, retries=1)
    a = transport(h, "w-dead")
    [c] = take(a, 1)
    assert c.attempt == 1
    drop_messages_hidden(h)  # its message is gone too: only the reconciler can find the job
    # Two reconcilers read the same stale item; the second writes while the first is
    # between its read and its write: one requeue wins, the other is a conflict.
    s1, s2 = AwsSession(moto_env.REGION), AwsSession(moto_env.REGION)
    other = reconciler(h, s2)
    results: list = []
    Faults(s1.client("dynamodb")).fail(
        "UpdateItem", "", times=1, when=about(jid),
        before=lambda: results.append(other.run(["q1"], [], now=time.time() + LATER)))
    first = reconciler(h, s1).run(["q1"], [], now=time.time() + LATER)
    [second] = results
    assert (second.requeued, second.conflicts) == (1, 0)
    assert (first.requeued, first.conflicts) == (0, 1)
    it = item(h, jid)
    assert it["state"] == "QUEUED" and "worker" not in it and it["attempt"] == 1
    assert [x["outcome"] for x in it["history"]] == ["lost"]
    assert "w-dead" in it["reason"] and "reconciler" in it["reason"]
    assert depth(h) == {"visible": 1, "hidden": 0}  # one new message, not two
    # A third pass finds nothing: the job is not RUNNING any more.
    assert reconciler(h).run(["q1"], [], now=time.time() + LATER).requeued == 0
    assert finish(h, "w-new") == [jid]
    it = item(h, jid)
    assert it["state"] == "SUCCEEDED" and it["attempt"] == 2
    assert [x["outcome"] for x in it["history"]] == ["lost", "succeeded"]
    # The dead worker's late report changes nothing (its attempt is over).
    a.report(Result(c, "exit", 0, time.time(), time.time()))
    assert item(h, jid)["attempt"] == 2 and finish(h, "w-third") == []


@pytest.mark.parametrize("projected", [True, False], ids=["filtered", "keys-only"])
def test_a_live_worker_is_left_alone_and_no_retries_left_fails(home, monkeypatch,
                                                               projected: bool) -> None:
    h = make_aws_host(lease=15.0)
    if not projected:  # an index that projects keys only: every entry read is a candidate
        monkeypatch.setattr(schema, "index_attributes", lambda index: ())
    ids = submit(h, 2, retries=0)
    a = transport(h, "w-a")
    assert len(take(a, 2)) == 2
    now = time.time()
    r = reconciler(h).run(["q1"], [], now=now + 15)  # within 2 leases of its heartbeat
    assert (r.requeued, r.failed) == (0, 0)
    r = reconciler(h).run(["q1"], [], now=now + 2 * 15 + 5)
    assert (r.requeued, r.failed) == (0, 2)
    for jid in ids:
        it = item(h, jid)
        assert it["state"] == "FAILED" and "no retries left" in it["reason"]
        assert it[schema.TTL_ATTRIBUTE] > now and "worker" not in it


# ---- QUEUED with no message --------------------------------------------------------------------


@pytest.mark.parametrize("projected", [True, False], ids=["filtered", "keys-only"])
def test_a_queued_job_with_no_message_gets_one(home, monkeypatch, projected: bool) -> None:
    h = make_aws_host()
    if not projected:
        monkeypatch.setattr(schema, "index_attributes", lambda index: ())
    [jid] = submit(h, 1)
    assert drop_messages(h) == 1  # a worker deleted its message and wrote nothing
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    kw = dict(sweep=False, publish=False, launch=False)
    out = run_scaler(sc, h.res.session, **kw)  # too fresh: its message may be on its way
    assert out["errors"] == [] and out["reconciled"]["resent"] == 0
    out = run_scaler(sc, h.res.session, now=time.time() + LATER, **kw)
    assert out["errors"] == [] and out["reconciled"]["resent"] == 1, out["reconciled"]
    assert depth(h)["visible"] == 1
    # With a message in the queue the pair is not empty: nothing more is sent.
    out = run_scaler(sc, h.res.session, now=time.time() + 2 * LATER, **kw)
    assert out["reconciled"]["resent"] == 0 and depth(h)["visible"] == 1
    assert finish(h, "w-1") == [jid] and item(h, jid)["state"] == "SUCCEEDED"


# ---- throttled writes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException",
                                  "ThrottlingException"])
def test_a_job_stranded_by_a_throttled_write_is_recovered(home, code: str) -> None:
    h = make_aws_host(lease=15.0)
    [jid] = submit(h, 1, retries=2)
    ws = AwsSession(moto_env.REGION)
    w = transport(h, "w-throttled", ws)
    [c] = take(w, 1)
    faults = Faults(ws.client("dynamodb")).fail("UpdateItem", code)  # every write, for good
    with pytest.raises(HyperError, match="throttling"):
        w.report(Result(c, "exit", 0, time.time(), time.time()))
    assert faults.injected["UpdateItem"] == 6  # run_updates' tries, with backoff
    w.close()
    assert item(h, jid)["state"] == "RUNNING"
    assert depth(h)["hidden"] == 1  # not deleted: it comes back after the lease
    drop_messages_hidden(h)  # ...unless it is lost anyway (an old worker deleted it)
    # The reconciler's own writes are throttled on its first pass: nothing is sent.
    rs = AwsSession(moto_env.REGION)
    Faults(rs.client("dynamodb")).fail("UpdateItem", code, times=6, when=about(jid))
    r = reconciler(h, rs).run(["q1"], [], now=time.time() + LATER)
    assert (r.requeued, r.not_written) == (0, 1) and depth(h)["visible"] == 0
    assert item(h, jid)["state"] == "RUNNING"
    r = reconciler(h, rs).run(["q1"], [], now=time.time() + LATER)  # next pass
    assert (r.requeued, r.not_written) == (1, 0)
    assert finish(h, "w-after") == [jid]
    it = item(h, jid)
    assert it["state"] == "SUCCEEDED" and it["attempt"] == 2


def drop_messages_hidden(h: AwsHost) -> None:
    """Make the hidden work messages visible, then drop them."""
    sqs = h.res.session.client("sqs")
    url = h.res.work_urls[("q1", "d1")]
    sqs.purge_queue(QueueUrl=url)
    assert depth(h) == {"visible": 0, "hidden": 0}


def test_the_worker_never_deletes_a_message_after_a_failed_write(home, monkeypatch) -> None:
    from hyper_tui.aws import schema as aws_schema

    # The three jobs in one message (a burst would go one a message: schema.ids_per_message).
    monkeypatch.setattr(aws_schema, "ids_per_message", lambda n: aws_schema.IDS_PER_MESSAGE)
    h = make_aws_host(lease=15.0)
    a_id, b_id, c_id = submit(h, 3)
    ws = AwsSession(moto_env.REGION)
    w = transport(h, "w-faulty", ws)
    faults = Faults(ws.client("dynamodb"))
    # 1. The start is throttled past the retries: the job stays reserved and QUEUED, and the
    #    worker hands it back (its message visible again), never deleting it.
    faults.fail("UpdateItem", "ThrottlingException", when=about(a_id))
    claims = w.reserve(3)
    assert {cl.key for cl in claims} == {a_id, b_id, c_id}
    ca = next(cl for cl in claims if cl.key == a_id)
    with pytest.raises(HyperError):
        w.start(ca)
    assert item(h, a_id)["state"] == "QUEUED"
    faults.clear()
    # 2. A conflict answered at the start of b, and at the report of c.
    faults.fail("UpdateItem", "ConditionalCheckFailedException", times=1, when=about(b_id))
    cb = next(cl for cl in claims if cl.key == b_id)
    assert w.start(cb) is False
    cc = next(cl for cl in claims if cl.key == c_id)
    assert w.start(cc) is True
    faults.fail("UpdateItem", "ConditionalCheckFailedException", times=1, when=about(c_id))
    w.report(Result(cc, "exit", 0, time.time(), time.time()))
    assert item(h, c_id)["state"] == "RUNNING"  # the write did not happen
    w.release([ca])
    w.close()
    assert faults.injected["UpdateItem"] == 6 + 2
    # Their one message was handed back whole (a released, b and c not written): visible.
    assert depth(h) == {"visible": 1, "hidden": 0}
    assert item(h, a_id)["state"] == "QUEUED" and item(h, b_id)["state"] == "QUEUED"
    ran = finish(h, "w-next")
    assert sorted(ran) == sorted([a_id, b_id])  # c looks RUNNING on a live worker: watched
    # c is RUNNING on a worker that is gone: the reconciler requeues it, then it runs.
    r = reconciler(h).run(["q1"], [], now=time.time() + LATER)
    assert r.requeued == 1
    ran += finish(h, "w-last")
    assert c_id in ran
    assert item(h, a_id)["state"] == item(h, c_id)["state"] == "SUCCEEDED"


# ---- bounded passes ----------------------------------------------------------------------------


def test_a_pass_is_bounded_in_items_and_time_and_resumes(home) -> None:
    h = make_aws_host(lease=15.0)
    ids = submit(h, 40, retries=1)
    w = transport(h, "w-many")
    got: list = []
    for _ in range(20):
        got += take(w, 10)
        if len(got) == 40:
            break
    assert len(got) == 40
    now = time.time() + LATER
    passes, requeued, reads = 0, 0, []
    while requeued < 40:
        r = reconciler(h, max_items=30).run(["q1"], [], now=now)
        passes += 1
        requeued += r.requeued
        reads.append(r.items_read)
        assert r.conflicts == 0 and r.items_read <= 30
        assert passes < 20, reads
    print(f"\nreconcile: 40 stranded jobs, max_items 30: {passes} passes, items read per "
          f"pass {reads}")
    assert passes >= 3  # 40 jobs x 2 items (index + item) cannot fit in fewer
    states = {item(h, jid)["state"] for jid in ids}
    assert states == {"QUEUED"} and requeued == 40
    # Time: a clock that moves 1 s per look stops a pass at its deadline; the cursor makes
    # the next pass go on from there.
    h.res.session.client("dynamodb").delete_item(TableName=h.res.table,
                                                 Key={"id": {"S": CURSOR_ID}})
    ticks = iter(range(10_000))
    r = reconciler(h, clock=lambda: float(next(ticks))).run(["q1"], [], deadline=5.0, now=now)
    assert r.stopped == "time" and not r.lap_done and r.partitions <= 5
    cur = h.res.session.client("dynamodb").get_item(
        TableName=h.res.table, Key={"id": {"S": CURSOR_ID}})["Item"]
    assert cur["partition"]["S"].startswith("q1#QUEUED#")  # RUNNING shares QUEUED's group


# ---- QUEUED in a busy pair: a lost message while others wait -------------------------------


def lose_messages_of(h: AwsHost, lost: set[str]) -> int:
    """Delete the work messages carrying any of ``lost`` (what a faulty worker did), and hand
    the others back (visible again); the number of messages left."""
    sqs = h.res.session.client("sqs")
    url = h.res.work_urls[("q1", "d1")]
    kept = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                   WaitTimeSeconds=0).get("Messages") or []
        if not msgs:
            break
        for m in msgs:
            if lost & set(json.loads(m["Body"])["ids"]):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            else:
                kept.append(m["ReceiptHandle"])
    for handle in kept:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return len(kept)


def test_a_lost_message_in_a_busy_queue_is_found_within_bounds(home) -> None:
    from hyper_tui.aws.reconciler import BUSY_RESEND_AFTER_S, resend_horizon

    h = make_aws_host()
    ids = [jid for _ in range(6) for jid in submit(h, 1)]  # a message each
    lost = set(ids[:2])
    assert lose_messages_of(h, lost) == 4 and depth(h)["visible"] == 4  # not empty
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    kw = dict(sweep=False, publish=False, launch=False)
    t0 = time.time()
    # Past the empty-queue grace but within the hour: a backlog may hold them; nothing sent.
    out = run_scaler(sc, h.res.session, now=t0 + 600, **kw)
    assert out["errors"] == [] and out["reconciled"]["overdue"] == 0, out["reconciled"]
    # Past the hour: every job whose message is that old is sent again (a pass can't tell
    # the lost ones from the waiting ones), but not more than max_resends a pass.
    t1 = t0 + BUSY_RESEND_AFTER_S + 60
    r = reconciler(h, max_resends=4).run([], [], busy_pairs=[("q1", "d1")], now=t1)
    assert (r.overdue, r.over_budget, r.resent, r.errors) == (4, 2, 0, [])
    out = run_scaler(sc, h.res.session, now=t1, **kw)  # the rest, through the scaler
    assert out["reconciled"]["overdue"] == 2 and out["reconciled"]["over_budget"] == 0
    assert all(item(h, j)["resends"] == 1 and "sent again" in item(h, j)["reason"] for j in ids)
    # Each job is resent once per horizon, doubled: not an hour later, only after two.
    assert resend_horizon(1) == 2 * BUSY_RESEND_AFTER_S
    out = run_scaler(sc, h.res.session, now=t1 + BUSY_RESEND_AFTER_S + 60, **kw)
    assert out["reconciled"]["overdue"] == 0
    # The lost ones run (from their new message), every job runs exactly once: the
    # duplicates find their job taken and are dropped.
    ran = finish(h, "w-busy")
    assert sorted(ran) == sorted(ids), ran
    assert {item(h, j)["state"] for j in ids} == {"SUCCEEDED"}
    # (copies received alongside the first are watched, hidden, by w-busy: a job looked at
    # again should that worker die; they come back after the lease and are dropped)
    assert finish(h, "w-after") == [] and depth(h)["visible"] == 0


def test_the_resend_horizon_doubles_and_stops_short_of_the_retention() -> None:
    from hyper_tui.aws.reconciler import (
        MESSAGE_RETENTION_S,
        RETENTION_MARGIN_S,
        resend_horizon,
    )

    hours = [resend_horizon(n) / 3600 for n in range(10)]
    assert hours[:5] == [1, 2, 4, 8, 16]
    cap = (MESSAGE_RETENTION_S - RETENTION_MARGIN_S) / 3600
    assert max(hours) == cap == hours[-1] and resend_horizon(10**6) / 3600 == cap
    # a healthy job waiting its whole retention gets a handful of duplicates, not one a pass
    waited, n = 0.0, 0
    while waited + resend_horizon(n) < MESSAGE_RETENTION_S:
        waited += resend_horizon(n)
        n += 1
    assert n <= 9
