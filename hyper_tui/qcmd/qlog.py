"""qlog: a job's records as ``TYPE | timestamp | data``.

    qlog ID                   SYSTEM events, STDOUT and STDERR lines, METRICS samples, in time order
    qlog ID -t STDOUT         only one type (SYSTEM, STDOUT, STDERR, METRICS)
    qlog ID --tail 20         the last 20 records
    qlog ID -f                follow until the job ends
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hyper_tui.core.jobs import FINAL_STATES
from hyper_tui.errors import UsageError, ValidationError
from hyper_tui.qcmd.common import LocalHost, open_host, parser, run_main

TYPES = ("SYSTEM", "STDOUT", "STDERR", "METRICS")


def build_parser() -> argparse.ArgumentParser:
    p = parser("qlog", __doc__)
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("-i", "--job-id", dest="job_id")
    p.add_argument("-q", "--queue", help="accepted for compatibility; ids are unique per host")
    p.add_argument("-t", "--log-type", dest="type", help="SYSTEM, STDOUT, STDERR or METRICS")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N records")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    p.add_argument("--host")
    return p


def fmt_ts(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def read_log_file(path: Path, offset: int = 0) -> tuple[list[tuple[float, str, str]], int]:
    """Records of a job's log file from byte ``offset``; returns (records, new offset)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    out = []
    for line in data[:end].split(b"\n"):
        parts = line.split(b"\t", 2)
        if len(parts) == 3:
            try:
                out.append((float(parts[0]), parts[1].decode(), parts[2].decode(errors="replace")))
            except ValueError:
                continue
    return out, offset + end + 1


def tail_log_file(path: Path, n: int) -> list[tuple[float, str, str]]:
    """The last ``n`` records without reading a huge file whole."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    block = 65536
    start = size
    with open(path, "rb") as fh:
        while start > 0:
            start = max(0, start - block)
            fh.seek(start)
            if fh.read(size - start).count(b"\n") > n + 1:
                break
            block *= 2
    if start > 0:
        with open(path, "rb") as fh:
            fh.seek(start)
            fh.readline()
            start = fh.tell()
    records, _ = read_log_file(path, start)
    return records[-n:]


def job_records(host: LocalHost, job: dict, *, tail: int | None = None, offset: int = 0,
                events_upto: int | None = None) -> tuple[list[tuple[float, str, str]], int]:
    from hyper_tui.local.store import log_path

    path = log_path(host.store.path.parent, job["id"])
    if tail is not None and offset == 0:
        file_records, new_offset = tail_log_file(path, tail), path.stat().st_size if path.exists() else 0
    else:
        file_records, new_offset = read_log_file(path, offset)
    records = list(file_records)
    if offset == 0:
        records.append((job["submitted"], "SYSTEM",
                        f"submitted to queue {job['queue']} (definition {job['definition']})"))
        upto = "" if events_upto is None else f" AND id <= {int(events_upto)}"
        records += [(ts, typ, data) for ts, typ, data in host.store.read(
            f"SELECT ts, type, data FROM events WHERE job_id=?{upto} ORDER BY ts", (job["id"],))]
    records.sort(key=lambda r: r[0])
    if tail is not None:
        records = records[-tail:]
    return records, new_offset


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
    name, kind = open_host(args.host)
    if kind != "local":
        from hyper_tui.qcmd.common import aws_client

        return aws_client(name).qlog(ref, log_type=kind_filter, tail=args.tail, follow=args.follow)
    from hyper_tui.local import jobs

    host = LocalHost(name)
    try:
        found = jobs.find_jobs(host.store, ref)
        if len(found) > 1:
            raise UsageError(f"qlog: {ref} is an array of {len(found)} tasks",
                             fix=f"name one task, e.g. qlog {found[0]['job_id']}")
        job = found[0]
        out = sys.stdout
        last_event = host.store.one("SELECT coalesce(max(id), 0) FROM events WHERE job_id=?",
                                    (job["id"],))[0]
        records, offset = job_records(host, job, tail=args.tail, events_upto=last_event)
        _print(records, kind_filter, out)
        if args.follow:
            while True:
                state = host.store.one("SELECT state FROM jobs WHERE id=?", (job["id"],))
                final = state is None or state[0] in FINAL_STATES
                more, offset = job_records(host, job, offset=offset)
                events = host.store.read("SELECT id, ts, type, data FROM events WHERE job_id=? AND "
                                         "id > ? ORDER BY id", (job["id"], last_event))
                if events:  # SYSTEM records of the running job, each printed once
                    last_event = events[-1][0]
                    more = sorted(more + [(ts, typ, data) for _, ts, typ, data in events],
                                  key=lambda r: r[0])
                _print(more, kind_filter, out)
                if final:
                    break
                out.flush()
                time.sleep(0.2)
    finally:
        host.close()
    return 0


def _print(records, kind_filter: str | None, out) -> None:
    for ts, typ, data in records:
        if kind_filter and typ != kind_filter:
            continue
        out.write(f"{typ} | {fmt_ts(ts)} | {data}\n")


def main(argv: list[str] | None = None) -> int:
    return run_main("qlog", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
