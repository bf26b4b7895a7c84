"""qrls: release held jobs (qsub --hold). Jobs still waiting on dependencies stay PENDING."""

from __future__ import annotations

import sys

from hyper_tui.qcmd.common import LocalHost, open_host, parser, run_main


def run(argv: list[str]) -> int:
    p = parser("qrls", __doc__)
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--host")
    args = p.parse_args(argv)
    name, kind = open_host(args.host)
    if kind != "local":
        from hyper_tui.qcmd.common import aws_client

        for ref, what in aws_client(name).release(args.ids):
            sys.stdout.write(f"{ref}: {what}\n")
        return 0
    from hyper_tui.local import jobs
    from hyper_tui.local.daemon_control import ensure_daemon

    host = LocalHost(name)
    try:
        for ref, what in jobs.release(host.store, args.ids):
            sys.stdout.write(f"{ref}: {what}\n")
        ensure_daemon(name)
    finally:
        host.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("qrls", run, argv)


def entry() -> None:
    sys.exit(main())
