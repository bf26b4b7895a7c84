"""Values the CDK app needs from AWS, looked up by the tool *before* synth and passed in.

Synth makes no AWS calls. Whatever depends on the account is looked up beforehand (by the aws
client, and kept in the host's state) and handed to :func:`hyper_tui.infra.app.build_app` as a plain dict
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

Standard library only: the tool imports this to check what it stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hyper_tui.errors import ValidationError


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"lookups.{where}: expected a list of strings, got {value!r}",
                              fix="run the look-ups again (hyper-tui deploy refreshes them)")
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
                                  fix="run the look-ups again (hyper-tui deploy refreshes them)")
        kw = {k: _strs(data.get(k), f"{where}.{k}") for k in (
            "availability_zones", "private_subnet_ids", "private_route_table_ids",
            "isolated_subnet_ids", "isolated_route_table_ids", "public_subnet_ids",
            "public_route_table_ids")}
        vpc = cls(vpc_id=str(data["vpc_id"]), cidr=str(data["cidr"]), **kw)
        if not vpc.availability_zones:
            raise ValidationError(f"lookups.{where}.availability_zones: empty",
                                  fix="run the look-ups again (hyper-tui deploy refreshes them)")
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
                                          "device", fix="run the look-ups again (hyper-tui "
                                          "deploy refreshes them)")
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
                                  fix="run the look-ups again (hyper-tui deploy refreshes them)")
        return zones

    def ami(self, cluster: str, region: str, ami_name: str) -> str:
        ami = self.amis.get(cluster, {}).get(region)
        if not ami:
            raise ValidationError(
                f"lookups: no AMI id for cluster {cluster!r} (ami_name {ami_name!r}) in {region}",
                fix="copy the AMI to that region, then run the look-ups again")
        return ami

    def ami_root(self, cluster: str, region: str) -> tuple[str, int]:
        """(root device name, its size in GiB) of the cluster's AMI in ``region``: the launch
        template maps that device, so the root volume is encrypted whatever the AMI's is."""
        root = self.ami_roots.get(cluster, {}).get(region)
        if root is None:
            raise ValidationError(f"lookups: the root device of cluster {cluster!r}'s AMI in "
                                  f"{region} is not known",
                                  fix="run the look-ups again (hyper-tui lookups, or deploy)")
        return root

    def imported_vpc(self, region: str) -> ImportedVpc:
        vpc = self.vpcs.get(region)
        if vpc is None:
            raise ValidationError(f"lookups: no subnets known for the imported VPC of {region!r}",
                                  fix="run the look-ups again (hyper-tui deploy refreshes them)")
        return vpc
