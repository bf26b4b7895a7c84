"""The host registry: which hosts exist, which one is selected, the first-use default, and which
client serves each kind (``KINDS``, ``client_for``).

``<config>/hosts.json`` records each host's kind and the selection; each host's resources live
in ``<config>/hosts/<name>/resources.yaml``. ``--host NAME`` and ``HYPER_HOST`` override the
selection. On the ``qsub`` hot path: reads need neither ``json`` nor ``pathlib``.
"""

from __future__ import annotations

import os

from hyper_tui import leanjson, paths
from hyper_tui.core.errors import ConflictError, NotFoundError, UsageError, ValidationError

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from typing import Any

    from hyper_tui import config
    from hyper_tui.hosts.contract import HostClient

DEFAULT_HOST = "local"
# A host kind is a folder and one line here; its client passes tests/contract.
KINDS = {"local": "hyper_tui.local.client:LocalHostClient",
         "aws": "hyper_tui.aws.client:AwsHostClient"}


class HostRef:
    """A registered host: its name and kind (local or aws)."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HostRef) and (self.name, self.kind) == (other.name, other.kind)

    def __repr__(self) -> str:
        return f"HostRef({self.name!r}, {self.kind!r})"


def _registry_file() -> str:
    return os.path.join(paths.config_root(), "hosts.json")


def read_registry() -> dict:
    try:
        with open(_registry_file(), encoding="utf-8") as fh:
            data = leanjson.loads(fh.read())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        hosts = data.setdefault("hosts", {})
        if not isinstance(hosts, dict) or not all(isinstance(h, dict) for h in hosts.values()):
            raise ValueError('"hosts" is not an object of host objects')
        if not isinstance(data.setdefault("selected", None), (str, type(None))):
            raise ValueError('"selected" is not a host name')
    except FileNotFoundError:
        return {"selected": None, "hosts": {}}
    except (OSError, ValueError) as err:
        raise ValidationError(f"{_registry_file()}: unreadable host registry ({err})",
                         fix="fix or delete the file; hosts' configs are kept beside it") from None
    return data


def write_registry(data: dict) -> None:
    import json

    paths.atomic_write_text(_registry_file(), json.dumps(data, indent=2, sort_keys=True) + "\n")


def list_hosts() -> list[HostRef]:
    data = read_registry()
    return [HostRef(n, h.get("kind", "local")) for n, h in sorted(data["hosts"].items())]


def selected_name() -> str | None:
    return read_registry()["selected"]


def resolve(name: str | None = None, *, create_default: bool = True) -> HostRef:
    """The host a command works on: ``name``, else ``HYPER_HOST``, else the selected one.

    With no host at all, the default local host is created on first use so that a newcomer
    can submit at once.
    """
    data = read_registry()
    wanted = name or os.environ.get("HYPER_HOST") or data["selected"]
    if not data["hosts"] and create_default and wanted in (None, DEFAULT_HOST):
        create_default_host()
        data = read_registry()
        wanted = wanted or DEFAULT_HOST
    if wanted is None:
        if len(data["hosts"]) == 1:
            wanted = next(iter(data["hosts"]))
        else:
            raise UsageError("no host is selected",
                             fix="run hyper-tui hosts select-host NAME, or pass --host NAME")
    if wanted not in data["hosts"]:
        known = ", ".join(sorted(data["hosts"])) or "none"
        raise NotFoundError(f"no host named {wanted!r} (known hosts: {known})",
                            fix="create it with hyper-tui hosts create-host --name " + wanted)
    return HostRef(wanted, data["hosts"][wanted].get("kind", "local"))


def register(name: str, kind: str, *, select: bool) -> None:
    data = read_registry()
    if name in data["hosts"]:
        raise ConflictError(f"a host named {name!r} exists already",
                            fix="pick another name, or delete it with hosts delete-host")
    data["hosts"][name] = {"kind": kind}
    if select or data["selected"] is None:
        data["selected"] = name
    write_registry(data)


def select(name: str) -> None:
    data = read_registry()
    if name not in data["hosts"]:
        known = ", ".join(sorted(data["hosts"])) or "none"
        raise NotFoundError(f"no host named {name!r} (known hosts: {known})")
    data["selected"] = name
    write_registry(data)


def unregister(name: str) -> None:
    data = read_registry()
    if name not in data["hosts"]:
        raise NotFoundError(f"no host named {name!r}")
    del data["hosts"][name]
    if data["selected"] == name:
        data["selected"] = next(iter(sorted(data["hosts"])), None)
    write_registry(data)
    import shutil

    shutil.rmtree(os.path.dirname(paths.host_config_file_str(name)), ignore_errors=True)


def create_default_host() -> None:
    """Create the local host ``local`` with a main region and a default cluster, queue and
    definition (max vCPUs = this machine's CPU count)."""
    create_local_host(DEFAULT_HOST, select=True)


def client_class(kind: str) -> type:
    """The client class of a host kind (imported on demand: qsub loads only its own)."""
    import importlib

    if kind not in KINDS:
        raise ValidationError(f"host kind {kind!r} is unknown", fix="use one of " + ", ".join(KINDS))
    module, _, cls = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)


def apply_config(cfg: config.HostConfig, store: Any = None) -> dict[str, str]:
    """``hyper_tui.local.apply.apply_config`` with the capability of ``cfg``'s kind (deployed or not)."""
    from hyper_tui.local import apply

    deployed = client_class(cfg.host.kind.value).kind_capabilities().deploy
    return apply.apply_config(cfg, store, deployed=deployed)


def client_for(name: str | None = None, **kwargs: object) -> HostClient:
    """The client of host ``name`` (default: the selected host; created on first use).
    ``kwargs`` go to the kind's ``open`` (e.g. ``start_daemon=False`` for a local host)."""
    ref = resolve(name)
    return client_class(ref.kind).open(ref.name, **kwargs)


# ---- creating and deleting hosts (config and pydantic are imported here only) ----------


def default_local_config(name: str) -> config.HostConfig:
    from hyper_tui import config
    from hyper_tui.model import Cluster, Definition, Host, HostKind, Queue, Region

    cpus = os.cpu_count() or 1
    host = Host(name=name, kind=HostKind.LOCAL, main_region="local")
    cfg = config.HostConfig(host=host)
    cfg.regions["local"] = Region(name="local", main=True)
    cfg.clusters["default"] = Cluster(name="default", max_vcpus=cpus, compute_envs=1)
    cfg.queues["default"] = Queue(name="default", cluster="default")
    cfg.definitions["default"] = Definition(name="default")
    return cfg


def create_host(name: str, kind: str | None = None, *, select: bool = True,
                account: str | None = None, region: str | None = None, vpc: str | None = None,
                with_defaults: bool = True, enable_dashboard: bool = True,
                private_api: bool = False) -> str:
    """Create a host of ``kind`` (default: aws when an account or region is given, else
    local); refuse options that mean nothing for the kind. Returns the kind."""
    kind = kind or ("aws" if account or region else "local")
    if kind == "aws":
        if not account:
            raise UsageError("create-host: an aws host needs --account", fix="pass --account 123456789012")
        if not region:
            raise UsageError("create-host: an aws host needs --region", fix="pass --region us-east-1")
        create_aws_host(name, account, region, select=select, enable_dashboard=enable_dashboard,
                        private_api=private_api, vpc=vpc)
    elif kind == "local":
        if account or vpc:
            raise UsageError("create-host: --account and --vpc are for aws hosts",
                             fix="add --kind aws --region REGION")
        create_local_host(name, select=select, with_defaults=with_defaults)
    else:
        raise ValidationError(f"--kind {kind}: unknown host kind", fix="use one of " + ", ".join(KINDS))
    return kind


def _host_model(**fields: Any):
    """The ``Host`` model of these fields, or a one-line ``ValidationError`` naming the field
    (never pydantic's own text)."""
    from pydantic import ValidationError as PydanticError

    from hyper_tui import config
    from hyper_tui.model import Host

    try:
        return Host(**fields)
    except PydanticError as err:
        raise ValidationError(config.format_pydantic_error(err, Host, prefix=("host",))) from None


def create_local_host(name: str, *, select: bool = True, with_defaults: bool = True) -> config.HostConfig:
    from hyper_tui import config
    from hyper_tui.model import HostKind

    host = _host_model(name=name, kind=HostKind.LOCAL, main_region="local")  # the name checked
    if paths.host_config_file(name).exists():
        raise ConflictError(f"a host named {name!r} exists already")
    cfg = default_local_config(name) if with_defaults else config.HostConfig(host=host)
    config.save(cfg)
    register(name, "local", select=select)
    apply_config(cfg)
    return cfg


DEFAULT_MAIN_VPC_CIDR = "10.0.0.0/16"


def create_aws_host(name: str, account: str, region: str, *, select: bool = True,
                    enable_dashboard: bool = True, private_api: bool = False,
                    vpc: str | None = None) -> config.HostConfig:
    from hyper_tui import config
    from hyper_tui.model import HostKind

    if paths.host_config_file(name).exists():
        raise ConflictError(f"a host named {name!r} exists already")
    host = _host_model(name=name, kind=HostKind.AWS, account=account, main_region=region,
                       settings={"enable_dashboard": enable_dashboard, "private_api": private_api})
    cfg = config.HostConfig(host=host)
    # a new VPC of 10.0.0.0/16 unless --vpc gives a CIDR or an existing VPC's id
    vpc = vpc or DEFAULT_MAIN_VPC_CIDR
    main = {"name": region, "main": True,
            ("vpc_id" if vpc.startswith("vpc-") else "vpc_cidr"): vpc}
    cfg.regions[region] = config.validate_resource("regions", main, source="--vpc")
    config.save(cfg)
    register(name, "aws", select=select)
    apply_config(cfg)
    return cfg


def import_host(kind: str, name: str, **options: Any) -> dict[str, Any]:
    """Register host ``name`` of ``kind`` deployed elsewhere (``hosts import-deployment``): the
    kind's client finds it (an aws host: from its CloudFormation stack outputs)."""
    return client_class(kind).import_host(name, **options)


def delete_host(name: str) -> None:
    """Forget a host on this machine: stop what runs here for it (a local host's daemon), then
    remove its registration, config and data."""
    import shutil

    ref = resolve(name, create_default=False)
    client_class(ref.kind).shutdown(name)
    unregister(name)
    shutil.rmtree(paths.host_data_dir(name), ignore_errors=True)
