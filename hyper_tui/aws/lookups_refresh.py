"""Look up what synth needs from AWS, before synth, and keep it in the host's state.

Synth makes no AWS calls (``infra/lookups.py`` documents the shape). This module makes them:
availability zones of every region, the AMI id of each cluster's ``ami_name`` in every region,
the subnets and route tables of imported VPCs, and 'auto' region weights from spot placement
scores (``weights_refresh``). The result is merged into store meta ``aws_lookups``.
``hyper-tui lookups`` runs it; ``hyper-tui deploy`` runs it before synthesizing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from hyper_tui.aws.session import AwsSession, aws_errors
from hyper_tui.config import HostConfig

LOOKUPS_META_KEY = "aws_lookups"
MAX_ZONES = 3


def availability_zones(ec2: Any) -> list[str]:
    """The region's available zones (standard zones only, no Local/Wavelength zones)."""
    resp = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])
    zones = [z["ZoneName"] for z in resp.get("AvailabilityZones", [])
             if z.get("ZoneType", "availability-zone") == "availability-zone"]
    return sorted(zones)[:MAX_ZONES]


def newest_ami(ec2: Any, name: str) -> dict[str, Any] | None:
    """The newest AMI named ``name`` visible to the account in this region: its id, and its
    root device's name and size (the launch template maps that device, encrypted)."""
    resp = ec2.describe_images(Filters=[{"Name": "name", "Values": [name]}])
    images = sorted(resp.get("Images", []), key=lambda i: i.get("CreationDate", ""), reverse=True)
    if not images:
        return None
    image = images[0]
    device = image.get("RootDeviceName") or "/dev/xvda"
    size = next((m["Ebs"].get("VolumeSize") for m in image.get("BlockDeviceMappings", [])
                 if m.get("DeviceName") == device and "Ebs" in m), None)
    return {"id": image["ImageId"], "root": {"device": device, "size_gib": int(size or 0)}}


def imported_vpc(ec2: Any, vpc_id: str) -> dict[str, Any]:
    """Zones, CIDR, subnets and route tables of an existing VPC, grouped the way CDK groups
    them: public (routes to an internet gateway), private (routes to a NAT), isolated."""
    from hyper_tui.aws.session import error_code
    from hyper_tui.errors import NotFoundError

    try:
        vpcs = ec2.describe_vpcs(VpcIds=[vpc_id]).get("Vpcs", [])
    except Exception as err:
        if error_code(err) != "InvalidVpcID.NotFound":
            raise
        vpcs = []
    if not vpcs:
        raise NotFoundError(f"VPC {vpc_id} does not exist in this region",
                            fix="check the region's vpc_id (hyper-tui regions update-region)")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]).get("Subnets", [])
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]).get("RouteTables", [])
    main_table = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    table_of: dict[str, dict] = {}
    for t in tables:
        for a in t.get("Associations", []):
            if a.get("SubnetId"):
                table_of[a["SubnetId"]] = t

    def kind(table: dict | None) -> str:
        routes = (table or {}).get("Routes", [])
        if any(str(r.get("GatewayId", "")).startswith("igw-") for r in routes):
            return "public"
        if any(r.get("NatGatewayId") or r.get("TransitGatewayId") for r in routes):
            return "private"
        return "isolated"

    out: dict[str, Any] = {"vpc_id": vpc_id, "cidr": vpcs[0]["CidrBlock"]}
    zones: set[str] = set()
    for sub in sorted(subnets, key=lambda s: (s.get("AvailabilityZone", ""), s["SubnetId"])):
        table = table_of.get(sub["SubnetId"], main_table)
        group = kind(table)
        out.setdefault(f"{group}_subnet_ids", []).append(sub["SubnetId"])
        out.setdefault(f"{group}_route_table_ids", []).append((table or {}).get("RouteTableId", ""))
        zones.add(sub.get("AvailabilityZone", ""))
    out["availability_zones"] = sorted(z for z in zones if z)
    return out


def refresh_lookups(cfg: HostConfig, *, session: AwsSession | None = None, store: Any = None,
                    weights: bool = True) -> dict[str, Any]:
    """Look everything up, merge it into the host's stored look-ups and return them."""
    session = session or AwsSession(cfg.host.main_region)
    data: dict[str, Any] = {"availability_zones": {}, "amis": {}, "ami_roots": {}, "vpcs": {}}
    for region in sorted(cfg.regions):
        with aws_errors(f"looking up region {region}", region=region):
            ec2 = session.client("ec2", region)
            data["availability_zones"][region] = availability_zones(ec2)
            vpc_id = cfg.regions[region].vpc_id
            if vpc_id:
                data["vpcs"][region] = imported_vpc(ec2, vpc_id)
            for cluster in cfg.clusters.values():
                if cluster.ami_name:
                    found = newest_ami(ec2, cluster.ami_name)
                    if found is None:
                        from hyper_tui.errors import NotFoundError

                        raise NotFoundError(
                            f"cluster {cluster.name}: no AMI named {cluster.ami_name!r} in {region}",
                            fix="copy the AMI to that region, or change ami_name")
                    data["amis"].setdefault(cluster.name, {})[region] = found["id"]
                    data["ami_roots"].setdefault(cluster.name, {})[region] = found["root"]
    if weights and any(w == "auto" for q in cfg.queues.values() for w in q.weights.values()):
        from hyper_tui.aws.weights_refresh import refresh_weights

        data["weights"] = refresh_weights(cfg, None, session=session, store=store, publish=False)
    data["refreshed_at"] = round(time.time(), 3)
    return save_lookups(cfg.host.name, data, store=store)


def save_lookups(host: str, fresh: dict[str, Any], *, store: Any = None) -> dict[str, Any]:
    from hyper_tui.local.apply import open_store

    own = store is None
    store = store or open_store(host)
    try:
        raw = store.get_meta(LOOKUPS_META_KEY)
        data = json.loads(raw) if raw else {}
        for key, value in fresh.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key].update(value)
            else:
                data[key] = value
        store.set_meta(LOOKUPS_META_KEY, json.dumps(data, sort_keys=True))
        return data
    finally:
        if own:
            store.close()
