"""The CDK app of an aws host, built from its validated config. No AWS calls: whatever needs
AWS is in ``lookups`` (see ``hyper_tui.aws.infra.lookups``), and availability zones go into the context.

Stacks (names from schema.py), in deployment order:

1. ``compute-<main>``: the main region's network, Batch and job definitions;
2. ``compute-<hub>`` for each hub (a peered hub references the main VPC id);
3. ``peering-<main>`` when a hub peers: the main VPC's routes to the hubs;
4. ``control-<main>``: jobs table, work queues, API, scaler, dashboard, image replication
   and images (after every compute stack, so every hub's repository exists first).
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from typing import Any  # noqa: E402

import aws_cdk as cdk  # noqa: E402

from hyper_tui.aws import schema  # noqa: E402
from hyper_tui.aws.infra import nag, plan  # noqa: E402
from hyper_tui.aws.infra.components.code import project_code  # noqa: E402
from hyper_tui.aws.infra.lookups import Lookups  # noqa: E402
from hyper_tui.aws.infra.stacks.compute import ComputeStack  # noqa: E402
from hyper_tui.aws.infra.stacks.control import ControlStack  # noqa: E402
from hyper_tui.aws.infra.stacks.peering import PeeringStack  # noqa: E402
from hyper_tui.config import HostConfig  # noqa: E402
from hyper_tui.core.errors import ValidationError  # noqa: E402
from hyper_tui.model import HostKind, SubnetConfig, VpcEndpoints  # noqa: E402

LOOKUPS_CONTEXT_KEY = "hyper:lookups"


def az_context_key(account: str, region: str) -> str:
    return f"availability-zones:account={account}:region={region}"


def check_control_queue_names(cfg: HostConfig) -> None:
    """Workers may create and delete the queues named ``{host}-ctl-*`` (their control queues,
    ``schema.control_queue_prefix``): no work queue of this host may be named so (a queue
    ``ctl``), nor, in the same account, any queue of a host named ``{host}-ctl...``."""
    host = schema.control_queue_prefix(cfg.host.name)[:-len("-ctl-")]
    if "-ctl-" in f"-{host}-":
        raise ValidationError(
            f"host {cfg.host.name!r}: a host name with a 'ctl' part would share the workers' "
            "control-queue names (<host>-ctl-*) with another host's queues",
            fix="create the host under another name (hyper-tui hosts create-host --name ...)")
    for name in sorted(cfg.queues):
        safe = schema.work_queue_name(cfg.host.name, name, "d")[len(host) + 1:]
        if safe.startswith("ctl-"):
            raise ValidationError(
                f"queues.{name}: a queue named 'ctl' or 'ctl-...' would be named like a "
                f"worker's control queue ({host}-ctl-*), which workers may delete",
                fix="rename the queue (hyper-tui queues add-queue --name ... and delete this one)")


def check_host(cfg: HostConfig) -> None:
    if cfg.host.kind is not HostKind.AWS:
        raise ValidationError(f"host {cfg.host.name!r} is a {cfg.host.kind.value} host; only aws "
                              "hosts are deployed with CDK")
    cfg.check(cfg.host.name)
    if cfg.main_region is None:
        raise ValidationError(f"host {cfg.host.name!r} has no main region",
                              fix="add one: hyper-tui regions init-main-region")
    check_control_queue_names(cfg)
    for name, region in sorted(cfg.regions.items()):
        if not region.vpc_cidr and not region.vpc_id:
            raise ValidationError(
                f"regions.{name}: neither vpc_cidr (a new VPC) nor vpc_id (an existing one)",
                fix=f"hyper-tui regions update-region --name {name} --vpc-cidr 10.N.0.0/16 "
                    "(distinct from the other regions' if they peer) or --vpc-id vpc-...")
        if (region.subnet_config is SubnetConfig.PRIVATE_ISOLATED and not region.vpc_id
                and region.vpc_endpoints is not VpcEndpoints.FOR_PRIVATE_VPC):
            # Batch instances in subnets with no route out register with ECS, pull from ECR
            # and log through interface endpoints only: without them no job ever starts.
            raise ValidationError(
                f"regions.{name}.vpc_endpoints: {region.vpc_endpoints.value} leaves workers in "
                "PRIVATE_ISOLATED subnets without ECS, ECR and CloudWatch Logs: nothing would run",
                fix=f"hyper-tui regions update-region --name {name} --vpc-endpoints "
                    "FOR_PRIVATE_VPC (or --subnet-config PRIVATE_WITH_NAT)")


def build_app(cfg: HostConfig, *, context: dict[str, Any], outdir: str,
              lookups: dict[str, Any] | None = None) -> cdk.App:
    """The app with every stack of ``cfg``'s host, nag-checked (findings not suppressed with a
    reason are error annotations). ``lookups`` may also come as ``context["hyper:lookups"]``."""
    check_host(cfg)
    raw = lookups if lookups is not None else context.get(LOOKUPS_CONTEXT_KEY) or {}
    found = Lookups.from_dict(raw)
    plan.check_peering(cfg, found)
    host, account, main_name = cfg.host.name, cfg.host.account, cfg.host.main_region
    assert account is not None
    ctx = {"@aws-cdk/core:defaultCrossStackReferences": "strong"}
    ctx.update({k: v for k, v in context.items() if k != LOOKUPS_CONTEXT_KEY})
    for name, region in cfg.regions.items():
        zones = found.imported_vpc(name).availability_zones if region.vpc_id \
            else found.zones(name)
        ctx[az_context_key(account, name)] = list(zones)
    # The built-in CloudFormation validation only warns, and takes 95% of the synth time;
    # templates are checked with cfn-lint instead (tests/infra/test_nag_and_lint.py).
    app = cdk.App(outdir=outdir, context=ctx, analytics_reporting=False, stack_traces=False,
                  builtin_cloud_formation_validation=False)

    def env(region: str) -> cdk.Environment:
        return cdk.Environment(account=account, region=region)

    main = ComputeStack(app, schema.compute_stack_name(host, main_name), cfg=cfg,
                        lookups=found, region=cfg.regions[main_name], env=env(main_name))
    hubs = {name: ComputeStack(app, schema.compute_stack_name(host, name), cfg=cfg,
                               lookups=found, region=region, env=env(name))
            for name, region in sorted(cfg.regions.items()) if name != main_name}
    for hub in hubs.values():
        hub.add_stack_dependency(main, "the main VPC exists before hubs peer with it")
    peered = {name: hub for name, hub in hubs.items() if hub.peering is not None}
    if peered:
        PeeringStack(app, schema.peering_stack_name(host, main_name), host=host,
                     env=env(main_name), main=main, hubs=peered)
    control = ControlStack(app, schema.control_stack_name(host, main_name), cfg=cfg,
                           lookups=found, env=env(main_name), code=project_code())
    for stack in (main, *hubs.values()):
        control.add_stack_dependency(stack, "hub repositories exist before images replicate")
    cdk.Tags.of(app).add("hyper:host", host)
    nag.check(app)
    return app
