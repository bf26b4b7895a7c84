"""qdel: cancel jobs, queued and running alike.

    qdel ID [ID ...]          jobs, array tasks ID[i], or whole arrays ID / ID[]
    qdel -                    read ids from stdin (qstat -q Q --only-job-id-out | qdel -)
    qdel -q QUEUE -j NAME     every job of that name in the queue
    qdel -q QUEUE --all       every job of the queue

A running job's process group gets SIGTERM, then SIGKILL after a grace period. Finished jobs
are left as they are and reported so.
"""

from __future__ import annotations

import argparse
import json
import sys

from hyper_tui.core.errors import UsageError
from hyper_tui.qcmd.common import client_for, parser, run_main


def build_parser() -> argparse.ArgumentParser:
    p = parser("qdel", __doc__)
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("-i", "--job-id", dest="job_ids", action="append", default=[])
    p.add_argument("-q", "--queue")
    p.add_argument("-j", "--job-name", dest="name")
    p.add_argument("--all", action="store_true", help="with -q: every job of the queue")
    p.add_argument("--host")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    return p


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    refs = list(args.ids) + list(args.job_ids)
    if "-" in refs:
        refs.remove("-")
        refs += [w for line in sys.stdin.read().splitlines() for w in line.split()]
    if (args.name or args.all) and not args.queue:
        raise UsageError("qdel: -j NAME and --all need -q QUEUE")
    if args.queue and not (args.name or args.all):
        raise UsageError("qdel: -q QUEUE needs -j NAME or --all", fix="or give job ids")
    if not refs and not args.queue:
        raise UsageError("qdel: no jobs given", fix="qdel ID..., qdel -, or qdel -q QUEUE -j NAME|--all")
    client = client_for(args.host)
    try:
        results = client.cancel(refs, queue=args.queue, name=args.name, everything=args.all)
    finally:
        client.close()
    if args.output == "json":
        sys.stdout.write(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    else:
        for r in results:
            if r.outcome == "cancelled":
                extra = " (process group sent SIGTERM)" if r.before == "RUNNING" else ""
                sys.stdout.write(f"{r.job_id}: cancelled (was {r.before}){extra}\n")
            else:
                sys.stdout.write(f"{r.job_id}: already {r.before}, left as it is\n")
        if not results:
            sys.stdout.write("no jobs matched\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("qdel", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
