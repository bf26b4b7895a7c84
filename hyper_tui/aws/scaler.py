"""The aws scaler: a plain Python handler run every minute by a scheduled Lambda.

Each pass, for every (queue, definition) of ``ScalerConfig`` (a file in its Lambda asset):

1. settles dead-lettered work messages (``hyper_tui.agent.transports.aws.sweep_dead_letters``): their
   jobs FAIL with the reason, or are requeued when their worker was lost;
2. observes the backlog: QUEUED / RUNNING / PENDING jobs from the jobs table (the by_queue
   index, read up to a budget; past it the backlog is estimated from SQS
   ``ApproximateNumberOfMessages`` x ids per message), the visible work messages, and the
   workers already there (active AWS Batch jobs of the pair, per region);
3. decides with ``hyper_tui.core.scaling.decide`` - the decision the local daemon makes too -
   how many workers each region still needs, within each cluster's max vCPUs;
4. launches them as AWS Batch array jobs (``submit_job`` with ``arrayProperties`` when more
   than one, the HYPER_* worker environment in ``containerOverrides``);
5. publishes metrics: jobs by state per queue, backlog per definition, workers and vCPUs per
   region, dead-lettered jobs per queue.

Refreshed ``auto`` weights (``queues refresh-weights``) are read from the jobs table's
``schema.META_WEIGHTS_ID`` item every pass, so they apply without a redeploy.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.scaler_config import PairConfig, ScalerConfig, load_scaler_config
from hyper_tui.aws.session import AwsSession, error_code
from hyper_tui.aws.table import pages
from hyper_tui.core import scaling
from hyper_tui.core.scaling import Launch, PairDecision, PairObservation

ACTIVE_BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
COUNT_BUDGET = 20_000     # items read per queue per pass; past it the backlog is estimated
MAX_ARRAY_SIZE = 10_000   # AWS Batch's largest array job


# --------------------------------------------------------------------------------------------
# The decision: core.scaling.decide with the aws inputs


def batch_target(p: PairConfig, region: str) -> tuple[str, str]:
    """Where a worker of ``p`` starts in ``region``: its Batch job queue and job definition."""
    return p.batch_job_queue.get(region) or "", p.batch_job_definition.get(region) or ""


def decide(pairs: Sequence[PairConfig], observed: Mapping[tuple[str, str], PairObservation],
           *, max_launch: int = MAX_ARRAY_SIZE) -> list[PairDecision]:
    """:func:`hyper_tui.core.scaling.decide` (the local daemon's too) for the aws pairs: each
    launch is one Batch array job (at most ``max_launch`` tasks) on its region's job queue;
    the visible work messages bound the launches (``PairObservation.visible_messages``)."""
    return scaling.decide(pairs, observed, max_launch=max_launch, target=batch_target)


def worker_environment(cfg: ScalerConfig, p: PairConfig, region: str) -> dict[str, str]:
    """The HYPER_* environment (schema.WORKER_ENV) of a worker container of ``p``."""
    return {
        "HYPER_HOST": cfg.host, "HYPER_MAIN_REGION": cfg.main_region,
        "HYPER_JOBS_TABLE": cfg.jobs_table, "HYPER_WORK_QUEUE_URL": p.work_queue_url,
        "HYPER_LOG_GROUP": schema.log_group_name(cfg.host), "HYPER_QUEUE": p.queue,
        "HYPER_DEFINITION": p.definition, "HYPER_REGION": region,
        "HYPER_METRICS_NAMESPACE": cfg.namespace,
    }


def apply_weights(pairs: Sequence[PairConfig], weights: Mapping[str, Mapping[str, int]]
                  ) -> list[PairConfig]:
    """Pairs with refreshed weights for their queues (regions without compute are ignored)."""
    out = []
    for p in pairs:
        new = weights.get(p.queue)
        if new:
            regions = set(p.batch_job_queue) or set(p.weights)
            w = {r: int(new.get(r, 0)) for r in sorted(regions)}
            if any(v > 0 for v in w.values()):
                p = replace(p, weights=w)
        out.append(p)
    return out


# --------------------------------------------------------------------------------------------
# Observing


def active_worker_jobs(batch: Any, job_queues: Sequence[str]) -> list[dict[str, Any]]:
    """Active worker (array) jobs on Batch job queues: ``{id, name, status, count, created}``,
    ``count`` = array tasks not finished yet."""
    found: list[dict[str, Any]] = []
    for jq in job_queues:
        try:
            for status in ACTIVE_BATCH_STATUSES:
                for page in batch.get_paginator("list_jobs").paginate(jobQueue=jq,
                                                                      jobStatus=status):
                    for j in page.get("jobSummaryList") or []:
                        size = (j.get("arrayProperties") or {}).get("size")
                        found.append({"id": j["jobId"], "name": j.get("jobName", ""),
                                      "status": j.get("status", status), "size": size,
                                      "count": 1 if not size else int(size),
                                      "created": (j.get("createdAt") or 0) / 1000.0})
        except Exception as err:
            if error_code(err) == "ClientException" and "does not exist" in str(err):
                continue  # the cluster is not deployed in this region (yet)
            raise
    arrays = [j for j in found if j["size"]]
    for i in range(0, len(arrays), 100):
        chunk = arrays[i:i + 100]
        by_id = {j["id"]: j for j in chunk}
        for d in batch.describe_jobs(jobs=list(by_id)).get("jobs") or []:
            j = by_id.get(d.get("jobId"))
            summary = (d.get("arrayProperties") or {}).get("statusSummary") or {}
            if j is not None and summary:
                j["count"] = max(0, int(j["size"]) - int(summary.get("SUCCEEDED", 0))
                                 - int(summary.get("FAILED", 0)))
    return [j for j in found if j["count"] > 0]


def count_jobs(ddb: Any, table: str, queue: str, *, budget: int = COUNT_BUDGET
               ) -> tuple[dict[tuple[str, str], int], bool]:
    """Active jobs of a queue by (definition, state), and whether the count is complete
    (False when the budget of items read ran out first)."""
    per_shard = max(1, budget // len(schema.active_partitions(queue)))

    def shard(s: str) -> tuple[dict[tuple[str, str], int], bool]:
        counts: dict[tuple[str, str], int] = {}
        kw: dict[str, Any] = {
            "TableName": table, "IndexName": "by_active",  # sparse: active jobs only
            "KeyConditionExpression": "#k = :k", "FilterExpression": "#s IN (:p, :q, :r)",
            "ProjectionExpression": "#d, #s",
            "ExpressionAttributeNames": {"#k": schema.ACTIVE_KEY, "#s": "state",
                                         "#d": "definition"},
            "ExpressionAttributeValues": {":k": {"S": s}, ":p": {"S": "PENDING"},
                                          ":q": {"S": "QUEUED"}, ":r": {"S": "RUNNING"}}}
        read = 0
        for resp in pages(ddb.query, **kw):  # stops early: no page is asked past the budget
            read += int(resp.get("ScannedCount", 0))
            for it in resp.get("Items") or []:
                key = (it.get("definition", {}).get("S", "?"), it.get("state", {}).get("S", "?"))
                counts[key] = counts.get(key, 0) + 1
            if not resp.get("LastEvaluatedKey"):
                return counts, True
            if read >= per_shard:
                return counts, False
        return counts, True

    total: dict[tuple[str, str], int] = {}
    complete = True
    with ThreadPoolExecutor(max_workers=8) as pool:
        for counts, done in pool.map(shard, schema.active_partitions(queue)):
            complete = complete and done
            for k, n in counts.items():
                total[k] = total.get(k, 0) + n
    return total, complete


def dead_letter_url(work_queue_url: str, host: str, queue: str, definition: str) -> str:
    return work_queue_url.rsplit("/", 1)[0] + "/" + schema.dead_letter_queue_name(host, queue,
                                                                                  definition)


def read_weights(ddb: Any, table: str) -> dict[str, dict[str, int]]:
    from hyper_tui.aws.table import from_item

    resp = ddb.get_item(TableName=table, Key={"id": {"S": schema.META_WEIGHTS_ID}},
                        ConsistentRead=True)
    item = from_item(resp.get("Item") or {})
    weights = item.get("weights") or {}
    return {str(q): {str(r): int(w) for r, w in (per or {}).items()}
            for q, per in weights.items() if isinstance(per, dict)}


# --------------------------------------------------------------------------------------------
# One pass


def run_scaler(cfg: ScalerConfig, session: AwsSession, *, sweep: bool = True,
               publish: bool = True, launch: bool = True) -> dict[str, Any]:
    """One scaler pass; returns what it saw and did (JSON-able). A failing step is reported
    in ``errors`` and the others still run."""
    from hyper_tui.aws.dead_letters import sweep_dead_letters
    from hyper_tui.aws.dependencies import release_pending
    from hyper_tui.aws.outbox import sweep_outbox

    errors: list[str] = []
    ddb = session.client("dynamodb")
    sqs = session.client("sqs")
    pairs = list(cfg.pairs)

    def step(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            errors.append(f"{what}: {type(err).__name__}: {err}")
            return None

    weights = step("reading refreshed weights", read_weights, ddb, cfg.jobs_table)
    if weights:
        pairs = apply_weights(pairs, weights)

    dead: dict[str, int] = {}
    swept = {"failed": 0, "requeued": 0, "kept": 0}
    if sweep:
        for p in pairs:
            r = step(f"dead-letter sweep of {p.queue}/{p.definition}", sweep_dead_letters,
                     session, table=cfg.jobs_table,
                     dlq_url=dead_letter_url(p.work_queue_url, cfg.host, p.queue, p.definition),
                     work_url=p.work_queue_url)
            if r is not None:
                swept["failed"] += r.failed
                swept["requeued"] += r.requeued
                swept["kept"] += r.kept
                for q, n in r.failed_by_queue.items():
                    dead[q] = dead.get(q, 0) + n

    # Jobs a crashed writer left QUEUED without a message are sent again (the outbox); then
    # dependent jobs whose dependencies are met (or never can be) move on before the count.
    urls = {(p.queue, p.definition): p.work_queue_url for p in pairs}
    resent = step("sweeping the outbox", sweep_outbox, ddb, sqs, cfg.jobs_table,
                  lambda q, d: urls[(q, d)])
    released = step("releasing dependent jobs", release_pending, ddb, sqs, cfg.jobs_table,
                    sorted({p.queue for p in pairs}), lambda q, d: urls[(q, d)],
                    retention_s=cfg.retention_days * 86400)

    from hyper_tui.aws.counters import backlog  # counter items: reads do not grow with jobs

    counts: dict[str, tuple[dict[tuple[str, str], int], bool]] = {}
    for q in sorted({p.queue for p in pairs}):
        got = step(f"counting jobs of {q}", backlog, ddb, cfg.jobs_table, q)
        counts[q] = got if got is not None else ({}, False)

    visible: dict[tuple[str, str], int | None] = {}
    for p in pairs:
        attrs = step(f"work queue of {p.queue}/{p.definition}", sqs.get_queue_attributes,
                     QueueUrl=p.work_queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        visible[(p.queue, p.definition)] = (
            int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0)) if attrs else None)

    names = {schema.worker_batch_job_name(p.queue, p.definition): (p.queue, p.definition)
             for p in pairs}
    workers: dict[tuple[str, str], dict[str, int]] = {}
    by_region: dict[str, set[str]] = {}
    for p in pairs:
        for region, jq in p.batch_job_queue.items():
            by_region.setdefault(region, set()).add(jq)
    for region, jqs in sorted(by_region.items()):
        jobs = step(f"Batch jobs in {region}", active_worker_jobs,
                    session.client("batch", region), sorted(jqs))
        for j in jobs or []:
            key = names.get(j["name"])
            if key:
                per = workers.setdefault(key, {})
                per[region] = per.get(region, 0) + j["count"]

    observed: dict[tuple[str, str], PairObservation] = {}
    for p in pairs:
        key = (p.queue, p.definition)
        c, complete = counts.get(p.queue, ({}, False))
        vis = visible.get(key)
        queued = c.get((p.definition, "QUEUED"), 0)
        estimated = not complete and vis is not None
        if estimated:
            queued = max(queued, (vis or 0) * schema.IDS_PER_MESSAGE)
        observed[key] = PairObservation(
            queued=queued, running=c.get((p.definition, "RUNNING"), 0),
            pending=c.get((p.definition, "PENDING"), 0), visible_messages=vis,
            workers=workers.get(key, {}), estimated=estimated)

    decisions = decide(pairs, observed)
    launched: list[dict[str, Any]] = []
    if launch:
        by_key = {(p.queue, p.definition): p for p in pairs}
        for d in decisions:
            for x in d.launches:
                p = by_key[(x.queue, x.definition)]
                job_id = step(f"launching {x.count} worker(s) of {x.queue}/{x.definition} in "
                              f"{x.region}", submit_workers, session, cfg, p, x)
                if job_id:
                    launched.append({**asdict(x), "batch_job_id": job_id})

    if publish:
        step("publishing metrics", publish_metrics, session.client("cloudwatch"), cfg, pairs,
             observed, dead)
    return {
        "host": cfg.host, "errors": errors, "swept": swept, "launched": launched,
        "dependencies": released or {}, "resent_from_outbox": resent or 0,
        "pairs": [{"queue": d.queue, "definition": d.definition, "desired": d.desired,
                   "split": d.split, "reason": d.reason,
                   **{k: v for k, v in asdict(observed[(d.queue, d.definition)]).items()}}
                  for d in decisions],
    }


def submit_workers(session: AwsSession, cfg: ScalerConfig, p: PairConfig, x: Launch) -> str:
    """Submit ``x.count`` workers as one Batch job (an array job when more than one)."""
    env = worker_environment(cfg, p, x.region)
    kw: dict[str, Any] = {
        "jobName": schema.worker_batch_job_name(p.queue, p.definition),
        "jobQueue": x.job_queue, "jobDefinition": x.job_definition,
        "containerOverrides": {"environment": [{"name": k, "value": v}
                                               for k, v in sorted(env.items())]},
        "tags": {"hyper:host": cfg.host, "hyper:queue": p.queue, "hyper:definition": p.definition},
        "propagateTags": True,
    }
    if x.count > 1:
        kw["arrayProperties"] = {"size": int(x.count)}
    return session.client("batch", x.region).submit_job(**kw)["jobId"]


def publish_metrics(cw: Any, cfg: ScalerConfig, pairs: Sequence[PairConfig],
                    observed: Mapping[tuple[str, str], PairObservation],
                    dead: Mapping[str, int]) -> int:
    """put_metric_data: jobs by state per queue, backlog per definition, workers and vCPUs
    per region, dead-lettered per queue. Returns the number of data points."""
    jobs: dict[tuple[str, str], float] = {}
    backlog: dict[str, float] = {}
    workers: dict[str, float] = {}
    vcpus: dict[str, float] = {}
    for p in pairs:
        o = observed.get((p.queue, p.definition)) or PairObservation()
        for state, n in (("PENDING", o.pending), ("QUEUED", o.queued), ("RUNNING", o.running)):
            jobs[(p.queue, state)] = jobs.get((p.queue, state), 0) + n
        backlog[p.definition] = backlog.get(p.definition, 0) + o.queued
        for region in p.weights:
            workers.setdefault(region, 0)
            vcpus.setdefault(region, 0)
        for region, n in o.workers.items():
            workers[region] = workers.get(region, 0) + n
            vcpus[region] = vcpus.get(region, 0) + n * p.vcpus
    data: list[dict[str, Any]] = []

    def put(name: str, dims: dict[str, str], value: float, unit: str = "Count") -> None:
        data.append({"MetricName": name, "Value": float(value), "Unit": unit,
                     "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]})

    for (q, st), n in sorted(jobs.items()):
        put(schema.METRIC_JOBS, {"Queue": q, "State": st}, n)
    for d, n in sorted(backlog.items()):
        put(schema.METRIC_BACKLOG, {"Definition": d}, n)
    for r in sorted(workers):
        put(schema.METRIC_WORKERS, {"Region": r}, workers[r])
        put(schema.METRIC_VCPUS, {"Region": r}, vcpus[r])
    for q, n in sorted(dead.items()):
        put(schema.METRIC_DEAD_LETTERED, {"Queue": q}, n)
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=cfg.namespace, MetricData=data[i:i + 500])
    return len(data)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (EventBridge schedule, every minute)."""
    cfg = load_scaler_config()
    started = time.monotonic()
    result = run_scaler(cfg, AwsSession(cfg.main_region))
    result["seconds"] = round(time.monotonic() - started, 3)
    sys.stdout.write(json.dumps(result, default=str, separators=(",", ":")) + "\n")
    return result
