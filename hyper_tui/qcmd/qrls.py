"""qrls: release held jobs (qsub --hold). Jobs still waiting on dependencies stay PENDING."""

from __future__ import annotations

import sys

from hyper_tui.qcmd.common import client_for, parser, run_main


def run(argv: list[str]) -> int:
    p = parser("qrls", __doc__)
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--host")
    args = p.parse_args(argv)
    client = client_for(args.host)
    try:
        for r in client.release(args.ids):
            sys.stdout.write(f"{r.ref}: {r.outcome}\n")
    finally:
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("qrls", run, argv)


def entry() -> None:
    sys.exit(main())
