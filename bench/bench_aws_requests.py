"""AWS requests (and their cost) per job on an aws host: submit and run jobs against moto.

    .venv/bin/python bench/bench_aws_requests.py                 # the three scenarios below
    .venv/bin/python bench/bench_aws_requests.py --jobs 100 [--workers 1] [--job-seconds 0] [--json]

Scenarios (default): 100 short jobs, 1,000 short jobs (one ``qsub --stdin`` batch each, one
worker) and 2 jobs of 30 s on 2 workers. Each prints write units, read units, requests and
dollars per million jobs, with the ratio to ``BASELINE``: the same scenario measured on main
before the aws-scale work (commit 85f3d60), kept here as the first line of each scenario.

A moto server on 127.0.0.1 stands in for AWS (never real AWS). The host's table, queues and
log group are provisioned first (not counted); then every AWS call made to submit the jobs
(``AwsHostClient.submit``) and to run them to SUCCEEDED (the worker agent with the aws
transport, until it goes idle and exits) is counted with botocore event hooks on the session:
``provide-client-params`` (API calls) and ``before-send`` (HTTP attempts, retries included).

DynamoDB write units are counted as DynamoDB bills them (moto reports no consumed capacity):
1 per KB of the item for the table, and for each global secondary index the item is in, 1 when
a write changes an attribute the index keys or projects, 2 when it changes the index's key (the
old index entry is deleted, the new one written), 1 when the item enters or leaves the index.
The meter keeps which indexes each item is in (from its puts and the keys its updates set and
remove), so a sparse index an item is not in costs nothing. A transactional write costs twice.
Reads: 1 unit per strongly consistent item read (items are under 4 KB), half for eventually
consistent ones; a Query costs its items' bytes / 4 KB (counted as 1 unit per call here, the
bench's runs query nothing).

Where a short job's write units go now (default name, no array; the indexes project keys
only): submit 2 (the item, by_active's QUEUED group; the jobs of a ``--stdin`` batch have no
by_queue entry of their own: one group item lists them, hyper_tui.aws.groups), start 1 (the
item: RUNNING shares QUEUED's by_active group), report 2 (the item, leaving by_active) = 5,
plus each job's share of the batch's group item (its put and its by_queue entry), of the
outbox (one put and one delete per send) and of the counters Lambda's writes (one
transaction of the counter item and the batch's mark per queue per batch of 1,000 stream
records: 4 write units). A single job (``qsub -c``) has its own by_queue entry: 6.
``wru_by`` prints it per run. The host runs at its default lease (``schema.LEASE_SECONDS``):
a worker heartbeats every third of it.
Storage: the bench prints a job item's bytes and its index entries' (keys only, plus the 100
bytes DynamoDB counts per entry).

The scaler Lambda (one pass a minute, whatever the number of jobs) is not per job: the bench
runs none. That includes the Submitted and Finished metrics, which the scaler publishes from
the counters once a pass (submissions and workers make no PutMetricData). The counters Lambda
is per job: its calls (one per batch) are priced in the lambda row. Its batches are taken full
(1,000 records), as a steady load fills them; at a trickle its 1 s batching window
(infra/components/counters) makes them smaller: 4 write units per queue per second with
changes, whatever the jobs.

Dollars: the requests (the figure compared with the baseline, which priced nothing else) and,
added to make the total, storage: each finished job's item and index entries in the table and
its log records in the log group, kept ``RETENTION_DAYS`` (the host's default retention).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# List prices, us-east-1, on-demand, checked 2026-12-01 (the first tier of each; free tiers not
# applied):
# * DynamoDB on-demand since 2024-11-01: $0.625 per million write request units, $0.125 per
#   million read request units (aws.amazon.com/dynamodb/pricing/on-demand/, the November 2024
#   price cut of 50%).
# * SQS standard queues: $0.40 per million requests, each 64 KB chunk of a payload a request
#   (cloudburn.io/blog/amazon-sqs-pricing, "all prices for US East as of March 2026";
#   factualminds.com, "us-east-1, June 2026").
# * CloudWatch Logs standard ingestion: $0.50 per GB (aws.amazon.com/cloudwatch/pricing/);
#   each event counts its message bytes + 26.
# * CloudWatch metrics API requests (PutMetricData): $0.01 per 1,000 requests
#   (aws.amazon.com/cloudwatch/pricing/).
# * Lambda: $0.20 per million requests + $0.0000166667 per GB-second, x86
#   (docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html).
# * DynamoDB storage (Standard table class): $0.25 per GB-month, each item and each index
#   entry counted with 100 bytes of overhead (aws.amazon.com/dynamodb/pricing/on-demand/).
# * CloudWatch Logs storage (archival): $0.03 per GB-month, of the compressed bytes; priced
#   here on the uncompressed bytes (an upper bound) (aws.amazon.com/cloudwatch/pricing/).
# Each price re-checked 2026-12-07 against those pages' us-east-1 figures: unchanged.
# Streams read by the counters Lambda cost nothing (DynamoDB Streams: GetRecords calls of a
# Lambda trigger are free); PutLogEvents has no request charge (ingestion only).
PRICES_DATE = "2026-12-01"
PRICE = {"ddb_wru": 0.625e-6, "ddb_rru": 0.125e-6, "sqs_request": 0.40e-6, "logs_gb": 0.50,
         "metric_request": 0.01e-3, "lambda_request": 0.20e-6, "lambda_gb_s": 0.0000166667,
         "ddb_gb_month": 0.25, "logs_gb_month": 0.03}
# A finished job is kept this long (its item, its index entries and its log records): the
# host's default ``job_retention_days`` (hyper_tui.model.HostSettings), the jobs table's TTL
# and the log group's retention.
RETENTION_DAYS = 30
DAYS_PER_MONTH = 365.25 / 12
COUNTERS_BATCH = 1000  # records a counters Lambda call takes (infra/components/counters)
# The counters Lambda: 128 MB, about 100 ms a batch (one transaction a queue).
LAMBDA_GB_S_PER_CALL = 0.128 * 0.1
TARGET_WRU_SHORT = 6.0          # write units per short job, end to end
TARGET_USD_SHORT = 4.0          # $ per million short jobs, the control plane
TARGET_REQUESTS_30S = 2.0       # requests per 30 s job to learn of a cancel (issue 14, point 4)

# Main before the aws-scale work (85f3d60), the same scenarios and meter, at PRICE; its dollars
# are those of the requests (it priced no storage), so the ratio compares those.
BASELINE: dict[str, dict[str, float]] = {
    "short-100": {"wru_per_job": 12.09, "rru_per_job": 1.0, "requests_per_job": 3.21,
                  "usd_per_million_requests": 8.0372},
    "short-1000": {"wru_per_job": 12.061, "rru_per_job": 1.0, "requests_per_job": 3.105,
                   "usd_per_million_requests": 7.822},
    "30s": {"wru_per_job": 19.5, "rru_per_job": 16.5, "requests_per_job": 41.0,
            "usd_per_million_requests": 28.68},
}


class Meter:
    """Counts calls, HTTP attempts, DynamoDB request units and log bytes of a session."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends = 0
        self.wru = 0.0
        self.rru = 0.0
        self.log_bytes = 0
        self.phase = "setup"
        self.by_phase: Counter[str] = Counter()
        self.member: dict[str, set[str]] = {}  # item id -> the indexes it is in
        self.keys: dict[str, dict[str, str]] = {}  # item id -> its index key values
        self.sizes: dict[str, int] = {}  # item id -> its size in bytes (DynamoDB's count)
        self.wru_by: Counter[str] = Counter()  # what the write units were spent on
        self.writes_by: Counter[str] = Counter()
        self._what = ""
        self._parts: Counter[str] = Counter()  # a BatchWriteItem's units by what they wrote
        self.cancel_polls = 0  # long polls of the workers' control queues (cancel notices)

    def attach(self, session) -> None:
        session.register("provide-client-params", self.on_params)
        session.register("before-send", self.on_send)

    def on_params(self, params=None, model=None, **kw) -> None:
        if model is None:
            return
        op = f"{model.service_model.service_name}.{model.name}"
        params = params or {}
        if self.phase == "setup":
            if op in ("dynamodb.BatchWriteItem", "dynamodb.PutItem", "dynamodb.UpdateItem"):
                self._writes(op, params)  # keep the index membership right
            return
        if self.phase == "stream" and op not in ("dynamodb.TransactWriteItems",
                                                 "dynamodb.GetItem"):
            return  # the Lambda's reads of the stream: part of the event source, not billed
        self.calls[op] += 1
        self.by_phase[self.phase] += 1
        if op == "sqs.ReceiveMessage" and "-ctl-" in str(params.get("QueueUrl", "")):
            self.cancel_polls += 1
        self._what = ""
        self._parts = Counter()
        units = self._writes(op, params)
        # a BatchWriteItem's units go to what each of its items is (jobs, a group item)
        for what, part in (self._parts or {self._what: units}).items():
            if part:
                label = f"{self.phase}: {op.split('.')[1]} {what}".rstrip()
                self.wru_by[label] += part
                self.writes_by[label] += 1
        self.wru += units
        if op == "dynamodb.BatchGetItem":
            for spec in params.get("RequestItems", {}).values():
                self.rru += len(spec.get("Keys", [])) * (1 if spec.get("ConsistentRead") else 0.5)
        elif op == "dynamodb.GetItem":
            self.rru += 1 if params.get("ConsistentRead") else 0.5
        elif op in ("dynamodb.Query", "dynamodb.Scan"):
            self.rru += 1
        elif op == "logs.PutLogEvents":
            self.log_bytes += sum(len(e["message"].encode()) + 26 for e in params.get("logEvents", []))

    def _writes(self, op: str, params: dict) -> float:
        if op == "dynamodb.BatchWriteItem":
            total = 0.0
            for reqs in params.get("RequestItems", {}).values():
                for r in reqs:
                    units = (self._put(r["PutRequest"]["Item"]) if "PutRequest" in r
                             else self._delete(r["DeleteRequest"]["Key"]))
                    self._parts[self._what] += units
                    total += units
            return total
        if op == "dynamodb.PutItem":
            return self._put(params["Item"])
        if op == "dynamodb.DeleteItem":
            return self._delete(params["Key"])
        if op == "dynamodb.UpdateItem":
            return self._update(params)
        if op == "dynamodb.TransactWriteItems":
            return 2 * sum(self._update(t["Update"]) for t in params.get("TransactItems", [])
                           if "Update" in t)
        return 0.0

    def _put(self, item: dict) -> float:
        from hyper_tui.aws import schema

        jid = item["id"]["S"]
        old = self.member.get(jid, set())
        new = {name for name, pk, _, sk, _ in schema.INDEXES if pk in item and sk in item}
        self.member[jid] = new
        self.keys[jid] = {pk: item[pk]["S"] for _, pk, _, _, _ in schema.INDEXES if pk in item}
        size = item_size(item)
        units = max(math.ceil(size / 1024), math.ceil(self.sizes.get(jid, 0) / 1024))
        self.sizes[jid] = size
        self._what = _kind(jid, item)
        return units + len(new) + len(old - new)

    def _delete(self, key: dict) -> float:
        jid = key["id"]["S"]
        self._what = _kind(jid, {})
        self.keys.pop(jid, None)
        return max(1, math.ceil(self.sizes.pop(jid, 0) / 1024)) + len(self.member.pop(jid, set()))

    def _update(self, update: dict) -> float:
        """1 per KB of the item for the table, and per index the item is in (or enters or
        leaves): 2 for a key changed to another value, 1 for an entry, an exit or a projected
        attribute changed (the indexes project keys only: schema.PROJECTION)."""
        from hyper_tui.aws import schema

        jid = update["Key"]["id"]["S"]
        names = update.get("ExpressionAttributeNames", {})
        values = update.get("ExpressionAttributeValues", {})
        expr = update.get("UpdateExpression", "")
        removed_part = re.search(r"REMOVE (.*?)(?: SET | ADD |$)", expr)
        removed = {names.get(a, a) for a in re.findall(r"#\w+", removed_part.group(1))} \
            if removed_part else set()
        assigned = {names.get(a, a): values.get(v, {}).get("S")
                    for a, v in re.findall(r"(#\w+) = (:v\d+)", expr)}
        changed = {names.get(a, a) for a in re.findall(r"#\w+(?=\s*=|\s+:|\s*,|\s*$)", expr)}
        changed |= removed
        state = assigned.get("state")
        self._what = _kind(jid, {}) or (f"state -> {state}" if state else
                                        "heartbeat" if "heartbeat" in changed else "other")
        member = self.member.setdefault(jid, set())
        keys = self.keys.setdefault(jid, {})
        units = float(max(1, math.ceil(self.sizes.get(jid, 0) / 1024)))
        for name, pk, *_ in schema.INDEXES:
            if name in member:
                if pk in removed:
                    member.discard(name)
                    keys.pop(pk, None)
                    units += 1
                elif pk in assigned and assigned[pk] != keys.get(pk):
                    keys[pk] = assigned[pk]
                    units += 2
                elif changed & set(schema.index_attributes(name)):
                    units += 1
            elif pk in assigned and pk not in removed:
                member.add(name)  # enters the (sparse) index
                keys[pk] = assigned[pk]
                units += 1
        return units

    def on_send(self, request=None, **kw) -> None:
        if self.phase != "setup":
            self.sends += 1


def _kind(jid: str, item: dict) -> str:
    if jid.startswith("count#"):
        return "counters (stream Lambda)"
    if jid.startswith("outbox#"):
        return "outbox"
    if jid.startswith("spec#"):
        return "array spec"
    if jid.endswith("#group"):
        return "submission group (the batch's by_queue listing)"
    return "job" if item else ""


def attr_size(a: dict) -> int:
    """Bytes of one attribute value as DynamoDB counts them (docs: item sizes)."""
    (t, v), = a.items()
    if t == "S":
        return len(v.encode())
    if t == "N":
        digits = len(v.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if t in ("BOOL", "NULL"):
        return 1
    if t == "L":
        return 3 + sum(attr_size(x) + 1 for x in v)
    if t == "M":
        return 3 + sum(len(k.encode()) + attr_size(x) + 1 for k, x in v.items())
    return len(json.dumps(v))


def item_size(item: dict) -> int:
    return sum(len(k.encode()) + attr_size(v) for k, v in (item or {}).items())


INDEX_OVERHEAD = 100  # bytes DynamoDB adds to each index entry's storage (GSI storage docs)


def index_entry_size(item: dict, pk: str) -> int:
    """Bytes of an item's entry in a KEYS_ONLY index: the table key, the index's keys and
    100 bytes of overhead."""
    keys = {k: item[k] for k in ("id", pk) if k in item}
    return item_size(keys) + INDEX_OVERHEAD


def run(jobs: int, workers: int, job_seconds: float = 0) -> dict:
    os.environ["HYPER_HOME"] = tempfile.mkdtemp(prefix="hyper-bench-")  # a fresh host per run
    from hyper_tui.agent.loop import Agent, AgentOptions
    from hyper_tui.agent.transports.aws import AwsTransport
    from hyper_tui.aws import schema
    from hyper_tui.core.jobs import Submission
    from tests.aws import moto_env
    from tests.aws.conftest import make_aws_host

    moto_env.reset(moto_env.shared_server())
    h = make_aws_host(lease=schema.LEASE_SECONDS)  # the host's default lease
    meter = Meter()
    meter.attach(h.res.session)

    meter.phase = "submit"
    t0 = time.monotonic()
    # qsub --stdin: one batch, the default name
    ids = h.client.submit([Submission(queue="q1", definition="d1", name="STDIN",
                                      commands=[(f"sleep {job_seconds:g}; " if job_seconds else "")
                                                + f"echo job {i}" for i in range(jobs)])])
    submit_s = time.monotonic() - t0
    assert len(ids) == jobs

    meter.phase = "run"
    done: list[int] = []
    t0 = time.monotonic()

    def work(i: int) -> None:
        t = AwsTransport.for_host(h.cfg, worker_id=f"w-bench-{i}", queue="q1", definition="d1",
                                  session=h.res.session, poll_wait=1)
        done.append(Agent(t, AgentOptions(idle_timeout=1.0, heartbeat_every=1.0)).run())
        t.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run_s = time.monotonic() - t0
    # The counters Lambda on the table's stream (infra/components/counters): its writes are
    # the jobs' too. Its reads of the stream are free (DynamoDB Streams read by Lambda).
    meter.phase = "stream"
    h.res.stream.batch = COUNTERS_BATCH
    invocations = h.res.stream.pump()
    meter.phase = "setup"
    counts = h.client.count_jobs(queue="q1")
    assert counts["SUCCEEDED"] == jobs, counts
    ddb = h.res.session.client("dynamodb")
    items = [raw for page in ddb.get_paginator("scan").paginate(
                 TableName=h.res.table, PaginationConfig={"PageSize": 100})
             for raw in page.get("Items", [])]
    job_items = [it for it in items if "state" in it and "kind" not in it]
    sizes = sorted(item_size(it) for it in job_items)

    entries = {name: sorted(index_entry_size(it, pk) for it in job_items if pk in it)
               for name, pk, *_ in schema.INDEXES}
    # The batch's jobs have no by_queue entry: its group items (hyper_tui.aws.groups) and
    # their by_queue entries are shared by the jobs they list.
    group_items = [it for it in items if it.get("kind", {}).get("S") == "group"]
    group_share = sum(item_size(it) + INDEX_OVERHEAD + index_entry_size(it, "queue_shard")
                      for it in group_items) / jobs
    # An active job is in by_active (left at its final state, so the finished jobs scanned
    # here are not): its entry, keyed "{queue}#QUEUED#{shard}".
    active = sorted(index_entry_size({"id": it["id"], schema.ACTIVE_KEY: {"S": schema.active_key(
        it["queue"]["S"], "QUEUED", it["id"]["S"])}}, schema.ACTIVE_KEY) for it in job_items)
    queued_entry = active[len(active) // 2] if active else 0
    median = sizes[len(sizes) // 2] if sizes else 0
    listed = sum(e[len(e) // 2] for e in entries.values() if e)
    storage = {
        "job_item_bytes_median": median,
        "job_item_bytes_max": sizes[-1] if sizes else 0,
        "index_entry_bytes": {n: (e[len(e) // 2] if e else 0) for n, e in entries.items()},
        "group_bytes_per_job": round(group_share, 1),
        "queued_job_bytes_with_index_copies": round(
            median + INDEX_OVERHEAD + queued_entry + listed + group_share),
        "finished_job_bytes_with_index_copies": round(
            median + INDEX_OVERHEAD + listed + group_share),
    }
    lambda_calls = len(invocations)

    calls = sum(meter.calls.values())
    sqs = sum(n for op, n in meter.calls.items() if op.startswith("sqs."))
    metrics = sum(n for op, n in meter.calls.items() if op == "cloudwatch.PutMetricData")
    per_m = 1e6 / jobs
    cost = {
        "dynamodb_writes": meter.wru * per_m * PRICE["ddb_wru"],
        "dynamodb_reads": meter.rru * per_m * PRICE["ddb_rru"],
        "sqs": sqs * per_m * PRICE["sqs_request"],
        "logs_ingestion": meter.log_bytes * per_m / 1e9 * PRICE["logs_gb"],
        "metrics": metrics * per_m * PRICE["metric_request"],
        "lambda": lambda_calls * per_m * (PRICE["lambda_request"]
                                          + LAMBDA_GB_S_PER_CALL * PRICE["lambda_gb_s"]),
        # what keeping each finished job for the retention costs: its item and index entries
        # in the table, its log records in the log group
        "dynamodb_storage": storage["finished_job_bytes_with_index_copies"] * 1e6 / 1e9
        * PRICE["ddb_gb_month"] * RETENTION_DAYS / DAYS_PER_MONTH,
        "logs_storage": meter.log_bytes * per_m / 1e9 * PRICE["logs_gb_month"]
        * RETENTION_DAYS / DAYS_PER_MONTH,
    }
    base_ops = ("dynamodb.BatchWriteItem", "sqs.SendMessageBatch")
    submit_start_report = sum(n for op, n in meter.calls.items() if op in base_ops) \
        + meter.by_phase["submit"] * 0 + 2 * jobs  # start and report: one UpdateItem each
    return {
        "jobs": jobs, "workers": workers, "job_seconds": job_seconds,
        "submit_s": round(submit_s, 2), "run_s": round(run_s, 2),
        "requests": calls, "requests_per_job": round(calls / jobs, 3),
        "other_requests_per_job": round((calls - submit_start_report) / jobs, 3),
        "cancel_requests_per_job": round(meter.cancel_polls / jobs, 3),
        "http_attempts": meter.sends,
        "by_operation": dict(sorted(meter.calls.items(), key=lambda kv: -kv[1])),
        "wru_per_job": round(meter.wru / jobs, 3),
        "rru_per_job": round(meter.rru / jobs, 3),
        "log_bytes_per_job": round(meter.log_bytes / jobs, 1),
        "wru_by": {k: round(v / jobs, 3) for k, v in sorted(meter.wru_by.items(),
                                                            key=lambda kv: -kv[1])},
        "stream_lambda_invocations": lambda_calls,
        "storage": storage,
        "usd_per_million": {k: round(v, 4) for k, v in cost.items()},
        "usd_per_million_requests": round(sum(v for k, v in cost.items()
                                              if not k.endswith("_storage")), 4),
        "usd_per_million_total": round(sum(cost.values()), 4),
    }


SCENARIOS = {"short-100": (100, 1, 0.0), "short-1000": (1000, 1, 0.0), "30s": (2, 2, 30.0)}
FIGURES = ("wru_per_job", "rru_per_job", "requests_per_job", "usd_per_million_requests")


def _line(label: str, r: dict) -> str:
    return (f"  {label:9s} {r['wru_per_job']:7.2f} WRU {r['rru_per_job']:6.2f} RRU "
            f"{r['requests_per_job']:7.2f} requests   ${r['usd_per_million_requests']:8.4f} per M jobs"
            + (f" (${r['usd_per_million_total']:.4f} with {RETENTION_DAYS} days' storage)"
               if "usd_per_million_total" in r else ""))


def report(name: str, r: dict) -> None:
    print(f"{name}: {r['jobs']} jobs of {r['job_seconds']:g}s on {r['workers']} worker(s): "
          f"submit {r['submit_s']}s, run {r['run_s']}s (moto on 127.0.0.1)")
    base = BASELINE.get(name)
    if base:
        print(_line("baseline", base))
    print(_line("now", r))
    if base:
        print("  ratio     " + "   ".join(
            f"{f.split('_')[0]} {r[f] / base[f]:.2f}x" if base[f] else f"{f} -" for f in FIGURES))
    for op, n in r["by_operation"].items():
        print(f"    {op:36s} {n:6d}  {n / r['jobs']:.3f}/job")
    print("    write units per job, by what they were spent on:")
    for what, units in r["wru_by"].items():
        print(f"      {what:52s} {units:6.3f}")
    st = r["storage"]
    print(f"    bytes: job item {st['job_item_bytes_median']} (max {st['job_item_bytes_max']}), "
          "index entries " + ", ".join(f"{n} {b}" for n, b in st["index_entry_bytes"].items())
          + f", its share of its batch's group items {st['group_bytes_per_job']}"
          + f"; a queued job with its index copies {st['queued_job_bytes_with_index_copies']}, "
          f"a finished one {st['finished_job_bytes_with_index_copies']} (100 B overhead each)")
    print("    $ per M jobs: " + ", ".join(f"{k} {v:.4f}" for k, v in r["usd_per_million"].items()))
    if r["job_seconds"] == 0:
        ok = r["wru_per_job"] <= TARGET_WRU_SHORT
        print(f"  write units per short job end to end: {r['wru_per_job']} (target <= "
              f"{TARGET_WRU_SHORT:g}: {'met' if ok else 'MISSED'}); control plane "
              f"${r['usd_per_million_total']:.2f} per M with {RETENTION_DAYS} days' storage, "
              f"${r['usd_per_million_requests']:.2f} without (target <= ${TARGET_USD_SHORT:g}: "
              f"{'met' if r['usd_per_million_total'] <= TARGET_USD_SHORT else 'MISSED'})")
    else:
        ok = r["cancel_requests_per_job"] <= TARGET_REQUESTS_30S
        print(f"  requests per {r['job_seconds']:g} s job to learn of a cancel (long polls of "
              f"the worker's control queue): {r['cancel_requests_per_job']} (target <= "
              f"{TARGET_REQUESTS_30S:g}: {'met' if ok else 'MISSED'})")
        print(f"  requests per {r['job_seconds']:g} s job besides submit, start and report: "
              f"{r['other_requests_per_job']} (reference: here each worker lives for one job, "
              "so its start and stop, control queue included, are charged to that job)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, help="one custom run instead of the scenarios")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--job-seconds", type=float, default=0,
                   help="each job sleeps this long first")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.jobs:
        runs = {"custom": run(args.jobs, args.workers, args.job_seconds)}
    else:
        runs = {n: run(*SCENARIOS[n]) for n in (args.scenario or SCENARIOS)}
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    print(f"Prices of {PRICES_DATE} (us-east-1): DynamoDB $0.625/M writes, $0.125/M reads, "
          "$0.25/GB-month stored; SQS $0.40/M requests; Logs $0.50/GB in, $0.03/GB-month stored; "
          "PutMetricData $0.01/1000; Lambda $0.20/M requests + $0.0000166667/GB-s")
    for name, r in runs.items():
        report(name, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
