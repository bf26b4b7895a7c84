"""Pure derivations from a host's config and look-ups: what the stacks build, without CDK.

Everything here is plain data, so it is tested without synthesizing anything, and the stacks
stay declarative.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from pathlib import Path

from hyper_tui import paths
from hyper_tui.aws import scaler_config, schema
from hyper_tui.aws.infra.lookups import Lookups
from hyper_tui.config import HostConfig
from hyper_tui.core.errors import ValidationError
from hyper_tui.model import Cluster, Definition, Image, Region

# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)


def nearest_retention(days: int) -> int:
    """The allowed CloudWatch Logs retention closest to ``days`` (ties: the longer one)."""
    return min(LOG_RETENTION_DAYS, key=lambda d: (abs(d - days), -d))


def split_vcpus(max_vcpus: int, compute_envs: int) -> list[int]:
    """Max vCPUs of each of a cluster's compute environments: ``ceil(max / n)`` each."""
    return [math.ceil(max_vcpus / compute_envs)] * compute_envs


def work_pairs(cfg: HostConfig) -> list[tuple[str, str]]:
    """The (queue, definition) pairs with a work queue: those the queue's cluster can run
    (the rule is ``scaler_config.work_pairs``, shared with the scaler's config)."""
    return scaler_config.work_pairs(cfg)


def definition_image(cfg: HostConfig, definition: Definition, region: str) -> str:
    image = definition.image_for_region(region, cfg.host.account,
                                        schema.ecr_repository_name(cfg.host.name))
    if not image:
        raise ValidationError(f"definitions.{definition.name}: an aws host needs an image",
                              fix="set image (a host image) or image_uri")
    if definition.image_uri and not definition.has_agent:
        # The job definition runs /start.sh (the agent): any other image fails to start
        # (CannotStartContainerError). Only the one who built the image knows what is in it.
        raise ValidationError(
            f"definitions.{definition.name}.image_uri: {definition.image_uri} must be built "
            "FROM the hyper-tui worker base image (the job definition runs its /start.sh)",
            fix="build it from a Dockerfile of 'hyper-tui images init DIR' and set "
                "has_agent: true, or use image: (a host image built by hyper-tui)")
    return image


# Graviton instance types and families (c7g, m7gd, c6gn, t4g, im4gn, x2gd, g5g, a1...).
_ARM64 = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)(\.|$)")


def instance_architecture(instance_type: str) -> str:
    """``arm64`` for Graviton types and families, else ``x86_64`` (``optimal`` included)."""
    return "arm64" if _ARM64.match(instance_type.strip().lower()) else "x86_64"


def cluster_architecture(cluster: Cluster) -> str:
    """The one CPU architecture of a cluster's instance types."""
    arches = {instance_architecture(t): t for t in cluster.instance_types}
    if len(arches) > 1:
        raise ValidationError(
            f"clusters.{cluster.name}.instance_types: mixes arm64 ({arches['arm64']}) and "
            f"x86_64 ({arches['x86_64']}) types; a cluster runs one architecture",
            fix="split them into two clusters")
    return next(iter(arches), "x86_64")


def definition_architectures(cfg: HostConfig) -> dict[str, set[str]]:
    """Each definition's architectures: those of the clusters whose queues run it."""
    out: dict[str, set[str]] = {name: set() for name in cfg.definitions}
    for q, d in work_pairs(cfg):
        out[d].add(cluster_architecture(cfg.clusters[cfg.queues[q].cluster]))
    return out


def image_platform(cfg: HostConfig, image: Image) -> str:
    """The Docker platform a host image is built for (``linux/arm64`` on Graviton
    clusters); an image that both architectures would run is refused."""
    arches: set[str] = set()
    users: dict[str, str] = {}
    for name, archs in definition_architectures(cfg).items():
        if cfg.definitions[name].image == image.name:
            arches |= archs
            users.update({a: name for a in archs})
    if len(arches) > 1:
        raise ValidationError(
            f"images.{image.name}: definitions {users['arm64']} (arm64) and {users['x86_64']} "
            "(x86_64) use it; an image is built for one architecture",
            fix="declare one image per architecture, each used by the definitions of one")
    return "linux/arm64" if arches == {"arm64"} else "linux/amd64"


def worker_environment(cfg: HostConfig, definition: Definition, region: str) -> dict[str, str]:
    """The container environment of a worker: the definition's own variables, then the
    HYPER_* variables of schema.WORKER_ENV that do not depend on the queue (the scaler adds
    HYPER_QUEUE and HYPER_WORK_QUEUE_URL when it submits a worker)."""
    host = cfg.host
    env = dict(definition.environment)
    env.update({
        "HYPER_HOST": host.name,
        "HYPER_MAIN_REGION": host.main_region,
        "HYPER_JOBS_TABLE": schema.jobs_table_name(host.name),
        "HYPER_LOG_GROUP": schema.log_group_name(host.name),
        "HYPER_DEFINITION": definition.name,
        "HYPER_REGION": region,
        "HYPER_VCPUS": str(definition.vcpus),
        "HYPER_IDLE_TIMEOUT": f"{host.settings.worker_idle_timeout_s:g}",
        "HYPER_ENABLE_QLOG": "true" if definition.enable_qlog else "false",
        # what AwsTransport.from_environment reads; a Batch worker ran on its defaults
        # (a 60 s lease, 30 days, 1 GiB, no retry codes, and the definition's environment
        # never reached its jobs, which run in a clean environment)
        "HYPER_LEASE_SECONDS": f"{host.settings.lease_seconds:g}",
        "HYPER_RETENTION_DAYS": f"{host.settings.job_retention_days:g}",
        "HYPER_LOG_CAP_BYTES": str(host.settings.log_cap_bytes),
    })
    if definition.retry_exit_codes:
        env["HYPER_RETRY_EXIT_CODES"] = " ".join(str(c) for c in definition.retry_exit_codes)
    if definition.environment:
        env["HYPER_JOB_ENV"] = json.dumps(dict(sorted(definition.environment.items())),
                                          separators=(",", ":"))
    return env


def vpc_cidr(region: Region, lookups: Lookups) -> str:
    """The CIDR of a region's VPC: declared when created, looked up when imported."""
    if region.vpc_id:
        return lookups.imported_vpc(region.name).cidr
    if not region.vpc_cidr:
        raise ValidationError(f"regions.{region.name}: needs vpc_cidr (a new VPC) or vpc_id",
                              fix="set vpc_cidr: 10.0.0.0/16, or vpc_id: vpc-... to import one")
    return region.vpc_cidr


def check_peering(cfg: HostConfig, lookups: Lookups) -> None:
    """Peered VPCs must not overlap the main VPC (nor each other)."""
    main = cfg.main_region
    peered = [r for r in cfg.regions.values() if r.peer_with_main]
    if not peered or main is None:
        return
    nets = {main.name: ipaddress.ip_network(vpc_cidr(main, lookups))}
    for r in peered:
        net = ipaddress.ip_network(vpc_cidr(r, lookups))
        for other, onet in nets.items():
            if net.overlaps(onet):
                raise ValidationError(
                    f"regions.{r.name}: its VPC {net} overlaps the VPC of {other} ({onet}); "
                    "peered VPCs need distinct address ranges",
                    fix=f"give {r.name} another vpc_cidr, e.g. one outside {onet}")
        nets[r.name] = net


def image_directory(cfg: HostConfig, image: Image) -> Path:
    """An image's build directory: absolute, or relative to the host's config directory."""
    path = Path(image.directory).expanduser()
    if not path.is_absolute():
        path = paths.host_config_file(cfg.host.name).parent / path
    if not (path / "Dockerfile").is_file():
        raise ValidationError(f"images.{image.name}.directory: no Dockerfile in {path}",
                              fix="point it at a directory with a Dockerfile that starts FROM the worker base image "
                                  "(see worker/Dockerfile)")
    return path
