"""``hyper-tui hosts ...``: create, list, select, import, delete, start and stop hosts."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hyper_tui.cli import output
from hyper_tui.cli.parsing import parse_bool
from hyper_tui.core.errors import UsageError
from hyper_tui.hosts import registry


def register(sub: argparse._SubParsersAction, parser_cls: type) -> None:
    group = sub.add_parser("hosts", help="manage hosts (deployments of the control plane)",
                           description="Manage hosts. A local host runs everything on this "
                           "machine; an aws host is a deployment in an AWS account.")
    cmds = group.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_cls)
    cmds.required = True

    c = cmds.add_parser("create-host", aliases=["create", "add"], help="create a host and select it",
                        description="Create a host. Kind local (default) needs nothing else; "
                        "kind aws needs --account and --region.")
    c.add_argument("name_pos", nargs="?", metavar="NAME")
    c.add_argument("--name", "-n", help="host name (the stack-name prefix on AWS)")
    c.add_argument("--kind", choices=("local", "aws"), default=None,
                   help="local (default) or aws (default when --account is given)")
    c.add_argument("--account", help="AWS account id (aws hosts)")
    c.add_argument("--region", help="main AWS region (aws hosts)")
    c.add_argument("--vpc", help="aws: CIDR of a new main VPC, or a vpc-id to import")
    c.add_argument("--enable-dashboard", default="True", metavar="BOOL",
                   help="aws: create the CloudWatch dashboard. Default: True.")
    c.add_argument("--private-api", default="False", metavar="BOOL",
                   help="aws: make the submit API private. Default: False.")
    c.add_argument("--auto-init-main", default="True", metavar="BOOL",
                   help="declare the main region at once. Default: True.")
    c.add_argument("--empty", action="store_true",
                   help="local: no default cluster, queue and definition")
    c.add_argument("--no-select", action="store_true", help="do not select the new host")
    c.set_defaults(func=cmd_create)

    lst = cmds.add_parser("list-hosts", aliases=["list", "ls"], help="list hosts",
                          description="List hosts; * marks the selected one.")
    lst.set_defaults(func=cmd_list)

    s = cmds.add_parser("select-host", aliases=["select", "use"], help="select the host commands work on")
    s.add_argument("name_pos", nargs="?", metavar="NAME")
    s.add_argument("--name", "-n")
    s.set_defaults(func=cmd_select)

    i = cmds.add_parser("import-deployment", help="register an existing aws deployment",
                        description="Register an aws host deployed elsewhere, from its "
                        "CloudFormation stack outputs.")
    i.add_argument("--name", "-n", required=True)
    i.add_argument("--account", required=True)
    i.add_argument("--region", required=True)
    i.set_defaults(func=cmd_import)

    d = cmds.add_parser("delete-host", aliases=["delete", "rm"], help="delete a host's local registration and state",
                        description="Delete a host from this machine: its config, store and "
                        "logs. An aws deployment is not destroyed (use hyper-tui destroy).")
    d.add_argument("name_pos", nargs="?", metavar="NAME")
    d.add_argument("--name", "-n")
    d.set_defaults(func=cmd_delete)

    st = cmds.add_parser("stop-host", aliases=["stop"], help="stop a local host's scheduler daemon and workers")
    st.add_argument("name_pos", nargs="?", metavar="NAME")
    st.add_argument("--name", "-n")
    st.set_defaults(func=cmd_stop)

    sa = cmds.add_parser("start-host", aliases=["start"], help="start a local host's scheduler daemon")
    sa.add_argument("name_pos", nargs="?", metavar="NAME")
    sa.add_argument("--name", "-n")
    sa.add_argument("--foreground", action="store_true",
                    help="run in the foreground (for systemd and other service managers)")
    sa.set_defaults(func=cmd_start)

    ss = cmds.add_parser("status-host", aliases=["status"], help="show a host's daemon or deployment status")
    ss.add_argument("name_pos", nargs="?", metavar="NAME")
    ss.add_argument("--name", "-n")
    ss.set_defaults(func=cmd_status)


def _name(args: argparse.Namespace, what: str, ctx: Any = None) -> str:
    name = getattr(args, "name", None) or getattr(args, "name_pos", None)
    if not name and ctx is not None:
        return ctx.host.name
    if not name:
        raise UsageError(f"{what}: give the host name", fix=f"hyper-tui hosts {what} NAME")
    return name


def cmd_create(ctx: Any, args: argparse.Namespace) -> int:

    name = _name(args, "create-host")
    kind = registry.create_host(
        name, args.kind, select=not args.no_select, account=args.account, region=args.region,
        vpc=args.vpc, with_defaults=not args.empty,
        enable_dashboard=parse_bool("--enable-dashboard", args.enable_dashboard),
        private_api=parse_bool("--private-api", args.private_api))
    if ctx.json:
        output.as_json({"name": name, "kind": kind, "selected": registry.selected_name() == name})
    else:
        print(f"host {name} ({kind}) created" + ("" if args.no_select else " and selected"))
    return 0


def cmd_list(ctx: Any, args: argparse.Namespace) -> int:
    refs = registry.list_hosts()
    selected = registry.selected_name()
    if ctx.json:
        output.as_json([{"name": r.name, "kind": r.kind, "selected": r.name == selected} for r in refs])
        return 0
    if not refs:
        print("no hosts yet; the first command creates the local host 'local'")
        return 0
    output.table([["*" if r.name == selected else "", r.name, r.kind] for r in refs],
                 ["", "name", "kind"])
    return 0


def cmd_select(ctx: Any, args: argparse.Namespace) -> int:
    name = _name(args, "select-host")
    registry.select(name)
    if ctx.json:
        output.as_json({"selected": name})
    else:
        print(f"host {name} selected")
    return 0


def cmd_import(ctx: Any, args: argparse.Namespace) -> int:
    info = registry.import_host("aws", args.name, account=args.account, region=args.region)
    if ctx.json:
        output.as_json(info)
    else:
        print(f"host {args.name} (aws) imported from stack outputs and selected")
    return 0


def cmd_delete(ctx: Any, args: argparse.Namespace) -> int:

    name = _name(args, "delete-host")
    registry.delete_host(name)
    if ctx.json:
        output.as_json({"deleted": name})
    else:
        print(f"host {name} deleted from this machine")
    return 0


def _daemon_host(ctx: Any, args: argparse.Namespace, what: str) -> Any:
    """The client of a host whose daemon runs on this machine (a local host)."""
    name = _name(args, what, ctx)
    client = registry.client_for(name)
    if not client.capabilities.daemon:
        client.close()
        raise UsageError(f"{what}: host {name!r} is an {client.kind} host; it has no local daemon",
                         fix="use hyper-tui deploy / emergency-stop for aws hosts")
    return client


def cmd_stop(ctx: Any, args: argparse.Namespace) -> int:
    client = _daemon_host(ctx, args, "stop-host")
    try:
        was = client.stop()
    finally:
        client.close()
    name = client.name
    msg = f"host {name}: daemon stopped" if was else f"host {name}: daemon was not running"
    output.as_json({"host": name, "stopped": was}) if ctx.json else print(msg)
    return 0


def cmd_start(ctx: Any, args: argparse.Namespace) -> int:
    client = _daemon_host(ctx, args, "start-host")
    name = client.name
    try:
        pid = None if args.foreground else client.start()
    finally:
        client.close()  # a daemon in the foreground opens its own store
    if args.foreground:
        return client.serve()
    output.as_json({"host": name, "pid": pid}) if ctx.json else print(f"host {name}: daemon running (pid {pid})")
    return 0


def cmd_status(ctx: Any, args: argparse.Namespace) -> int:
    name = _name(args, "status-host", ctx)
    client = registry.client_for(name)
    warning = None
    try:
        info: dict[str, Any] = {"host": name, "kind": client.kind}
        if client.capabilities.daemon:  # its daemon's state, read here
            st = client.status()
            info.update(st.to_dict())
            info.pop("warning", None)
            warning = st.warning  # a stopped daemon with stale RUNNING jobs, a damaged store
        else:  # a deployment: its resources' states (no cloud call; see the TUI's deployments)
            info["resources"] = {f"{k}/{n}": st for (k, n), (st, _) in
                                 client.resource_status().items()}
    finally:
        client.close()
    if ctx.json:
        output.as_json(info)
    else:
        if isinstance(info.get("daemon_last_seen"), float):
            import time

            info["daemon_last_seen"] = time.strftime("%Y-%m-%d %H:%M:%S",
                                                     time.localtime(info["daemon_last_seen"]))
        output.key_values(info)
    if warning:
        print(f"hyper-tui: {warning}", file=sys.stderr)
    return 0
