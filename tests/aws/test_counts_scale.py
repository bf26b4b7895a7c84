"""Counts that never read jobs (issue 14, deliverable 3): ``qstat``'s summary and counts, the
dashboard's data (the client's ``metrics``) and a scaler pass read the same items however
many jobs the table keeps.

Read units are metered with a botocore hook on the session (BatchGetItem: 0.5 a key,
eventually consistent; GetItem: 1 or 0.5; Query and Scan: what they return, at least 1). The
retained jobs are real items in the table: 1,000 run through the client and a worker, then
9,000 more finished items written with BatchWriteItem straight into the table and 90,000 more
of which only the counts exist (moto takes minutes for 99,000 writes: the reads are measured,
and they touch no job either way), with their counts fed to the counters
through the stream handler exactly as the Lambda would; the 1,000,000-job backlog of the
scaler pass is the counters' (writing 1M items into moto would take an hour)."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hyper_tui.aws import counters, schema
from hyper_tui.aws.table import to_item
from hyper_tui.core.jobs import Submission
from tests.aws import moto_env
from tests.aws.conftest import make_aws_host


class ReadMeter:
    def __init__(self, session: Any) -> None:
        self.units = 0.0
        self.items = 0
        self.calls: Counter[str] = Counter()
        session.register("provide-client-params.dynamodb", self.before)
        session.register("after-call.dynamodb", self.after)

    def before(self, params=None, model=None, **kw) -> None:
        self.calls[model.name] += 1
        if model.name == "BatchGetItem":
            for spec in params["RequestItems"].values():
                self.units += len(spec["Keys"]) * (1 if spec.get("ConsistentRead") else 0.5)
                self.items += len(spec["Keys"])
        elif model.name == "GetItem":
            self.units += 1 if params.get("ConsistentRead") else 0.5
            self.items += 1

    def after(self, parsed=None, model=None, **kw) -> None:
        if model.name in ("Query", "Scan"):
            n = int((parsed or {}).get("ScannedCount", 0))
            self.items += n
            self.units += max(1.0, n * 0.5 / 40)  # ~100 B entries, 4 KB a unit, eventual

    def reset(self) -> tuple[float, int, dict[str, int]]:
        out = (self.units, self.items, dict(self.calls))
        self.units, self.items, self.calls = 0.0, 0, Counter()
        return out


def retain(h: Any, n: int, *, queue: str = "q1") -> None:
    """``n`` finished jobs written straight into the table (and, as the stream would, into
    the counters): what a host keeps for its retention."""
    ddb = h.res.session.client("dynamodb")
    now = time.time()
    items = []
    for i in range(n):
        jid = schema.new_job_id(now) + f"{i:06d}"
        items.append(to_item({"id": jid, "queue": queue, "definition": "d1", "name": "STDIN",
                              "state": "SUCCEEDED", "attempt": 1, "submitted": now,
                              "ended": now, "exit_code": 0,
                              "queue_shard": schema.queue_shard(queue, jid),
                              schema.TTL_ATTRIBUTE: int(now + 86400)}))

    def write(chunk: list[dict[str, Any]]) -> None:
        req = {h.res.table: [{"PutRequest": {"Item": it}} for it in chunk]}
        while req:
            req = ddb.batch_write_item(RequestItems=req).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, [items[i:i + 25] for i in range(0, n, 25)]))


def refresh(h: Any, meter: ReadMeter) -> tuple[float, int, dict[str, int]]:
    """What qstat (summary and counts) and the dashboard (summary and metrics) read."""
    h.res.stream.pump()  # the Lambda has kept up: not part of a refresh
    h.res.stream.auto = False
    meter.reset()
    h.client._summary = None
    h.client._metrics = None
    summary = h.client.summary()
    counts = h.client.count_jobs(queue="q1")
    h.client.metrics(time.time() - 600)
    h.res.stream.auto = True
    assert summary["q1"] == counts
    return meter.reset()


def test_qstat_and_dashboard_read_the_same_at_1000_and_100000_jobs(home) -> None:
    h = make_aws_host()
    meter = ReadMeter(h.res.session)
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN",
                                commands=["true"] * 1000)])
    pump_records_written_as_finished(h, 1000)
    small = refresh(h, meter)
    assert h.client.count_jobs(queue="q1")["SUCCEEDED"] == 1000

    t0 = time.monotonic()
    h.res.stream.auto = False
    retain(h, 9_000)
    # The stream of those writes, as the Lambda would take it, and 90,000 more jobs'.
    counters.apply_deltas(h.res.session.client("dynamodb"), h.res.table,
                          {"q1": {"SUCCEEDED": 99_000}})
    h.res.stream.records()  # (moto's stream of the direct writes: already counted above)
    h.res.stream.auto = True
    big = refresh(h, meter)
    assert h.client.count_jobs(queue="q1")["SUCCEEDED"] == 100_000
    print(f"\nqstat + dashboard refresh: 1,000 jobs {small[0]:g} read units ({small[1]} items, "
          f"{small[2]}); 100,000 jobs {big[0]:g} read units ({big[1]} items, {big[2]}); "
          f"9,000 items written in {time.monotonic() - t0:.0f}s")
    assert big[:2] == small[:2]
    assert "Query" not in big[2] and "Scan" not in big[2]


def pump_records_written_as_finished(h: Any, n: int) -> None:
    """The submitted jobs, marked SUCCEEDED as a worker would (one conditional update each,
    through the real Update builder), then the stream into the counters."""
    from hyper_tui.aws.table import Update, run_updates

    ddb = h.res.session.client("dynamodb")
    ids = [it["id"]["S"] for page in ddb.get_paginator("scan").paginate(TableName=h.res.table)
           for it in page["Items"] if it.get("state", {}).get("S") == "QUEUED"]
    assert len(ids) == n
    ops = [Update(h.res.table, jid, queue="q1").set("state", "SUCCEEDED").set("exit_code", 0)
           .when("state", "=", "QUEUED").kwargs() for jid in ids]
    assert run_updates(ddb, ops) == [None] * n


def test_a_scaler_pass_reads_the_same_with_a_million_jobs_queued(home) -> None:
    from hyper_tui.aws.scaler import run_scaler
    from hyper_tui.aws.scaler_config import build_scaler_config

    h = make_aws_host(definitions={"d1": {"jobs_to_workers_ratio": 1000}})
    moto_env.batch_setup(h.res.session, h.name, "c1", ["d1"])
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    ddb = h.res.session.client("dynamodb")
    meter = ReadMeter(h.res.session)
    # Ten real jobs (ten messages, one each: the workers a pass may launch are bounded by the
    # visible messages), then the counters of a million.
    h.client.submit([Submission(queue="q1", definition="d1", name="STDIN",
                                commands=["true"] * 10)])
    h.res.stream.pump()
    seen = []
    for backlog in (10, 1_000_000):
        h.res.stream.auto = False
        now = counters.backlog(ddb, h.res.table, "q1")[0].get(("d1", "QUEUED"), 0)
        counters.apply_deltas(ddb, h.res.table, {"q1": {
            "QUEUED": backlog - now, counters.pair_attribute("d1", "QUEUED"): backlog - now}})
        meter.reset()
        out = run_scaler(sc, h.res.session, sweep=False, publish=False)
        units, items, calls = meter.reset()
        [p] = out["pairs"]
        assert out["errors"] == [] and p["queued"] == backlog and out["launched"], out
        seen.append((units, items))
        print(f"\nscaler pass, {backlog:,} jobs queued: {items} items read ({units:g} read "
              f"units, {calls}), desired {p['desired']} workers")
    assert seen[0] == seen[1]
