"""AWS requests (and their cost) per job on an aws host: submit and run N jobs against moto.

    .venv/bin/python bench/bench_aws_requests.py [--jobs 100] [--workers 1] [--job-seconds 0] [--json]

A moto server on 127.0.0.1 stands in for AWS (never real AWS). The host's table, queues and
log group are provisioned first (not counted); then every AWS call made to submit the jobs
(``AwsHostClient.submit``: one batch, like ``qsub --stdin``) and to run them to SUCCEEDED
(the worker agent with the aws transport, until it goes idle and exits) is counted with
botocore event hooks on the session: ``before-call`` (API calls) and ``before-send`` (HTTP
attempts, retries included). Each job prints a line, so logs are part of the figure.

Cost per million jobs at list prices (us-east-1, as assumed here):

* SQS: $0.40 per million requests (a request carries up to 64 KB);
* DynamoDB on-demand: $1.25 per million write request units (1 KB each; a transactional
  write costs 2 per item), $0.25 per million read request units (4 KB strongly consistent).
  A write of a job item also writes each global secondary index the item is in whose keys or
  projected attributes (``schema.INDEX_ATTRIBUTES``) it changes: ``by_queue`` and ``by_name``
  always, ``by_array`` for array tasks, and the sparse ``by_active`` while the job is active (its
  removal at the end is a write too). A heartbeat changes no projected attribute: table only.
  The meter counts index writes for puts from the item and for updates from the attributes the
  update expression names, on ``by_queue``, ``by_name`` and ``by_active`` (the bench's jobs are
  not array tasks; moto reports no consumed capacity to read instead);
* CloudWatch Logs: $0.50 per GB ingested (message bytes + 26 bytes per event);
* CloudWatch PutMetricData: $0.01 per 1,000 requests (not in the list above; shown apart).

The scaler Lambda (one pass a minute, whatever the number of jobs) is not per job and not
counted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRICE = {"sqs_request": 0.40e-6, "ddb_wru": 1.25e-6, "ddb_rru": 0.25e-6,
         "logs_gb": 0.50, "metric_request": 0.01e-3}
TARGET = 1.5


class Meter:
    """Counts calls, HTTP attempts, DynamoDB request units and log bytes of a session."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends: Counter[str] = Counter()
        self.wru = 0.0
        self.rru = 0.0
        self.log_bytes = 0
        self.phase = "setup"
        self.by_phase: Counter[str] = Counter()

    def attach(self, session) -> None:
        session.register("provide-client-params", self.on_params)
        session.register("before-send", self.on_send)

    def on_params(self, params=None, model=None, **kw) -> None:
        service = model.service_model.service_name if model is not None else "?"
        op = f"{service}.{model.name}" if model is not None else "?"
        if self.phase == "setup":
            return
        self.calls[op] += 1
        self.by_phase[self.phase] += 1
        params = params or {}
        if op == "dynamodb.BatchWriteItem":
            for reqs in params.get("RequestItems", {}).values():
                for r in reqs:
                    item = (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key")
                    units = math.ceil(_size(item) / 1024)
                    self.wru += units * (1 + _indexes_of(item))
        elif op == "dynamodb.TransactWriteItems":
            # items stay under 1 KB; a transactional write costs 2 units, in the indexes too
            for t in params.get("TransactItems", []):
                self.wru += 2 * (1 + _indexes_touched(t.get("Update") or {}))
        elif op == "dynamodb.UpdateItem":
            self.wru += 1 + _indexes_touched(params)
        elif op in ("dynamodb.PutItem", "dynamodb.DeleteItem"):
            self.wru += 1 + _indexes_of(params.get("Item") or params.get("Key"))
        elif op == "dynamodb.BatchGetItem":
            for spec in params.get("RequestItems", {}).values():
                self.rru += len(spec.get("Keys", [])) * (1 if spec.get("ConsistentRead") else 0.5)
        elif op == "dynamodb.GetItem":
            self.rru += 1 if params.get("ConsistentRead") else 0.5
        elif op == "cloudwatch-logs.PutLogEvents" or op == "logs.PutLogEvents":
            self.log_bytes += sum(len(e["message"].encode()) + 26 for e in params.get("logEvents", []))

    def on_send(self, request=None, **kw) -> None:
        if self.phase != "setup":
            self.sends[self.phase] += 1


JOB_INDEXES = ("by_queue", "by_name", "by_active")  # the bench's jobs are not array tasks


def _indexes_touched(update: dict) -> int:
    """How many of a job item's indexes an UpdateItem rewrites: those whose keys or projected
    attributes its update expression names."""
    from hyper_tui.aws import schema

    names = update.get("ExpressionAttributeNames", {})
    changed = {names.get(a, a) for a in re.findall(r"#\w+", update.get("UpdateExpression", ""))}
    touched = 0
    for name, pk, _, sk, _ in schema.INDEXES:
        if name in JOB_INDEXES and changed & ({pk, sk} | set(schema.index_attributes(name))):
            touched += 1
    return touched


def _indexes_of(item) -> int:
    """How many global secondary indexes a new item is written to (its index keys present)."""
    from hyper_tui.aws import schema

    return sum(1 for _, key, *_ in schema.INDEXES if key in (item or {}))


def _size(item) -> int:
    return len(json.dumps(item or {}, separators=(",", ":")).encode())


def run(jobs: int, workers: int, job_seconds: float = 0) -> dict:
    os.environ.setdefault("HYPER_HOME", tempfile.mkdtemp(prefix="hyper-bench-"))
    from hyper_tui.agent.loop import Agent, AgentOptions
    from hyper_tui.agent.transports.aws import AwsTransport
    from hyper_tui.core.jobs import Submission
    from tests.aws import moto_env
    from tests.aws.conftest import make_aws_host

    moto_env.shared_server()
    h = make_aws_host()
    meter = Meter()
    meter.attach(h.res.session)

    meter.phase = "submit"
    t0 = time.monotonic()
    ids = h.client.submit([Submission(queue="q1", definition="d1", name="bench",
                                      commands=[(f"sleep {job_seconds:g}; " if job_seconds else "")
                                                + f"echo job {i}" for i in range(jobs)])])
    submit_s = time.monotonic() - t0
    assert len(ids) == jobs

    meter.phase = "run"
    import threading

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
    meter.phase = "setup"
    counts = h.client.count_jobs(queue="q1")
    assert counts["SUCCEEDED"] == jobs, counts

    calls = sum(meter.calls.values())
    sqs = sum(n for op, n in meter.calls.items() if op.startswith("sqs."))
    metrics = sum(n for op, n in meter.calls.items() if op.startswith("cloudwatch.PutMetricData"))
    per_m = 1e6 / jobs
    cost = {
        "sqs": sqs * per_m * PRICE["sqs_request"],
        "dynamodb_writes": meter.wru * per_m * PRICE["ddb_wru"],
        "dynamodb_reads": meter.rru * per_m * PRICE["ddb_rru"],
        "logs_ingestion": meter.log_bytes * per_m / 2**30 * PRICE["logs_gb"],
    }
    return {
        "jobs": jobs, "workers": workers, "submit_s": round(submit_s, 2), "run_s": round(run_s, 2),
        "requests": calls, "requests_per_job": round(calls / jobs, 3),
        "http_attempts": sum(meter.sends.values()),
        "submit_requests": meter.by_phase["submit"], "run_requests": meter.by_phase["run"],
        "by_operation": dict(sorted(meter.calls.items(), key=lambda kv: -kv[1])),
        "dynamodb_wru_per_job": round(meter.wru / jobs, 3),
        "dynamodb_rru_per_job": round(meter.rru / jobs, 3),
        "log_bytes_per_job": round(meter.log_bytes / jobs, 1),
        "cost_per_million_jobs_usd": {k: round(v, 4) for k, v in cost.items()},
        "cost_per_million_jobs_total_usd": round(sum(cost.values()), 4),
        "metrics_cost_per_million_jobs_usd": round(metrics * per_m * PRICE["metric_request"], 4),
        "target_requests_per_job": TARGET,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=100)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--job-seconds", type=float, default=0,
                   help="each job sleeps this long first (heartbeats every lease/3 = 5 s here)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = run(args.jobs, args.workers, args.job_seconds)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['jobs']} jobs, {r['workers']} worker(s): submit {r['submit_s']}s, run {r['run_s']}s "
          "(moto on 127.0.0.1)")
    print(f"AWS requests: {r['requests']} in all = {r['requests_per_job']} per job "
          f"(submit {r['submit_requests']}, run {r['run_requests']}; "
          f"{r['http_attempts']} HTTP attempts with retries); target <= {TARGET} per job: "
          f"{'met' if r['requests_per_job'] <= TARGET else 'MISSED'}")
    for op, n in r["by_operation"].items():
        print(f"  {op:40s} {n:5d}  {n / r['jobs']:.3f}/job")
    print(f"DynamoDB: {r['dynamodb_wru_per_job']} write units and {r['dynamodb_rru_per_job']} read "
          f"units per job; logs: {r['log_bytes_per_job']} bytes per job")
    print("Cost per million jobs at list prices (SQS $0.40/M requests, DynamoDB on-demand "
          "$1.25/M writes, $0.25/M reads, CloudWatch Logs $0.50/GB):")
    for k, v in r["cost_per_million_jobs_usd"].items():
        print(f"  {k:18s} ${v:.4f}")
    print(f"  {'total':18s} ${r['cost_per_million_jobs_total_usd']:.4f}"
          f"   (+ PutMetricData at $0.01/1000: ${r['metrics_cost_per_million_jobs_usd']:.4f})")
    return 0 if r["requests_per_job"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
