"""What the aws scaler needs to know, built from a host's config (and pre-fetched look-ups).

The CDK app puts ``ScalerConfig.to_json()`` into the scaler Lambda's ``HYPER_SCALER_CONFIG``
environment variable; the scaler reads it back with ``ScalerConfig.from_json``. Names come
from ``schema``, so the scaler and the stacks agree. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from hyper_tui.aws import schema


@dataclass
class PairConfig:
    """One (queue, definition): its work queue, scaling inputs and where workers start."""

    queue: str
    definition: str
    cluster: str
    work_queue_url: str
    ratio: float
    vcpus: int
    max_vcpus: int                       # per region
    weights: dict[str, int]              # resolved integer weights ('auto' already looked up)
    batch_job_queue: dict[str, str] = field(default_factory=dict)       # region -> name
    batch_job_definition: dict[str, str] = field(default_factory=dict)  # region -> name
    max_running: int | None = None  # the queue's: its workers (one job each at a time), at most


@dataclass
class ScalerConfig:
    host: str
    account: str
    main_region: str
    jobs_table: str
    namespace: str
    pairs: list[PairConfig]
    retention_days: int = 30  # finished jobs' items expire after this (their TTL)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ScalerConfig:
        data = json.loads(text)
        pairs = [PairConfig(**p) for p in data.pop("pairs")]
        return cls(pairs=pairs, **data)


def queue_url(account: str, region: str, name: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def resolved_weights(cfg: Any, queue: Any, lookups: dict[str, Any] | None) -> dict[str, int]:
    """Integer weights of a queue: its own, or for 'auto' the looked-up ones (from
    ``lookups["weights"][queue]``), or 1 for every region when nothing is known."""
    weights = cfg.queue_weights(queue)
    if any(w == "auto" for w in weights.values()):
        looked = ((lookups or {}).get("weights") or {}).get(queue.name)
        if looked:
            return {r: int(looked.get(r, 0)) for r in weights}
        return {r: 1 for r in weights}
    return {r: int(w) for r, w in weights.items()}


def build_scaler_config(cfg: Any, lookups: dict[str, Any] | None = None) -> ScalerConfig:
    host = cfg.host.name
    account = cfg.host.account or "000000000000"
    main = cfg.host.main_region
    pairs = []
    for q in cfg.queues.values():
        cluster = cfg.clusters[q.cluster]
        weights = resolved_weights(cfg, q, lookups)
        for d in cfg.definitions.values():
            pairs.append(PairConfig(
                queue=q.name, definition=d.name, cluster=q.cluster, max_running=q.max_running,
                work_queue_url=queue_url(account, main, schema.work_queue_name(host, q.name, d.name)),
                ratio=float(d.jobs_to_workers_ratio), vcpus=d.vcpus, max_vcpus=cluster.max_vcpus,
                weights=weights,
                batch_job_queue={r: schema.batch_job_queue_name(host, q.cluster) for r in weights},
                batch_job_definition={r: schema.batch_job_definition_name(host, d.name)
                                      for r in weights}))
    return ScalerConfig(host=host, account=account, main_region=main,
                        jobs_table=schema.jobs_table_name(host),
                        namespace=schema.metrics_namespace(host), pairs=pairs,
                        retention_days=int(cfg.host.settings.job_retention_days))
