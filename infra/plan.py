"""Pure derivations from a host's config and look-ups: what the stacks build, without CDK.

Everything here is plain data, so it is tested without synthesizing anything, and the stacks
stay declarative.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

from hyper_tui import paths
from hyper_tui.aws import scaler_config, schema
from hyper_tui.aws.infra.lookups import Lookups
from hyper_tui.config import HostConfig
from hyper_tui.errors import ValidationError
from hyper_tui.model import Definition, Image, Region

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
    return image


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
    })
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
