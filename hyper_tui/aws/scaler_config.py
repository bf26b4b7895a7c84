"""What the aws scaler needs to know, built from a host's config (and pre-fetched look-ups).

The CDK app writes ``ScalerConfig.to_json()`` into the scaler Lambda's code asset, as the file
``CONFIG_FILE`` (a path inside the asset, beside the scaler's handler), and names that path in
the function's ``HYPER_SCALER_CONFIG_FILE`` variable; :func:`load_scaler_config` reads it back.
A file has no size limit worth the name (a Lambda environment holds 4 KB, which 3 queues x 3
definitions x 3 regions already exceeded). Deployments made before kept the JSON itself in
``HYPER_SCALER_CONFIG``, which is still read. Names come from ``schema``, so the scaler and
the stacks agree. Standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hyper_tui.aws import schema

CONFIG_FILE = "hyper_tui/aws/infra/components/scaler/config.json"  # inside the Lambda asset
CONFIG_FILE_ENV = "HYPER_SCALER_CONFIG_FILE"
# A region whose launches fail, or whose workers wait RUNNABLE this long, hands its share of
# a queue to the queue's other regions (the queue's ``failover_after_s``; 0: never).
DEFAULT_FAILOVER_AFTER_S = 900


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
    failover_after_s: int = DEFAULT_FAILOVER_AFTER_S  # the queue's; 0: no region failover


@dataclass
class ScalerConfig:
    host: str
    account: str
    main_region: str
    jobs_table: str
    namespace: str
    pairs: list[PairConfig]
    retention_days: int = 30  # finished jobs' items expire after this (their TTL)
    lease_seconds: float = schema.LEASE_SECONDS  # the host's: a worker's heartbeat lease

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


def _gpu_family(instance_type: str) -> bool:
    """g4dn.xlarge, p5.48xlarge, g5 (a family): instance types with GPUs."""
    family = instance_type.split(".", 1)[0]
    return len(family) > 1 and family[0] in "gp" and family[1].isdigit()


def why_not_runnable(cluster: Any, definition: Any) -> str | None:
    """Why ``cluster`` can never run a worker of ``definition`` (None: it can). A worker runs
    in one compute environment, which has ``ceil(max_vcpus / compute_envs)`` vCPUs at most;
    GPUs need a GPU instance family ('optimal' picks from C, M and R: none)."""
    per_env = -(-cluster.max_vcpus // max(1, cluster.compute_envs))
    if definition.vcpus > per_env:
        return (f"needs {definition.vcpus} vCPUs, more than a compute environment of cluster "
                f"{cluster.name} has ({per_env})")
    if definition.gpus and not any(_gpu_family(t) for t in cluster.instance_types):
        return f"needs GPUs, and cluster {cluster.name} has no GPU instance type"
    return None


def work_pairs(cfg: Any) -> list[tuple[str, str]]:
    """The (queue, definition) pairs that get a work queue, a scaler entry and dashboard
    widgets: those whose queue's cluster can run the definition (:func:`why_not_runnable`),
    not every queue x every definition."""
    return [(q, d) for q in sorted(cfg.queues) for d in sorted(cfg.definitions)
            if why_not_runnable(cfg.clusters[cfg.queues[q].cluster], cfg.definitions[d]) is None]


def build_scaler_config(cfg: Any, lookups: dict[str, Any] | None = None) -> ScalerConfig:
    host = cfg.host.name
    account = cfg.host.account or "000000000000"
    main = cfg.host.main_region
    pairs = []
    for queue_name, definition_name in work_pairs(cfg):
        q, d = cfg.queues[queue_name], cfg.definitions[definition_name]
        cluster = cfg.clusters[q.cluster]
        weights = resolved_weights(cfg, q, lookups)
        pairs.append(PairConfig(
            queue=q.name, definition=d.name, cluster=q.cluster, max_running=q.max_running,
            failover_after_s=(DEFAULT_FAILOVER_AFTER_S if q.failover_after_s is None
                              else int(q.failover_after_s)),
            work_queue_url=queue_url(account, main, schema.work_queue_name(host, q.name, d.name)),
            ratio=float(d.jobs_to_workers_ratio), vcpus=d.vcpus, max_vcpus=cluster.max_vcpus,
            weights=weights,
            batch_job_queue={r: schema.batch_job_queue_name(host, q.cluster) for r in weights},
            batch_job_definition={r: schema.batch_job_definition_name(host, d.name)
                                  for r in weights}))
    return ScalerConfig(host=host, account=account, main_region=main,
                        jobs_table=schema.jobs_table_name(host),
                        namespace=schema.metrics_namespace(host), pairs=pairs,
                        retention_days=int(cfg.host.settings.job_retention_days),
                        lease_seconds=float(cfg.host.settings.lease_seconds))


def load_scaler_config(environ: dict[str, str] | None = None) -> ScalerConfig:
    """The scaler's config in a Lambda: the file ``CONFIG_FILE_ENV`` names (relative to the
    task root), else the JSON in ``schema.SCALER_CONFIG_ENV`` (older deployments)."""
    env = os.environ if environ is None else environ
    name = env.get(CONFIG_FILE_ENV)
    if name:
        path = Path(name)
        if not path.is_absolute():
            path = Path(env.get("LAMBDA_TASK_ROOT") or Path.cwd()) / path
        return ScalerConfig.from_json(path.read_text(encoding="utf-8"))
    text = env.get(schema.SCALER_CONFIG_ENV)
    if not text:
        raise KeyError(f"neither {CONFIG_FILE_ENV} nor {schema.SCALER_CONFIG_ENV} is set")
    return ScalerConfig.from_json(text)
