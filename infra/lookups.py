"""Values the CDK app needs from AWS, looked up by the tool *before* synth and passed in.

Synth makes no AWS calls. Whatever depends on the account is looked up beforehand (by the aws
client, and kept in the host's state) and handed to :func:`hyper_tui.aws.infra.app.build_app` as a plain dict
of this shape (every key optional)::

    {
      "availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]},
      "weights": {"<queue>": {"us-east-1": 3, "eu-west-1": 1}},   # resolves 'auto'
      "amis": {"<cluster>": {"us-east-1": "ami-0123...", "eu-west-1": "ami-0456..."}},
      "ami_roots": {"<cluster>": {"us-east-1": {"device": "/dev/xvda", "size_gib": 8}}},
      "vpcs": {"<region>": {                                          # imported VPCs
          "vpc_id": "vpc-...", "cidr": "10.1.0.0/16",
          "availability_zones": ["ap-southeast-1a", "ap-southeast-1b"],
          "private_subnet_ids": [...], "private_route_table_ids": [...],
          "isolated_subnet_ids": [...], "isolated_route_table_ids": [...],
          "public_subnet_ids": [...], "public_route_table_ids": [...]}}
    }

Synth needs no look-ups at all: :func:`with_placeholders` fills in what is missing and is
harmless to guess (zones ``<region>a/b/c``, weight 1 for every region of an ``auto`` queue) and
names it, so that synth warns and deploy refuses until ``hyper-tui lookups`` replaces them.
Imported VPCs and AMIs by name cannot be guessed: they still need the look-ups.

Standard library only: the tool imports this to check what it stored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyper_tui.errors import ValidationError

if TYPE_CHECKING:
    from hyper_tui.config import HostConfig

PLACEHOLDER_ZONE_SUFFIXES = ("a", "b", "c")
RUN_LOOKUPS = "run hyper-tui lookups (it needs AWS credentials), then synth again"


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"lookups.{where}: expected a list of strings, got {value!r}",
                              fix=RUN_LOOKUPS)
    return tuple(value)


@dataclass(frozen=True)
class ImportedVpc:
    """An existing VPC: its id, CIDR, zones and subnets (with their route tables)."""

    vpc_id: str
    cidr: str
    availability_zones: tuple[str, ...]
    private_subnet_ids: tuple[str, ...] = ()
    private_route_table_ids: tuple[str, ...] = ()
    isolated_subnet_ids: tuple[str, ...] = ()
    isolated_route_table_ids: tuple[str, ...] = ()
    public_subnet_ids: tuple[str, ...] = ()
    public_route_table_ids: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, region: str, data: Mapping[str, Any]) -> ImportedVpc:
        where = f"vpcs.{region}"
        if not isinstance(data, Mapping) or not data.get("vpc_id") or not data.get("cidr"):
            raise ValidationError(f"lookups.{where}: needs vpc_id and cidr",
                                  fix=RUN_LOOKUPS)
        kw = {k: _strs(data.get(k), f"{where}.{k}") for k in (
            "availability_zones", "private_subnet_ids", "private_route_table_ids",
            "isolated_subnet_ids", "isolated_route_table_ids", "public_subnet_ids",
            "public_route_table_ids")}
        vpc = cls(vpc_id=str(data["vpc_id"]), cidr=str(data["cidr"]), **kw)
        if not vpc.availability_zones:
            raise ValidationError(f"lookups.{where}.availability_zones: empty",
                                  fix=RUN_LOOKUPS)
        if not (vpc.private_subnet_ids or vpc.isolated_subnet_ids or vpc.public_subnet_ids):
            raise ValidationError(f"lookups.{where}: the VPC {vpc.vpc_id} has no subnets",
                                  fix="add subnets to the VPC or import another one")
        return vpc

    def worker_subnets(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(subnet ids, route table ids) the workers run in: private, else isolated, else public."""
        for subnets, tables in ((self.private_subnet_ids, self.private_route_table_ids),
                                (self.isolated_subnet_ids, self.isolated_route_table_ids),
                                (self.public_subnet_ids, self.public_route_table_ids)):
            if subnets:
                return subnets, tables
        return (), ()


@dataclass(frozen=True)
class Lookups:
    availability_zones: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weights: dict[str, dict[str, int]] = field(default_factory=dict)
    amis: dict[str, dict[str, str]] = field(default_factory=dict)
    ami_roots: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    vpcs: dict[str, ImportedVpc] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # as given, for scaler_config

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Lookups:
        data = data or {}
        # Other keys (the tool's own bookkeeping) are left alone.
        azs = {r: _strs(z, f"availability_zones.{r}")
               for r, z in (data.get("availability_zones") or {}).items()}
        weights: dict[str, dict[str, int]] = {}
        for queue, per_region in (data.get("weights") or {}).items():
            weights[queue] = {}
            for region, w in (per_region or {}).items():
                if not isinstance(w, int) or isinstance(w, bool) or w < 0:
                    raise ValidationError(f"lookups.weights.{queue}.{region}: {w!r} is not "
                                          "a weight (an integer >= 0)")
                weights[queue][region] = w
        amis = {c: {r: str(a) for r, a in (per or {}).items()}
                for c, per in (data.get("amis") or {}).items()}
        roots: dict[str, dict[str, tuple[str, int]]] = {}
        for c, per in (data.get("ami_roots") or {}).items():
            for r, root in (per or {}).items():
                device, size = (root or {}).get("device"), (root or {}).get("size_gib", 0)
                if not isinstance(device, str) or not device.startswith("/dev/") \
                        or not isinstance(size, int) or size < 0:
                    raise ValidationError(f"lookups.ami_roots.{c}.{r}: {root!r} is not a root "
                                          "device", fix=RUN_LOOKUPS)
                roots.setdefault(c, {})[r] = (device, size)
        vpcs = {r: ImportedVpc.from_dict(r, v) for r, v in (data.get("vpcs") or {}).items()}
        return cls(availability_zones=azs, weights=weights, amis=amis, ami_roots=roots,
                   vpcs=vpcs, raw=dict(data))

    def zones(self, region: str) -> tuple[str, ...]:
        if region in self.vpcs:
            return self.vpcs[region].availability_zones
        zones = self.availability_zones.get(region)
        if not zones:
            raise ValidationError(f"lookups: no availability zones known for region {region!r}",
                                  fix=RUN_LOOKUPS)
        return zones

    def ami(self, cluster: str, region: str, ami_name: str) -> str:
        ami = self.amis.get(cluster, {}).get(region)
        if not ami:
            raise ValidationError(
                f"lookups: no AMI id for cluster {cluster!r} (ami_name {ami_name!r}) in {region}",
                fix="copy the AMI to that region if needed, then " + RUN_LOOKUPS)
        return ami

    def ami_root(self, cluster: str, region: str) -> tuple[str, int]:
        """(root device name, its size in GiB) of the cluster's AMI in ``region``: the launch
        template maps that device, so the root volume is encrypted whatever the AMI's is."""
        root = self.ami_roots.get(cluster, {}).get(region)
        if root is None:
            raise ValidationError(f"lookups: the root device of cluster {cluster!r}'s AMI in "
                                  f"{region} is not known",
                                  fix=RUN_LOOKUPS)
        return root

    def imported_vpc(self, region: str) -> ImportedVpc:
        vpc = self.vpcs.get(region)
        if vpc is None:
            raise ValidationError(f"lookups: the imported VPC of {region!r} is not looked up "
                                  "(its subnets and route tables)", fix=RUN_LOOKUPS)
        return vpc


@dataclass(frozen=True)
class Placeholders:
    """What synth guessed because it was not looked up: regions whose zones are
    ``<region>a/b/c`` and ``auto`` queues given weight 1 everywhere."""

    zones: tuple[str, ...] = ()
    weights: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.zones or self.weights)

    def describe(self) -> str:
        parts = []
        if self.zones:
            parts.append(f"availability zones of {', '.join(self.zones)} "
                         "(<region>a, b, c)")
        if self.weights:
            parts.append(f"weights of queue{'s' if len(self.weights) > 1 else ''} "
                         f"{', '.join(self.weights)} (1 per region)")
        return " and ".join(parts)

    def to_dict(self) -> dict[str, list[str]]:
        return {"zones": list(self.zones), "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Placeholders:
        return cls(tuple(data.get("zones") or ()), tuple(data.get("weights") or ()))


def with_placeholders(cfg: HostConfig, data: Mapping[str, Any] | None
                      ) -> tuple[dict[str, Any], Placeholders]:
    """``data`` with placeholders for the look-ups that synth may guess, and what they are.
    Regions with an imported VPC get no placeholder zones (their VPC must be looked up)."""
    out = copy.deepcopy(dict(data or {}))
    zones = out.setdefault("availability_zones", {})
    guessed_zones = []
    for region in sorted(cfg.regions):
        if cfg.regions[region].vpc_id or zones.get(region):
            continue
        zones[region] = [f"{region}{s}" for s in PLACEHOLDER_ZONE_SUFFIXES]
        guessed_zones.append(region)
    weights = out.setdefault("weights", {})
    guessed_weights = []
    for name, queue in sorted(cfg.queues.items()):
        declared = cfg.queue_weights(queue)
        auto = [r for r, w in declared.items() if w == "auto"]
        if auto and not all(r in (weights.get(name) or {}) for r in auto):
            weights[name] = {r: 1 for r in declared} | dict(weights.get(name) or {})
            guessed_weights.append(name)
    return out, Placeholders(tuple(guessed_zones), tuple(guessed_weights))
