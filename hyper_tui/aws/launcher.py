"""The aws ``WorkerLauncher``: workers are AWS Batch jobs (an array job for several).

The scaler decides how many (``core.scaling.decide``); this starts, lists and stops them, and
is the only part of the aws host that talks to AWS Batch about workers: the scaler launches
through :meth:`BatchLauncher.start` and observes through :meth:`BatchLauncher.active`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.scaler_config import PairConfig, ScalerConfig
from hyper_tui.aws.session import AwsSession, error_code
from hyper_tui.core.errors import NotFoundError
from hyper_tui.core.jobs import WorkerRow
from hyper_tui.core.scaling import Launch

STOP_REASON = "stopped by hyper-tui"
ACTIVE_BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
# What a Batch job that FAILED says when its container never ran (image, host, ENI, secrets):
# the region cannot start workers, whatever the scaler asks (region failover counts these).
START_FAILURES = ("CannotStartContainerError", "CannotPullContainer", "CannotCreateContainer",
                  "CannotInspectContainer", "ResourceInitializationError",
                  "DockerTimeoutError", "Host EC2", "Task failed to start",
                  "ContainerRuntimeError", "ContainerRuntimeTimeoutError")


def worker_environment(cfg: ScalerConfig, p: PairConfig, region: str) -> dict[str, str]:
    """The HYPER_* environment (schema.WORKER_ENV) of a worker container of ``p``."""
    return {
        "HYPER_HOST": cfg.host, "HYPER_MAIN_REGION": cfg.main_region,
        "HYPER_JOBS_TABLE": cfg.jobs_table, "HYPER_WORK_QUEUE_URL": p.work_queue_url,
        "HYPER_LOG_GROUP": schema.log_group_name(cfg.host), "HYPER_QUEUE": p.queue,
        "HYPER_DEFINITION": p.definition, "HYPER_REGION": region,
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


def active_worker_jobs(batch: Any, job_queues: Sequence[str]) -> list[dict[str, Any]]:
    """Active worker (array) jobs on Batch job queues: ``{id, name, status, count, runnable,
    created}``, ``count`` = array tasks not finished yet, ``runnable`` = those of them waiting
    RUNNABLE for an instance."""
    found: list[dict[str, Any]] = []
    for jq in job_queues:
        try:
            for status in ACTIVE_BATCH_STATUSES:
                for page in batch.get_paginator("list_jobs").paginate(jobQueue=jq,
                                                                      jobStatus=status):
                    for j in page.get("jobSummaryList") or []:
                        size = (j.get("arrayProperties") or {}).get("size")
                        st = j.get("status", status)
                        found.append({"id": j["jobId"], "name": j.get("jobName", ""),
                                      "status": st, "size": size,
                                      "count": 1 if not size else int(size),
                                      "runnable": 0 if size else int(st == "RUNNABLE"),
                                      "running": 0 if size else int(st == "RUNNING"),
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
                j["runnable"] = int(summary.get("RUNNABLE", 0))
                j["running"] = int(summary.get("RUNNING", 0))
            elif j is not None:
                j["runnable"] = j["count"] if j["status"] == "RUNNABLE" else 0
                j["running"] = j["count"] if j["status"] == "RUNNING" else 0
    return [j for j in found if j["count"] > 0]


def start_failure(job: dict[str, Any]) -> str | None:
    """Why a Batch job summary (``ListJobs``) FAILED before its container ran, or None when
    it did not fail so: a reason of :data:`START_FAILURES` (in ``statusReason`` or the
    container's ``reason``), or a failure with no ``startedAt`` that hyper-tui did not cause
    (a stop or an emergency stop is not a failed start)."""
    if job.get("status") != "FAILED":
        return None
    reason = " ".join(str(x) for x in (job.get("statusReason"),
                                       (job.get("container") or {}).get("reason")) if x)
    if any(k in reason for k in START_FAILURES):
        return reason
    if not job.get("startedAt") and STOP_REASON not in reason and "terminat" not in \
            reason.lower() and "cancel" not in reason.lower():
        return reason or "failed before it started"
    return None


def failed_worker_starts(batch: Any, job_queues: Sequence[str], since: float
                         ) -> list[dict[str, Any]]:
    """Worker tasks (a job, or an array job's child) created after ``since`` (epoch s) that
    FAILED before their container ran: ``{id, name, reason, at}`` (``at``: when it stopped).
    One ``ListJobs`` per job queue (created after ``since``: every status, newest first), and
    one per FAILED array job of it (its FAILED children: those that never ran)."""
    after = {"name": "AFTER_CREATED_AT", "values": [str(int(since * 1000))]}
    out: list[dict[str, Any]] = []
    for jq in job_queues:
        recent: list[dict[str, Any]] = []
        try:
            for page in batch.get_paginator("list_jobs").paginate(jobQueue=jq, filters=[after]):
                recent += page.get("jobSummaryList") or []
        except Exception as err:
            if error_code(err) == "ClientException" and "does not exist" in str(err):
                continue
            raise
        for j in recent:
            if (j.get("createdAt") or 0) / 1000.0 < since:
                continue  # a listing that ignores the filter (moto)
            kids = [j]
            if (j.get("arrayProperties") or {}).get("size"):
                if j.get("status") != "FAILED":
                    continue  # an array FAILS once its children are done and one failed
                kids = [k for page in batch.get_paginator("list_jobs").paginate(
                    arrayJobId=j["jobId"], jobStatus="FAILED")
                    for k in page.get("jobSummaryList") or []]
            for k in kids:
                why = start_failure(k)
                if why is not None:
                    out.append({"id": k["jobId"], "name": j.get("jobName", ""), "reason": why,
                                "at": (k.get("stoppedAt") or k.get("createdAt") or 0) / 1000.0})
    return out


class BatchLauncher:
    def __init__(self, session: AwsSession, cfg: ScalerConfig) -> None:
        self.session, self.cfg = session, cfg
        self._pairs = {(p.queue, p.definition): p for p in cfg.pairs}

    def _names(self) -> dict[str, tuple[str, str]]:
        """Worker Batch job name -> the (queue, definition) it works for."""
        return {schema.worker_batch_job_name(p.queue, p.definition): (p.queue, p.definition)
                for p in self.cfg.pairs}

    def _pair(self, queue: str, definition: str) -> PairConfig:
        try:
            return self._pairs[(queue, definition)]
        except KeyError:
            raise NotFoundError(f"host {self.cfg.host!r} has no queue/definition "
                                f"{queue}/{definition}") from None

    def start(self, queue: str, definition: str, region: str, count: int = 1, *,
              vcpus: int | None = None) -> list[str]:
        """One Batch job of ``count`` workers; its id (vCPUs come from the job definition)."""
        p = self._pair(queue, definition)
        if region not in p.batch_job_queue:
            raise NotFoundError(f"queue {queue} has no weight in region {region}")
        x = Launch(queue=queue, definition=definition, region=region, count=count,
                   job_queue=p.batch_job_queue[region],
                   job_definition=p.batch_job_definition[region])
        return [submit_workers(self.session, self.cfg, p, x)]

    def job_queues(self) -> dict[str, list[str]]:
        """Region -> the Batch job queues of the host's pairs there."""
        out: dict[str, set[str]] = {}
        for p in self.cfg.pairs:
            for region, jq in p.batch_job_queue.items():
                out.setdefault(region, set()).add(jq)
        return {r: sorted(q) for r, q in sorted(out.items())}

    def active(self, region: str) -> list[dict[str, Any]]:
        """The active worker jobs of ``region`` (:func:`active_worker_jobs`), each with the
        ``(queue, definition)`` it works for in ``pair`` (None: not one of this host's)."""
        names = self._names()
        jobs = active_worker_jobs(self.session.client("batch", region),
                                  self.job_queues().get(region, []))
        for j in jobs:
            j["pair"] = names.get(j["name"])
        return jobs

    def failed_starts(self, region: str, since: float) -> list[dict[str, Any]]:
        """The worker tasks of ``region`` that failed at start since ``since``
        (:func:`failed_worker_starts`), each with its ``pair`` (None: not this host's)."""
        names = self._names()
        found = failed_worker_starts(self.session.client("batch", region),
                                     self.job_queues().get(region, []), since)
        for j in found:
            j["pair"] = names.get(j["name"])
        return found

    def live(self, queue: str | None = None, definition: str | None = None,
             region: str | None = None) -> list[WorkerRow]:
        out = []
        for r in self.job_queues():
            if region is not None and r != region:
                continue
            for job in self.active(r):
                q, d = job["pair"] or ("?", "?")
                if (queue is not None and q != queue) or (definition is not None and d != definition):
                    continue
                p = self._pairs.get((q, d))
                out.append(WorkerRow(id=job["id"], pid=None, region=r, queue=q, definition=d,
                                     vcpus=(p.vcpus if p else 1) * job["count"],
                                     count=job["count"], started=job.get("created"),
                                     heartbeat=None, state=job["status"], jobs_done=None))
        return out

    def stop(self, worker_ids: list[str]) -> int:
        wanted = set(worker_ids)
        stopped = 0
        for w in self.live():
            if w.id in wanted:
                self.session.client("batch", w.region).terminate_job(jobId=w.id, reason=STOP_REASON)
                stopped += 1
        return stopped
