"""qdel: cancel jobs, queued and running alike.

    qdel ID [ID ...]          jobs, array tasks ID[i], or whole arrays ID / ID[]
    qdel -                    read ids from stdin (qstat -q Q --only-job-id-out | qdel -)
    qdel -q QUEUE -j NAME     every job of that name in the queue
    qdel -q QUEUE --all       every job of the queue

A running job's process group gets SIGTERM, then SIGKILL after a grace period. Finished jobs
are left as they are and reported so. Each job or task gets a line (named ID or ID[INDEX]); a
whole array or a filter that matches more than 100 jobs gets one summary line. Ids read from
stdin are cancelled a few thousand at a time, as they come.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator

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


STDIN_CHUNK = 5000  # ids read from stdin per cancel call: memory stays bounded


def _stdin_chunks() -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in sys.stdin:
        chunk.extend(line.split())
        if len(chunk) >= STDIN_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    refs = list(args.ids) + list(args.job_ids)
    from_stdin = "-" in refs
    if from_stdin:
        refs = [r for r in refs if r != "-"]
    if (args.name or args.all) and not args.queue:
        raise UsageError("qdel: -j NAME and --all need -q QUEUE")
    if args.queue and not (args.name or args.all):
        raise UsageError("qdel: -q QUEUE needs -j NAME or --all", fix="or give job ids")
    if not refs and not args.queue and not from_stdin:
        raise UsageError("qdel: no jobs given", fix="qdel ID..., qdel -, or qdel -q QUEUE -j NAME|--all")
    client = client_for(args.host)
    shown = 0
    results: list = []
    try:
        batches: Iterator[list[str]] = iter([refs] if refs or not from_stdin else [])
        if from_stdin:
            batches = itertools.chain(batches, _stdin_chunks())
        for batch in batches:
            shown += _report(client.cancel(batch), args.output, results)
        if args.queue:
            shown += _report(client.cancel([], queue=args.queue, name=args.name,
                                           everything=args.all), args.output, results)
    finally:
        client.close()
    if args.output == "json":
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    elif not shown:
        sys.stdout.write("no jobs matched\n")
    return 0


def _report(batch: list, output: str, keep: list) -> int:
    """Print (or keep, for JSON) one batch of results; how many."""
    if output == "json":
        keep.extend(r.__dict__ for r in batch)
        return len(batch)
    out = sys.stdout
    for r in batch:
        if not r.before:  # a summary: a whole array or a filter
            out.write(f"{r.job_id}: {r.outcome}\n")
        elif r.outcome == "cancelled":
            extra = " (process group sent SIGTERM)" if r.before == "RUNNING" else ""
            out.write(f"{r.job_id}: cancelled (was {r.before}){extra}\n")
        else:
            out.write(f"{r.job_id}: already {r.before}, left as it is\n")
    out.flush()
    return len(batch)


def main(argv: list[str] | None = None) -> int:
    return run_main("qdel", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
