"""Engine commands: ``worker`` (run the agent here), ``emergency-stop``, and for aws hosts
``synth``, ``diff``, ``bootstrap``, ``deploy`` and ``import-retained``."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable
from typing import Any

from hyper_tui.cli import output
from hyper_tui.core.errors import UsageError


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

    d = sub.add_parser("deploy", help="show the diff of an aws host, ask, and deploy it",
                       description="Refresh the AWS look-ups, synthesize every stack, show "
                       "'cdk diff' per stack and ask before deploying (y/N); then bootstrap "
                       "with the scoped policies (see bootstrap) and run 'cdk deploy' of exactly "
                       "what was shown (npm package aws-cdk: found on PATH or installed on "
                       "demand into a cache). Progress is printed per stack and recorded on the "
                       "resources. Without a terminal it refuses (exit 2) unless --yes is given. "
                       "cdk runs with --require-approval never only once the diff (which shows "
                       "its IAM and security-group changes) was approved: --yes, or y. Exit 1 "
                       "when a stack failed.")
    add_assembly_arguments(d, app_help="diff and deploy this ready cloud assembly (e.g. from "
                           "synth --out) instead of synthesizing")
    d.add_argument("--yes", "-y", action="store_true",
                   help="deploy without asking (scripts): the diff is still printed")
    d.add_argument("--diff-only", action="store_true", help="print the diff and stop (as diff)")
    d.add_argument("--no-bootstrap", action="store_true",
                   help="skip 'cdk bootstrap' (the account was bootstrapped by hyper-tui "
                   "bootstrap already)")
    d.set_defaults(func=cmd_deploy)

    df = sub.add_parser("diff", help="show what a deploy of an aws host would change",
                        description="Synthesize every stack and print 'cdk diff' of each "
                        "against what CloudFormation holds (a stack not deployed yet shows "
                        "everything added). Changes nothing.")
    add_assembly_arguments(df, app_help="diff this ready cloud assembly instead of synthesizing")
    df.set_defaults(func=cmd_diff)

    b = sub.add_parser("bootstrap", help="prepare an AWS account for deploys, with scoped "
                       "permissions",
                       description="Create (or update) two customer managed policies in the "
                       "host's account: hyper-tui-cfn-execution, what CloudFormation may do for "
                       "hyper-tui's stacks, and hyper-tui-boundary, the permissions boundary of "
                       "every role they create; then run 'cdk bootstrap' of every region with "
                       "--cloudformation-execution-policies and --custom-permissions-boundary "
                       "instead of AdministratorAccess (infra/README.md, Deploying).")
    b.add_argument("--show-policies", action="store_true",
                   help="print both policy documents (JSON) and stop")
    b.set_defaults(func=cmd_bootstrap)

    ir = sub.add_parser("import-retained", help="find an aws host's retained resources and "
                        "write the 'cdk import' mapping files",
                        description="The jobs table, log groups and ECR repositories outlive a "
                        "deleted stack (DeletionPolicy RetainExceptOnCreate) and then block a "
                        "deploy that creates them again. This finds those of the host's "
                        "templates (a fresh offline synth, or --app) that exist outside their "
                        "stack, writes STACK.resource-mapping.json per stack and prints the "
                        "'cdk import' command of each; run those, then hyper-tui deploy. "
                        "Changes nothing in AWS.")
    ir.add_argument("--app", default=None, metavar="DIR", help="a ready cloud assembly")
    ir.add_argument("--out", default=None, help="where the mapping files go (default: the "
                    "assembly's directory)")
    ir.set_defaults(func=cmd_import_retained)

    lk = sub.add_parser("lookups", help="look up what synth needs from AWS (zones, AMIs, VPCs, "
                        "spot scores)",
                        description="Look up availability zones, AMI ids, imported VPCs' subnets "
                        "and 'auto' weights with your AWS credentials, and keep them in the host's "
                        "state so that synth stays offline.")
    lk.set_defaults(func=cmd_lookups)


def add_assembly_arguments(parser: argparse.ArgumentParser, *, app_help: str) -> None:
    """The cloud-assembly options that ``diff`` and ``deploy`` share: --out, --app, --no-lookups."""
    parser.add_argument("--out", default=None, help="cloud assembly directory")
    parser.add_argument("--app", default=None, metavar="DIR", help=app_help)
    parser.add_argument("--no-lookups", action="store_true",
                        help="use the stored look-ups instead of refreshing them")


def cmd_worker(ctx: Any, args: argparse.Namespace) -> int:
    from hyper_tui.agent.loop import AgentOptions, run_agent

    cfg = ctx.config()
    cfg.get("queues", args.queue)
    cfg.get("definitions", args.definition)
    wid = f"w-{os.uname().nodename[:16]}-{uuid.uuid4().hex[:6]}"
    with ctx.client() as client:  # opening a local host re-applies a config edited by hand
        kind = client.kind
    transport = TRANSPORTS[kind](cfg, wid, args.queue, args.definition)
    beat = getattr(transport, "beat_every", None) or cfg.host.settings.lease_seconds / 5
    n = run_agent(transport, AgentOptions(idle_timeout=args.idle_timeout, max_jobs=args.max_jobs,
                                          heartbeat_every=beat, own_process=True))
    print(f"worker {wid}: ran {n} job(s)")
    return 0


# The agent runs here, in this process: the CLI builds its transport, so that no host kind
# imports the agent (a host kind is a folder, a line in hosts.registry.KINDS and one here).
def _local_transport(cfg: Any, worker_id: str, queue: str, definition: str) -> Any:
    from hyper_tui import paths
    from hyper_tui.agent.transports.local import LocalTransport

    return LocalTransport(paths.store_path(cfg.host.name), worker_id=worker_id, queue=queue,
                          definition=definition, vcpus=cfg.get("definitions", definition).vcpus)


def _aws_transport(cfg: Any, worker_id: str, queue: str, definition: str) -> Any:
    """An on-premise node joining a queue of an aws host."""
    from hyper_tui.agent.transports.aws import AwsTransport

    return AwsTransport.for_host(cfg, worker_id=worker_id, queue=queue, definition=definition)


TRANSPORTS: dict[str, Callable[[Any, str, str, str], Any]] = {
    "local": _local_transport, "aws": _aws_transport}


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


def cmd_synth(ctx: Any, args: argparse.Namespace) -> int:
    with ctx.client() as client:
        files = client.synth(args.out)
    if ctx.json:
        output.as_json([str(f) for f in files])
    else:
        for f in files:
            print(f)
    return 0


def _print_event(ev: Any) -> None:
    print(f"{ev.stack or '-'} | {ev.status} | {ev.line}", flush=True)


def _diff(ctx: Any, client: Any, args: argparse.Namespace) -> Any:
    result = client.diff(args.out, lookups=not args.no_lookups and not args.app,
                         assembly=args.app)
    if ctx.json:
        output.as_json({s: {"summary": d.summary(), "lines": d.lines}
                        for s, d in result.stacks.items()})
    else:
        print(result.text(), flush=True)
    return result


def cmd_diff(ctx: Any, args: argparse.Namespace) -> int:
    """The diff per stack; 0 whether or not anything differs."""
    with ctx.client() as client:
        _diff(ctx, client, args)
    return 0


def cmd_deploy(ctx: Any, args: argparse.Namespace) -> int:
    """The diff, a question, then progress per stack as it comes; 0 when every stack is
    ACTIVE (or nothing differs), 1 when one failed, 2 when asked without a terminal."""
    import sys

    tty = sys.stdin.isatty()
    if not args.yes and not args.diff_only and not tty:
        raise UsageError("deploy: confirmation needed and stdin is not a terminal",
                         fix="pass --yes to deploy what the diff shows, or run hyper-tui diff")
    with ctx.client() as client:
        shown = _diff(ctx, client, args)
        if args.diff_only:
            return 0
        if not shown.differs:
            print(f"host {ctx.host.name}: no differences, nothing to deploy")
            return 0
        if not args.yes:
            changed = sum(1 for d in shown.stacks.values() if d.differs)
            answer = input(f"Deploy these changes to {changed} stack(s) of host "
                           f"{ctx.host.name}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deployed")
                return 0
        # --yes, or y to the diff shown (cdk's IAM and security-group tables are in it)
        result = client.deploy(assembly=shown.assembly, lookups=False, on_event=_print_event,
                               approved=True, bootstrap=not args.no_bootstrap)
    for stack, status in result.stacks.items():
        print(f"{stack}: {status}")
    if result.status != "ACTIVE":
        sys.stderr.write(f"hyper-tui: deploy failed: {result.failure}; log: {result.log_path}\n")
        return 1
    return 0


def cmd_bootstrap(ctx: Any, args: argparse.Namespace) -> int:
    with ctx.client() as client:
        if args.show_policies:
            output.as_json(client.bootstrap_policies())
            return 0
        scoped = client.bootstrap(on_event=_print_event)
    print(f"bootstrapped with --cloudformation-execution-policies {scoped.execution_policy_arn} "
          f"--custom-permissions-boundary {scoped.boundary}")
    return 0


def cmd_import_retained(ctx: Any, args: argparse.Namespace) -> int:
    with ctx.client() as client:
        result = client.import_retained(args.app, args.out)
    plan = result.plan
    if ctx.json:
        output.as_json({"assembly": str(result.assembly),
                        "import": {s: [r.logical_id for r in rs]
                                   for s, rs in sorted(plan.to_import.items())},
                        "files": {s: str(f) for s, f in sorted(result.files.items())},
                        "commands": result.commands(),
                        "in_stack": [r.name for r in plan.in_stack],
                        "missing": [r.name for r in plan.missing]})
        return 0
    for stack, found in sorted(plan.to_import.items()):
        for r in found:
            print(f"{stack}: {r.kind} {r.name} exists outside the stack (logical id "
                  f"{r.logical_id})")
    for r in plan.in_stack:
        print(f"{r.stack}: {r.kind} {r.name} is in its stack: nothing to import")
    if not result.files:
        print(f"host {ctx.host.name}: no retained resource to import")
        return 0
    print("import them, then deploy the rest (hyper-tui deploy):")
    for line in result.commands():
        print(f"  {line}")
    return 0


def cmd_lookups(ctx: Any, args: argparse.Namespace) -> int:
    with ctx.client() as client:
        data = client.refresh_lookups()
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
