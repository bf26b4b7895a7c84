"""Emergency stop of an aws host: cancel every job and scale its compute to zero everywhere.

In order, so that nothing new starts while the rest is stopped:

1. purge every work queue (no worker can take another job);
2. cancel every PENDING, QUEUED and RUNNING job (state CANCELLED, conditional on the state);
   running jobs' workers see it within seconds and kill their process groups;
3. in every region, terminate the Batch jobs on the host's job queues (TerminateJob cancels a
   job that has not started and stops one that has);
4. in every region, set every compute environment of the host to ``minvCpus 0 / maxvCpus 0``
   (``desiredvCpus 0`` too where Batch allows lowering it), so instances go away.

Each step goes on when another fails; the failures are listed in ``errors``. The compute
environments stay at 0 vCPUs until the next ``hyper-tui deploy`` restores their maximum.
"""

from __future__ import annotations

from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.session import AwsSession, error_code, friendly_error

ACTIVE_BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
REASON = "hyper-tui emergency-stop"


def emergency_stop_aws(cfg: Any, *, session: AwsSession | None = None) -> dict[str, Any]:
    from hyper_tui.aws.client import AwsHostClient

    host = cfg.host.name
    session = session or AwsSession(cfg.host.main_region)
    out: dict[str, Any] = {"host": host, "queues_purged": 0, "jobs_cancelled": 0,
                           "batch_jobs_cancelled": 0, "batch_jobs_terminated": 0,
                           "compute_environments_stopped": 0, "errors": []}
    errors: list[str] = out["errors"]

    def note(what: str, err: BaseException) -> None:
        errors.append(friendly_error(err, what).line())

    client = AwsHostClient(cfg, session=session)
    sqs = session.client("sqs")
    for q in sorted(cfg.queues):
        for d in sorted(cfg.definitions):
            try:
                sqs.purge_queue(QueueUrl=client.queue_url(q, d))
                out["queues_purged"] += 1
            except Exception as err:
                if error_code(err) == "AWS.SimpleQueueService.PurgeQueueInProgress":
                    out["queues_purged"] += 1  # purged less than a minute ago
                else:
                    note(f"purging work queue {q}/{d}", err)

    for q in sorted(cfg.queues):
        try:
            results = client.cancel([], queue=q, everything=True, why="cancelled by emergency-stop")
            out["jobs_cancelled"] += sum(r.outcome == "cancelled" for r in results)
        except Exception as err:
            note(f"cancelling the jobs of queue {q}", err)

    for region in sorted(cfg.regions):
        batch = session.client("batch", region)
        for cluster in sorted(cfg.clusters):
            jq = schema.batch_job_queue_name(host, cluster)
            try:
                for status in ACTIVE_BATCH_STATUSES:
                    for page in batch.get_paginator("list_jobs").paginate(jobQueue=jq,
                                                                          jobStatus=status):
                        for j in page.get("jobSummaryList") or []:
                            batch.terminate_job(jobId=j["jobId"], reason=REASON)
                            key = ("batch_jobs_terminated" if status in ("STARTING", "RUNNING")
                                   else "batch_jobs_cancelled")
                            out[key] += 1
            except Exception as err:
                if error_code(err) == "ClientException" and "does not exist" in str(err):
                    continue  # this cluster was never deployed in this region
                note(f"stopping Batch jobs of {jq} in {region}", err)
            for i in range(cfg.clusters[cluster].compute_envs):
                ce = schema.compute_environment_name(host, cluster, i)
                try:
                    if scale_to_zero(batch, ce):
                        out["compute_environments_stopped"] += 1
                except Exception as err:
                    note(f"scaling compute environment {ce} in {region} to zero", err)
    out["note"] = ("compute environments stay at 0 vCPUs until the next hyper-tui deploy "
                   "restores their maximum")
    return out


def scale_to_zero(batch: Any, name: str) -> bool:
    """minvCpus/maxvCpus (and desiredvCpus where allowed) to 0. False if it does not exist."""
    try:
        batch.update_compute_environment(computeEnvironment=name, computeResources={
            "minvCpus": 0, "maxvCpus": 0, "desiredvCpus": 0})
        return True
    except Exception as err:
        text = str(err).lower()
        if "desired" in text or "scaling down" in text:
            # Batch refuses to lower desiredvCpus by hand; with max 0 it scales down itself.
            batch.update_compute_environment(computeEnvironment=name, computeResources={
                "minvCpus": 0, "maxvCpus": 0})
            return True
        if error_code(err) == "ClientException" and ("not found" in text or "does not exist" in text
                                                     or "unknown" in text):
            return False
        raise
