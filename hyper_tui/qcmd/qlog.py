"""qlog: a job's records as ``TYPE | timestamp | data``.

    qlog ID                   SYSTEM events, STDOUT and STDERR lines, METRICS samples, in time order
    qlog ID -t STDOUT         only one type (SYSTEM, STDOUT, STDERR, METRICS)
    qlog ID --tail 20         the last 20 records
    qlog ID -f                follow until the job ends, then exit with its status

With -f, the exit status is the job's, as qsub --wait gives it: 0 SUCCEEDED, the job's exit
code when it FAILED (128+N if killed by signal N), 1 CANCELLED, timed out or lost its worker.
Without -f: 0. A job that does not exist: 4.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from hyper_tui.core.errors import UsageError, ValidationError
from hyper_tui.core.jobs import LogRecord
from hyper_tui.hosts.follow import exit_status, follow
from hyper_tui.qcmd.common import client_for, parser, run_main
from hyper_tui.safe_text import escape_controls

TYPES = ("SYSTEM", "STDOUT", "STDERR", "METRICS")


def build_parser() -> argparse.ArgumentParser:
    p = parser("qlog", __doc__)
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("-i", "--job-id", dest="job_id")
    p.add_argument("-q", "--queue", help="accepted for compatibility; ids are unique per host")
    p.add_argument("-t", "--log-type", dest="type", help="SYSTEM, STDOUT, STDERR or METRICS")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N records")
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing until the job ends; exit with its status")
    p.add_argument("--raw", action="store_true",
                   help="print the job's bytes as they are (on a terminal, control characters "
                        "such as escape sequences are shown as ^[ and \\x9b, never obeyed)")
    p.add_argument("--host")
    return p


def fmt_ts(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    ref = args.id or args.job_id
    if not ref:
        raise UsageError("qlog: give a job id", fix="qlog ID")
    kind_filter = args.type.upper() if args.type else None
    if kind_filter and kind_filter not in TYPES:
        raise ValidationError(f"qlog: unknown log type {args.type!r}", fix="use " + ", ".join(TYPES))
    if args.tail is not None and args.tail < 1:
        raise ValidationError("qlog: --tail must be at least 1")
    client = client_for(args.host)
    try:
        job = client.get_job(ref)
        if job.array_size:
            raise UsageError(f"qlog: {ref} is an array of {job.array_size} tasks",
                             fix=f"name one task, e.g. qlog {job.job_id}")
        out = sys.stdout
        escape = not args.raw and out.isatty()  # output is data: a job cannot drive the terminal
        caps = client.capabilities
        for chunk in follow(client, ref, tail=args.tail, poll_s=caps.log_poll_s,
                            max_poll_s=caps.log_poll_max_s, once=not args.follow):
            write_records(chunk.records, kind_filter, out, escape=escape)
            out.flush()
        return exit_status(client.get_job(ref)) if args.follow else 0
    finally:
        client.close()


def write_records(records: list[LogRecord], kind_filter: str | None, out: TextIO, *,
                  escape: bool = False) -> None:
    for r in records:
        if kind_filter and r.type != kind_filter:
            continue
        data = escape_controls(r.data, keep_newlines=False) if escape else r.data
        out.write(f"{r.type} | {fmt_ts(r.ts)} | {data}\n")


def main(argv: list[str] | None = None) -> int:
    return run_main("qlog", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
