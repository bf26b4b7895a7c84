"""Counters fed by the jobs table's stream (moto's DynamoDB Streams): they agree with counting
the jobs, and reading them costs the same however many jobs the table keeps."""

from __future__ import annotations

from typing import Any

from hyper_tui.aws import counters
from hyper_tui.core.jobs import Submission
from tests.aws.conftest import AwsHost, make_aws_host
from tests.aws.test_aws_client import run_worker


class Stream:
    """The test host's stream (moto_env.StreamPump), read by hand here: the automatic catch-up
    before every counter read is off, so these tests apply exactly the records they read."""

    def __init__(self, h: AwsHost) -> None:
        self.pump = h.res.stream
        self.pump.auto = False

    def read(self) -> list[dict[str, Any]]:
        return self.pump.records()


def test_counters_follow_submit_run_and_cancel(home) -> None:
    h = make_aws_host()
    stream = Stream(h)
    ddb = h.res.session.client("dynamodb")
    sub = Submission(queue="q1", definition="d1", name="STDIN",
                     commands=["true", "true", "false"])
    h.client.submit([sub])
    h.client.submit([Submission(queue="q1", definition="d1", name="held", command="true",
                                hold=True)])
    counters.apply_stream_records(ddb, h.res.table, stream.read())
    assert counters.read_counts(ddb, h.res.table, ["q1"])["q1"] == {
        "PENDING": 1, "QUEUED": 3, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 0, "CANCELLED": 0}
    assert run_worker(h, jobs=3) == 3
    [held] = [j for j in h.client.list_jobs(queue="q1") if j.name == "held"]
    h.client.cancel([held.job_id])
    counters.apply_stream_records(ddb, h.res.table, stream.read())
    counted = counters.read_counts(ddb, h.res.table, ["q1"])["q1"]
    assert counted == {"PENDING": 0, "QUEUED": 0, "RUNNING": 0, "SUCCEEDED": 2, "FAILED": 1,
                       "CANCELLED": 1}
    by_reading = h.client.count_jobs(queue="q1")
    assert all(counted[s] == by_reading[s] for s in counted)
    # The counter items are in no index and are no job: listings do not show them.
    assert len(h.client.list_jobs(queue="q1")) == 4


def test_reading_counts_costs_the_same_for_any_number_of_jobs(home) -> None:
    h = make_aws_host()
    stream = Stream(h)
    ddb = h.res.session.client("dynamodb")
    keys_read: list[int] = []

    def count(params=None, **kw):
        keys_read.append(sum(len(s["Keys"]) for s in params["RequestItems"].values()))

    h.res.session.register("provide-client-params.dynamodb.BatchGetItem", count)
    for n in (10, 1000):
        h.client.submit([Submission(queue="q1", definition="d1", name="STDIN",
                                    commands=["true"] * n)])
        records = stream.read()
        assert counters.apply_stream_records(ddb, h.res.table, records) == 1  # one write a batch
        keys_read.clear()
        got = counters.read_counts(ddb, h.res.table, ["q1"])["q1"]
        assert got["QUEUED"] == (10 if n == 10 else 1010)
        print(f"\n{got['QUEUED']} queued jobs: counts read {keys_read} items")
        assert keys_read == [counters.COUNTER_SHARDS]


def test_the_stream_handler_applies_a_batch(home, monkeypatch) -> None:
    h = make_aws_host()
    stream = Stream(h)
    ddb = h.res.session.client("dynamodb")
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"] * 3)])
    monkeypatch.setenv("HYPER_JOBS_TABLE", h.res.table)
    out = counters.handler({"Records": stream.read()}, None, ddb=ddb)
    assert out["writes"] == 1 and out["records"] >= 3
    assert counters.read_counts(ddb, h.res.table, ["q1"])["q1"]["QUEUED"] == 3


def test_deltas_ignore_items_that_are_not_jobs() -> None:
    from hyper_tui.aws.table import to_item

    records = [
        {"dynamodb": {"NewImage": to_item({"id": "spec#a", "kind": "spec", "command": "x"})}},
        {"dynamodb": {"NewImage": to_item({"id": "j1", "queue": "q", "state": "QUEUED"})}},
        {"dynamodb": {"OldImage": to_item({"id": "j1", "queue": "q", "state": "QUEUED"}),
                      "NewImage": to_item({"id": "j1", "queue": "q", "state": "QUEUED",
                                           "heartbeat": 5})}},
        {"dynamodb": {"OldImage": to_item({"id": "j2", "queue": "q", "state": "RUNNING"}),
                      "NewImage": to_item({"id": "j2", "queue": "q", "state": "SUCCEEDED"})}},
    ]
    assert counters.stream_deltas(records) == {"q": {"QUEUED": 1, "RUNNING": -1, "SUCCEEDED": 1,
                                                     "#QUEUED": 1, "#RUNNING": -1,
                                                     counters.SUBMITTED: 1,
                                                     counters.FINISHED: 1}}


def test_totals_count_new_and_finished_jobs_and_never_go_down(home) -> None:
    """The Submitted and Finished metrics' source: a job item the table did not hold counts
    once as submitted (whatever its first state), a job reaching a final state once as
    finished; a removal (TTL) leaves both. The scaler reads the difference since its last
    pass, and a queue's first pass only records where it starts."""
    h = make_aws_host()
    stream = Stream(h)
    ddb = h.res.session.client("dynamodb")
    table = h.res.table
    S, F = counters.SUBMITTED, counters.FINISHED
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"] * 3)])
    counters.apply_stream_records(ddb, table, stream.read())
    assert counters.totals_since(ddb, table, ["q1"]) == {S: {}, F: {}}  # a start point
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"] * 2),
                     Submission(queue="q1", definition="d1", name="held", command="true",
                                hold=True)])
    assert run_worker(h, jobs=5) == 5
    [held] = [j for j in h.client.list_jobs(queue="q1") if j.name == "held"]
    h.client.cancel([held.job_id])
    jid = next(j.job_id for j in h.client.list_jobs(queue="q1") if j.state == "SUCCEEDED")
    ddb.delete_item(TableName=table, Key={"id": {"S": jid}})  # as the TTL removes a job
    counters.apply_stream_records(ddb, table, stream.read())
    assert counters.totals_since(ddb, table, ["q1", "q2"]) == {S: {"q1": 3}, F: {"q1": 6}}
    assert counters.totals_since(ddb, table, ["q1", "q2"]) == {S: {}, F: {}}  # nothing since
    assert counters.since(10, 4) == 6 and counters.since(3, 9) == 3  # 3: counted since a rebuild


def three_in_q1_two_in_q2() -> tuple[AwsHost, Stream, Any, list[dict[str, Any]]]:
    """A host of queues q1 and q2, 3 jobs submitted to q1 and 2 to q2, and their stream
    records (not counted yet)."""
    h = make_aws_host(queues=("q1", "q2"))
    stream = Stream(h)
    ddb = h.res.session.client("dynamodb")
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"] * 3),
                     Submission(queue="q2", definition="d1", name="STDIN", commands=["true"] * 2)])
    return h, stream, ddb, stream.read()


def test_a_retried_stream_batch_counts_once(home) -> None:
    """The event source delivers a batch at least once: a batch delivered again (the same
    records), or again with more records behind the same first one, counts each record once
    (the batch's mark item per queue, written in one transaction with the counter)."""
    h, stream, ddb, records = three_in_q1_two_in_q2()
    assert counters.apply_stream_records(ddb, h.res.table, records) == 2
    counters.apply_stream_records(ddb, h.res.table, records)  # the retry
    got = counters.read_counts(ddb, h.res.table, ["q1", "q2"])
    assert got["q1"]["QUEUED"] == 3 and got["q2"]["QUEUED"] == 2
    assert counters.backlog(ddb, h.res.table, "q1")[0] == {("d1", "QUEUED"): 3}
    # A retry that brings more records (behind the same first one) counts only those.
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"])])
    records += stream.read()
    counters.apply_stream_records(ddb, h.res.table, records)
    counters.apply_stream_records(ddb, h.res.table, records)
    assert counters.read_counts(ddb, h.res.table, ["q1"])["q1"]["QUEUED"] == 4
    # Another batch (another first record) counts.
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"])])
    counters.apply_stream_records(ddb, h.res.table, stream.read())
    assert counters.read_counts(ddb, h.res.table, ["q1"])["q1"]["QUEUED"] == 5


def test_a_batch_that_failed_half_way_counts_the_rest_on_its_retry(home, monkeypatch) -> None:
    """A call that counted q1 and then failed on q2 (its write refused) is retried whole:
    q1 is not counted again, q2 is counted once."""
    h, stream, ddb, records = three_in_q1_two_in_q2()
    real = ddb.transact_write_items

    def refuse_q2(**kw):
        if any(counters.counter_id("q2", 0)[:-1] in it["Update"]["Key"]["id"]["S"]
               for it in kw["TransactItems"]):
            raise RuntimeError("throttled")
        return real(**kw)

    monkeypatch.setattr(ddb, "transact_write_items", refuse_q2)
    try:
        counters.apply_stream_records(ddb, h.res.table, records)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the q2 write was to fail")
    monkeypatch.setattr(ddb, "transact_write_items", real)
    assert counters.read_counts(ddb, h.res.table, ["q1", "q2"])["q2"]["QUEUED"] == 0
    counters.apply_stream_records(ddb, h.res.table, records)  # the retry
    got = counters.read_counts(ddb, h.res.table, ["q1", "q2"])
    assert got["q1"]["QUEUED"] == 3 and got["q2"]["QUEUED"] == 2


def test_rebuild_counts_the_jobs_themselves(home) -> None:
    """For a table whose jobs predate its counters: one scan, the same counts as the stream's."""
    h = make_aws_host()
    ddb = h.res.session.client("dynamodb")
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN",
                                commands=["true", "false"])])
    assert run_worker(h, jobs=2) == 2
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN", commands=["true"])])
    streamed = counters.read_counts(ddb, h.res.table, ["q1"])["q1"]  # (caught up first)
    h.res.stream.auto = False
    rebuilt = counters.rebuild(ddb, h.res.table, ["q1"])["q1"]
    assert {s: n for s, n in streamed.items() if n} == rebuilt == {
        "SUCCEEDED": 1, "FAILED": 1, "QUEUED": 1}
    assert counters.read_counts(ddb, h.res.table, ["q1"])["q1"] == streamed
    assert counters.backlog(ddb, h.res.table, "q1")[0] == {("d1", "QUEUED"): 1}
