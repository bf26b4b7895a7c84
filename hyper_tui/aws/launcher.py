"""The aws ``WorkerLauncher``: workers are AWS Batch jobs (an array job for several).

It only wraps the scaler's ``submit_workers`` and ``active_worker_jobs``; the scaler decides
how many (``core`` rules), this starts, lists and stops them.
"""

from __future__ import annotations

from hyper_tui.aws import schema
from hyper_tui.aws.scaler import Launch, active_worker_jobs, submit_workers
from hyper_tui.aws.scaler_config import PairConfig, ScalerConfig
from hyper_tui.aws.session import AwsSession
from hyper_tui.core.errors import NotFoundError
from hyper_tui.core.jobs import WorkerRow

STOP_REASON = "stopped by hyper-tui"


class BatchLauncher:
    def __init__(self, session: AwsSession, cfg: ScalerConfig) -> None:
        self.session, self.cfg = session, cfg
        self._pairs = {(p.queue, p.definition): p for p in cfg.pairs}

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

    def _job_queues(self) -> dict[str, list[str]]:
        out: dict[str, set[str]] = {}
        for p in self.cfg.pairs:
            for region, jq in p.batch_job_queue.items():
                out.setdefault(region, set()).add(jq)
        return {r: sorted(q) for r, q in sorted(out.items())}

    def live(self, queue: str | None = None, definition: str | None = None,
             region: str | None = None) -> list[WorkerRow]:
        names = {schema.worker_batch_job_name(p.queue, p.definition): p for p in self.cfg.pairs}
        out = []
        for r, job_queues in self._job_queues().items():
            if region is not None and r != region:
                continue
            for job in active_worker_jobs(self.session.client("batch", r), job_queues):
                p = names.get(job["name"])
                q, d = (p.queue, p.definition) if p else ("?", "?")
                if (queue is not None and q != queue) or (definition is not None and d != definition):
                    continue
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
