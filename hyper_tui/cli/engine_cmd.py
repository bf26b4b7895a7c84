"""Engine commands: ``worker`` (run the agent here), ``emergency-stop``, and for aws hosts
``synth`` and ``deploy``."""

from __future__ import annotations

import argparse
import os
import uuid
from typing import Any

from hyper_tui.cli import output
from hyper_tui.errors import UsageError


def register(sub: argparse._SubParsersAction, parser_cls: type) -> None:
    w = sub.add_parser("worker", help="run a worker agent on this machine",
                       description="Run the worker agent here: it takes jobs of QUEUE from the "
                       "host (local store, or SQS + DynamoDB for an aws host) until idle. On an aws "
                       "host this is how an on-premise node joins a cluster's queue.")
    w.add_argument("--queue", "-q", required=True)
    w.add_argument("--definition", "-d", default="default")
    w.add_argument("--idle-timeout", type=float, default=300.0, help="seconds idle before exit")
    w.add_argument("--max-jobs", type=int, default=None)
    w.set_defaults(func=cmd_worker)

    e = sub.add_parser("emergency-stop", help="cancel every job and stop all compute",
                       description="Cancel every queued and running job of the host and scale its "
                       "compute to zero, in every region.")
    e.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    e.set_defaults(func=cmd_emergency_stop)

    s = sub.add_parser("synth", help="write the CloudFormation templates of an aws host (offline)")
    s.add_argument("--out", default=None, help="output directory (default: the host's data dir)")
    s.set_defaults(func=cmd_synth)

    d = sub.add_parser("deploy", help="synthesize and deploy an aws host with the CDK CLI",
                       description="Refresh the AWS look-ups, synthesize every stack and run "
                       "'cdk deploy' (npm package aws-cdk: found on PATH or installed on demand "
                       "into a cache). Progress is printed per stack and recorded on the resources.")
    d.add_argument("--out", default=None, help="cloud assembly directory")
    d.add_argument("--no-lookups", action="store_true",
                   help="use the stored look-ups instead of refreshing them")
    d.set_defaults(func=cmd_deploy)

    lk = sub.add_parser("lookups", help="look up what synth needs from AWS (zones, AMIs, VPCs, "
                        "spot scores)",
                        description="Look up availability zones, AMI ids, imported VPCs' subnets "
                        "and 'auto' weights with your AWS credentials, and keep them in the host's "
                        "state so that synth stays offline.")
    lk.set_defaults(func=cmd_lookups)


def cmd_worker(ctx: Any, args: argparse.Namespace) -> int:
    from hyper_tui.agent.loop import AgentOptions, run_agent

    cfg = ctx.config()
    cfg.get("queues", args.queue)
    cfg.get("definitions", args.definition)
    wid = f"w-{os.uname().nodename[:16]}-{uuid.uuid4().hex[:6]}"
    with ctx.client() as client:
        transport = client.agent_transport(wid, args.queue, args.definition)
    beat = getattr(transport, "beat_every", None) or cfg.host.settings.lease_seconds / 5
    n = run_agent(transport, AgentOptions(idle_timeout=args.idle_timeout, max_jobs=args.max_jobs,
                                          heartbeat_every=beat))
    print(f"worker {wid}: ran {n} job(s)")
    return 0


def cmd_emergency_stop(ctx: Any, args: argparse.Namespace) -> int:
    import sys

    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("emergency-stop: confirmation needed", fix="pass --yes")
        answer = input(f"Cancel EVERY job of host {ctx.host.name} and stop all compute? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing done")
            return 0
    with ctx.client() as client:
        result = client.emergency_stop()
    if ctx.json:
        output.as_json(result)
    else:
        output.key_values(result)
    return 0


def _aws_only(ctx: Any, what: str):
    """The config of a host that is deployed (an aws host); others have nothing to deploy."""
    cfg = ctx.config()
    with ctx.client() as client:
        if not client.capabilities.deploy:
            raise UsageError(f"{what}: host {cfg.host.name!r} is a {client.kind} host; nothing "
                             "to synthesize", fix="select an aws host (hosts create-host --kind aws ...)")
    return cfg


def cmd_synth(ctx: Any, args: argparse.Namespace) -> int:
    cfg = _aws_only(ctx, "synth")
    from hyper_tui.aws.synth import synth_host

    files = synth_host(cfg, args.out)
    if ctx.json:
        output.as_json([str(f) for f in files])
    else:
        for f in files:
            print(f)
    return 0


def cmd_deploy(ctx: Any, args: argparse.Namespace) -> int:
    cfg = _aws_only(ctx, "deploy")
    from hyper_tui.aws.deploy import deploy_host_cli

    if not args.no_lookups:
        from hyper_tui.aws.lookups_refresh import refresh_lookups

        refresh_lookups(cfg)
    return deploy_host_cli(cfg, args.out)


def cmd_lookups(ctx: Any, args: argparse.Namespace) -> int:
    cfg = _aws_only(ctx, "lookups")
    from hyper_tui.aws.lookups_refresh import refresh_lookups

    data = refresh_lookups(cfg)
    if ctx.json:
        output.as_json(data)
    else:
        for region, zones in sorted(data.get("availability_zones", {}).items()):
            print(f"{region}: zones {', '.join(zones)}")
        for cluster, amis in sorted(data.get("amis", {}).items()):
            print(f"cluster {cluster}: " + ", ".join(f"{r}={a}" for r, a in sorted(amis.items())))
        for region, vpc in sorted(data.get("vpcs", {}).items()):
            print(f"{region}: imported {vpc['vpc_id']} ({vpc['cidr']})")
        for queue, weights in sorted(data.get("weights", {}).items()):
            print(f"queue {queue}: " + ", ".join(f"{r}={w}" for r, w in sorted(weights.items())))
    return 0
