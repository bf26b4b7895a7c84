"""Creating, importing and deleting hosts (the heavier half of the registry)."""

from __future__ import annotations

import os
import shutil

from hyper_tui import config, paths, registry
from hyper_tui.errors import ConflictError, ValidationError
from hyper_tui.model import Cluster, Definition, Host, HostKind, Queue, Region


def default_local_config(name: str) -> config.HostConfig:
    cpus = os.cpu_count() or 1
    host = Host(name=name, kind=HostKind.LOCAL, main_region="local")
    cfg = config.HostConfig(host=host)
    cfg.regions["local"] = Region(name="local", main=True)
    cfg.clusters["default"] = Cluster(name="default", max_vcpus=cpus, compute_envs=1)
    cfg.queues["default"] = Queue(name="default", cluster="default")
    cfg.definitions["default"] = Definition(name="default")
    return cfg


def create_local_host(name: str, *, select: bool = True, with_defaults: bool = True) -> config.HostConfig:
    if paths.host_config_file(name).exists():
        raise ConflictError(f"a host named {name!r} exists already")
    cfg = default_local_config(name) if with_defaults else config.HostConfig(
        host=Host(name=name, kind=HostKind.LOCAL, main_region="local"))
    config.save(cfg)
    registry.register(name, "local", select=select)
    from hyper_tui.apply import apply_config

    apply_config(cfg)
    return cfg


def create_aws_host(name: str, account: str, region: str, *, select: bool = True,
                    enable_dashboard: bool = True, private_api: bool = False,
                    vpc: str | None = None) -> config.HostConfig:
    if paths.host_config_file(name).exists():
        raise ConflictError(f"a host named {name!r} exists already")
    try:
        host = Host(name=name, kind=HostKind.AWS, account=account, main_region=region,
                    settings={"enable_dashboard": enable_dashboard, "private_api": private_api})
    except Exception as err:  # pydantic error -> one line
        from pydantic import ValidationError as PVE

        if isinstance(err, PVE):
            raise ValidationError(config.format_pydantic_error(err, Host, prefix=("host",))) from None
        raise
    cfg = config.HostConfig(host=host)
    main = {"name": region, "main": True}
    if vpc:
        main["vpc_id" if vpc.startswith("vpc-") else "vpc_cidr"] = vpc
    cfg.regions[region] = config.validate_resource("regions", main, source="--vpc")
    config.save(cfg)
    registry.register(name, "aws", select=select)
    from hyper_tui.apply import apply_config

    apply_config(cfg)
    return cfg


def delete_host(name: str) -> None:
    ref = registry.resolve(name, create_default=False)
    if ref.kind == "local":
        from hyper_tui.local.daemon_control import stop_daemon

        stop_daemon(name)
    registry.unregister(name)
    shutil.rmtree(paths.host_data_dir(name), ignore_errors=True)
