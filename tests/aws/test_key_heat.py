"""Key heat: no partition of the jobs table or of its indexes takes more than 500 writes a second
(half of DynamoDB's 1,000 per partition) at 10,000 jobs/s into one queue.

The real code builds every write: the aws client's submission plan (``AwsHostClient._plan``,
what ``qsub`` writes), the submit API's items (``handler.job_item``), and the worker
transport's start, heartbeat and report (``AwsTransport``), all on a host provisioned in moto.
The transport's clients record each request instead of sending it (10,000 jobs a second
would take moto minutes); a sample of the recorded requests is then sent to moto, to show
they are requests DynamoDB takes. A shadow of each item follows the recorded writes and
counts, per second, the writes of each partition key: the table's (the item id), and each
GSI's, which DynamoDB writes when a write adds the item to the index, removes it, changes its
index key (2: the old entry deleted, the new one written) or changes an attribute it projects.

Workloads, each 10,000 jobs in one second into queue ``q1``, each job started, heartbeaten
once and reported within that second (the worst case: a real short job spreads its writes):
``qsub --stdin`` batches of 1,000 lines (default name ``STDIN``), single ``qsub -c`` jobs
(``command``), submit-API batches of 1,000 (``job``), one 10,000-task array, and a
``qsub --stdin -N run7`` batch (a name the user gave, shared by every job).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from hyper_tui.agent.loop import Result
from hyper_tui.agent.transports.aws import AwsTransport, _Message
from hyper_tui.aws import schema
from hyper_tui.aws.table import from_item, to_item
from hyper_tui.core.jobs import ArraySpec, Submission

RATE = 10_000   # jobs per second into one queue
LIMIT = 500     # writes per partition key per second
WORKERS = 1000


class Recorder:
    """Stands in for a boto3 client: records every request, answers what the code expects."""

    ANSWERS: dict[str, dict[str, Any]] = {"batch_get_item": {"Responses": {}}}

    def __init__(self, log: list[tuple[str, dict[str, Any]]]) -> None:
        self.log = log

    def __getattr__(self, op: str) -> Callable[..., dict[str, Any]]:
        def call(**kw: Any) -> dict[str, Any]:
            self.log.append((op, kw))
            return dict(self.ANSWERS.get(op, {}))
        return call


class RecordingSession:
    def __init__(self, region: str) -> None:
        self.region = region
        self.log: list[tuple[str, dict[str, Any]]] = []

    def client(self, service: str) -> Recorder:
        return Recorder(self.log)


class Heat:
    """The shadow items and the writes per (index, partition key)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.writes: Counter[tuple[str, str]] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def put(self, item: dict[str, Any]) -> None:
        self.requests.append(("put_item", {"Item": to_item(item)}))
        self._write(item["id"], {}, dict(item))

    def update(self, kw: dict[str, Any]) -> None:
        self.requests.append(("update_item", kw))
        jid = kw["Key"]["id"]["S"]
        old = self.items.get(jid, {"id": jid})
        self._write(jid, old, apply_update(old, kw))

    def _write(self, jid: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.items[jid] = new
        self.writes[("table", jid)] += 1
        changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
        for index, pk, _, sk, _ in schema.INDEXES:
            was = (old.get(pk), old.get(sk)) if pk in old and sk in old else None
            now = (new.get(pk), new.get(sk)) if pk in new and sk in new else None
            if was and was != now:
                self.writes[(index, str(was[0]))] += 1  # the old entry is deleted
            if now and (now != was or changed & set(schema.index_attributes(index))):
                self.writes[(index, str(now[0]))] += 1

    def hottest(self) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        for (index, key), n in self.writes.items():
            if n > out.get(index, ("", -1))[1]:
                out[index] = (key, n)
        return out


def apply_update(item: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    """The item after an UpdateItem built by ``table.Update`` (SET, REMOVE, ADD)."""
    names = kw.get("ExpressionAttributeNames", {})
    values = {k: from_item({"v": v})["v"] for k, v in kw.get("ExpressionAttributeValues", {}).items()}
    out = dict(item)
    expr = kw["UpdateExpression"]
    for clause, body in re.findall(r"(SET|REMOVE|ADD) (.*?)(?= SET | REMOVE | ADD |$)", expr):
        if clause == "REMOVE":
            for a in body.split(", "):
                out.pop(names[a.strip()], None)
        elif clause == "ADD":
            for part in body.split(", "):
                a, v = part.split()
                out[names[a]] = (out.get(names[a]) or 0) + values[v]
        else:
            for a, v in re.findall(r"(#\w+) = (:v\d+)", body):  # list_append: history only
                out[names[a]] = values[v]
    return out


def transports(h: Any, session: RecordingSession) -> list[AwsTransport]:
    return [AwsTransport(session, host=h.name, table=h.res.table, queue_url="https://sqs/q1-d1",
                         log_group="/hyper/acme/jobs", worker_id=f"w-{i}", queue="q1",
                         definition="d1", lease=60)
            for i in range(WORKERS)]


def run_jobs(heat: Heat, workers: list[AwsTransport], session: RecordingSession,
             items: list[dict[str, Any]], now: float) -> None:
    """Start, heartbeat and report every job item (the transport's real request builders)."""
    jobs = [it for it in items if not it.get("kind")]  # not a spec or a group item
    for n, item in enumerate(jobs):
        t = workers[n % len(workers)]
        msg = _Message(url=t.queue_url, receipt=f"r-{item['id']}", ids=[item["id"]])
        msg.open.add(item["id"])
        seen = dict(heat.items[item["id"]])
        claim = t._to_claim(seen, int(seen.get("attempt") or 0) + 1, msg)
        assert t._start_items([(msg, seen, claim)]) == {claim.key}
        t._last_beat = -1e9  # due
        t.heartbeat([claim])
        t.report(Result(claim=claim, outcome="exit", exit_code=0, started=now, ended=now + 0.5))
    for op, kw in session.log:
        if op == "update_item":
            heat.update(kw)
    session.log.clear()


def submit_plan(h: Any, subs: list[Submission], now: float) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for sub in subs:
        items += h.client._plan(sub, now)[1]
    return items


def api_items(count: int, now: float) -> list[dict[str, Any]]:
    """The items the submit API writes for ``count`` jobs in requests of ``MAX_BATCH``: the
    jobs, and each request's group item (``groups.group_jobs``, as ``handler.submit``)."""
    from hyper_tui.aws import groups
    from hyper_tui.aws.infra.components.api import handler

    config = handler.ApiConfig(host="acme", table="acme-jobs", queues=frozenset({"q1"}),
                               definitions={"d1": {"retries": 0, "timeout": None,
                                                   "retry_exit_codes": []}})
    jobs = [j for b in range(0, count, schema.MAX_BATCH) for j in handler.validate_batch(
        {"jobs": [{"queue": "q1", "definition": "d1", "command": f"echo {i}"}
                  for i in range(b, min(count, b + schema.MAX_BATCH))]}, config)]
    items = [{k: (float(v) if type(v).__name__ == "Decimal" else v)
              for k, v in handler.job_item(j, schema.new_job_id(now), now, "arn:test").items()}
             for j in jobs]
    return [it for b in range(0, count, schema.MAX_BATCH) for it in (
        items[b:b + schema.MAX_BATCH] + groups.group_jobs(
            items[b:b + schema.MAX_BATCH], now=now, retention_s=config.retention_days * 86400))]


def workloads(h: Any, now: float) -> dict[str, list[dict[str, Any]]]:
    def sub(**kw: Any) -> Submission:
        return Submission(queue="q1", definition="d1", **kw)

    return {
        "stdin batches (STDIN)": submit_plan(h, [
            sub(name="STDIN", commands=[f"echo {b} {i}" for i in range(1000)])
            for b in range(RATE // 1000)], now),
        "qsub -c singles (command)": submit_plan(h, [
            sub(name="command", command=f"echo {i}") for i in range(RATE)], now),
        "API batches (job)": api_items(RATE, now),
        "one 10,000-task array": submit_plan(h, [
            sub(name="job", command="echo $HYPER_ARRAY_INDEX",
                array=ArraySpec(0, RATE - 1))], now),
        "named stdin batch (run7)": submit_plan(h, [
            sub(name="run7", commands=[f"echo {i}" for i in range(RATE)])], now),
    }


@pytest.fixture(scope="module")
def heat_by_workload(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Heat]:
    import os

    from tests.aws import moto_env
    from tests.aws.conftest import make_aws_host

    old = os.environ.get("HYPER_HOME")
    os.environ["HYPER_HOME"] = str(tmp_path_factory.mktemp("heat-home"))
    try:
        moto_env.reset(moto_env.shared_server())
        h = make_aws_host()
        now = 1_790_000_000.0
        out: dict[str, Heat] = {}
        for name, items in workloads(h, now).items():
            heat = Heat()
            session = RecordingSession(h.res.session.region)
            for item in items:
                heat.put(item)
            run_jobs(heat, transports(h, session), session, items, now)
            out[name] = heat
        # The recorded requests are ones DynamoDB takes: a sample of them, sent to moto.
        ddb = h.res.session.client("dynamodb")
        sample = out["stdin batches (STDIN)"].requests
        ids = {kw["Item"]["id"]["S"] for op, kw in sample[:20] if op == "put_item"}
        for op, kw in sample:
            jid = (kw.get("Item") or kw.get("Key"))["id"]["S"]
            if jid in ids:
                getattr(ddb, op)(**{"TableName": h.res.table, **kw})
        out["_moto"] = Heat()
        out["_moto"].items = {jid: from_item(ddb.get_item(TableName=h.res.table,
                                                          Key={"id": {"S": jid}})["Item"])
                              for jid in ids}
        return out
    finally:
        if old is None:
            os.environ.pop("HYPER_HOME", None)
        else:
            os.environ["HYPER_HOME"] = old


def test_the_recorded_requests_are_accepted_by_dynamodb(heat_by_workload):
    items = heat_by_workload["_moto"].items
    assert len(items) == 20
    assert all(it["state"] == "SUCCEEDED" and schema.ACTIVE_KEY not in it for it in items.values())


@pytest.mark.parametrize("workload", ["stdin batches (STDIN)", "qsub -c singles (command)",
                                      "API batches (job)",
                                      "one 10,000-task array",
                                      "named stdin batch (run7)"])
def test_no_partition_takes_more_than_500_writes_a_second(heat_by_workload, workload, capsys):
    heat = heat_by_workload[workload]
    hottest = heat.hottest()
    with capsys.disabled():
        print(f"\n{workload}: hottest partition per index at {RATE:,} jobs/s: " + ", ".join(
            f"{index} {n} ({key})" for index, (key, n) in sorted(hottest.items())))
    assert sum(n for (index, _), n in heat.writes.items() if index == "table") >= 3 * RATE
    too_hot = {index: kn for index, kn in hottest.items() if kn[1] > LIMIT}
    assert not too_hot, f"partitions over {LIMIT} writes/s: {too_hot}"


@pytest.mark.parametrize("workload,group_items", [("stdin batches (STDIN)", 10),
                                                  ("API batches (job)", 10),
                                                  ("one 10,000-task array", 1),
                                                  ("named stdin batch (run7)", 1)])
def test_a_batch_writes_by_queue_once_per_group_item(heat_by_workload, workload, group_items):
    """The jobs of a batch have no by_queue entry of their own: the only by_queue writes are
    the group items' (hyper_tui.aws.groups), counted in the heat above."""
    from hyper_tui.aws import groups

    heat = heat_by_workload[workload]
    made = [k for k in heat.items if groups.is_group_id(k)]
    assert len(made) == group_items
    assert sum(n for (index, _), n in heat.writes.items() if index == "by_queue") == group_items
