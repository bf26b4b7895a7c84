"""qstat: see jobs.

    qstat                      one line per queue with counts by state
    qstat -q QUEUE             the queue's jobs, newest first (--limit N|all, --offset)
    qstat -i ID                every field of one job: why it waits, its attempts
    qstat -f ID                the same as PBS prints it (Job Id: ..., key = value)
    qstat -j NAME              jobs of that name;  -s STATE  only that state;  -u USER
    qstat --only-job-id-out    every matching id, one per line (for qdel -)

A listing shows active jobs (PENDING, QUEUED, RUNNING) and the jobs that finished in the last
5 minutes, as PBS and Slurm do; -x includes every finished job. -s STATE, -i ID and -f ID
always find finished jobs. The paging hint and the totals count the jobs that match every
filter given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from hyper_tui.core.errors import UsageError, ValidationError
from hyper_tui.core.jobs import STATES, Counts, JobDetail, JobRow, attempts_text
from hyper_tui.hosts.contract import HostClient
from hyper_tui.qcmd.common import client_for, parser, run_main

# Original Cyclone state names -> ours.
STATE_ALIASES = {"WAITING": "QUEUED", "SUCCESSFUL": "SUCCEEDED", "ERROR": "FAILED", "Q": "QUEUED",
                 "R": "RUNNING", "H": "PENDING", "F": "FAILED", "PEND": "PENDING", "RUN": "RUNNING",
                 "DONE": "SUCCEEDED", "EXIT": "FAILED"}


def build_parser() -> argparse.ArgumentParser:
    p = parser("qstat", __doc__)
    p.add_argument("ids", nargs="*", metavar="ID", help="job ids (like -i)")
    p.add_argument("-q", "--queue")
    p.add_argument("-i", "--job-id", dest="job_id")
    p.add_argument("-j", "--job-name", dest="name")
    p.add_argument("-s", "--state", "--filter-status", dest="state",
                   help="PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED")
    p.add_argument("-f", dest="full", metavar="ID",
                   help="the full record of job ID, as PBS prints it (a state name filters, "
                        "as in Cyclone)")
    p.add_argument("-u", "--user", help="only jobs USER submitted (the name each job records; "
                                        "on aws the submit API's caller)")
    p.add_argument("-x", action="store_true",
                   help="include every finished job (default: only those that finished in the "
                        "last 5 minutes; PBS)")
    p.add_argument("--limit", type=_limit, default=None,
                   help="jobs per page, or all (default 100; --only-job-id-out: all)")
    p.add_argument("--offset", type=int, default=0, help="skip this many jobs")
    p.add_argument("--only-job-id-out", nargs="?", const="True", default=None, metavar="BOOL",
                   help="print only ids, one per line")
    p.add_argument("--host")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    return p


ALL = -(2**63)  # --limit all (no number a user types)


def _limit(text: str) -> int:
    if text.strip().lower() == "all":
        return ALL
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"qstat: --limit {text!r} is not a number",
                              fix="give a number of jobs, or all") from None


def norm_state(text: str | None) -> str | None:
    if text is None:
        return None
    s = text.strip().upper()
    s = STATE_ALIASES.get(s, s)
    if s not in STATES:
        raise ValidationError(f"qstat: unknown state {text!r}", fix="use one of " + ", ".join(STATES))
    return s


def _ts(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _runtime(job: JobRow) -> str:
    if not job.started:
        return "-"
    end = job.ended or time.time()
    secs = max(0.0, end - job.started)
    if secs < 60:
        return f"{secs:.1f}s"
    return f"{int(secs // 3600)}:{int(secs % 3600 // 60):02d}:{int(secs % 60):02d}"


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    args.pbs_full = False
    if args.full is not None:
        if args.full.strip().upper() in STATES or args.full.strip().upper() in STATE_ALIASES:
            if args.state:
                raise UsageError("qstat: two state filters (-s and -f)", fix="give one")
            args.state = args.full  # Cyclone's -f STATE
        else:
            args.ids = list(args.ids) + [args.full]
            args.pbs_full = True
    state = norm_state(args.state)
    ids_only = args.only_job_id_out is not None and args.only_job_id_out.lower() not in ("false", "0", "no")
    if args.limit is None:  # not given
        args.limit = ALL if ids_only else 100
    elif args.limit != ALL and args.limit < 1:
        raise ValidationError("qstat: --limit must be at least 1", fix="or --limit all")
    if args.limit == ALL:
        args.limit = None  # what pages() and show() read as "every match"
    if args.offset < 0:
        raise ValidationError("qstat: --offset must be at least 0")
    client = client_for(args.host)
    try:
        if args.queue:
            client.require("queues", args.queue, "-q")
        return show(client, args, state=state, ids_only=ids_only)
    finally:
        client.close()


def show(src: HostClient, args: argparse.Namespace, *, state: str | None, ids_only: bool) -> int:
    """Print what qstat was asked for from a host's client: job details, the per-queue
    summary, or a page of jobs with counters."""
    from hyper_tui.redact import redact  # -v API_KEY=... shows as ********

    out = sys.stdout
    refs = list(getattr(args, "ids", []) or []) + ([args.job_id] if args.job_id else [])
    if refs:
        details = [src.get_job(r) for r in refs]
        if ids_only:
            out.write("".join(f"{d.job_id}\n" for d in details))
        elif args.output == "json":
            shown = redact([d.to_dict() for d in details])
            out.write(json.dumps(shown if len(shown) > 1 else shown[0], indent=2, default=str) + "\n")
        elif getattr(args, "pbs_full", False):
            for d in details:
                print_pbs_full(d, out, redact, d.user or "-")
        else:
            for d in details:
                _print_detail(d)
        daemon_note(src, sum(d.state == "RUNNING" for d in details),
                    [(d.job_id, d.worker) for d in details if d.state == "RUNNING"])
        return 0
    user = getattr(args, "user", None) or None
    if not args.queue and not args.name and not state and not user:
        summary = src.summary()
        if args.output == "json":
            out.write(json.dumps({q: c.to_dict() for q, c in summary.items()}, indent=2) + "\n")
            return 0
        if ids_only:
            raise UsageError("qstat: --only-job-id-out needs -q QUEUE, -j NAME, -s STATE or -u USER")
        print_summary(summary, out)
        daemon_note(src, sum(c.get("RUNNING", 0) for c in summary.values()))
        return 0
    recent = _window(src, args, state)
    if ids_only:
        for page in pages(src, queue=args.queue, state=state, name=args.name, user=user,
                          limit=args.limit, offset=args.offset, **recent):
            out.write("".join(f"{j.job_id}\n" for j in page))
        return 0
    if args.limit is None:
        rows = [j for page in pages(src, queue=args.queue, state=state, name=args.name,
                                    user=user, limit=None, offset=args.offset, **recent)
                for j in page]
    else:
        rows = src.list_jobs(queue=args.queue, state=state, name=args.name, limit=args.limit,
                             offset=args.offset, **({"user": user} if user else {}), **recent)
    counts = src.count_jobs(queue=args.queue, name=args.name, **({"user": user} if user else {}),
                            **recent)
    if state:  # the totals of what matches every filter
        counts = Counts(**{state: counts[state]})
    if args.output == "json":
        out.write(json.dumps({"jobs": redact([j.to_dict() for j in rows]),
                              "counts": counts.to_dict()}, indent=2, default=str) + "\n")
        return 0
    print_listing(rows, counts, args.offset, out)
    daemon_note(src, sum(j.state == "RUNNING" for j in rows))
    return 0


def daemon_note(src: HostClient, running: int, jobs: list[tuple[str, str | None]] = ()) -> None:
    """On stderr, when RUNNING jobs were shown but the host's daemon is down (so they are the
    record of before it stopped) or its store is damaged: one line from the host's status
    (``HostStatus.warning``), and for each job of ``jobs`` (id, worker) whose worker process
    is gone, a line saying so. Asked only of a host with a daemon, and only then."""
    if not running or not src.capabilities.daemon:
        return
    st = src.status()
    if st.daemon_running is not False and not st.store_damaged:
        return
    note = st.warning or f"the daemon of host {src.name} is not running"
    sys.stderr.write(f"qstat: {note}\n")
    lost = set(st.lost_workers)
    for job_id, worker in jobs:
        if worker and worker in lost:
            sys.stderr.write(f"qstat: job {job_id}: its worker {worker} is no longer running; "
                             "the job is not running either (the daemon, once started, "
                             "requeues or fails it)\n")


PAGE = 5000
RECENT_S = 300.0  # a listing without -x shows the jobs that finished this recently (Slurm's MinJobAge)


def _window(src: HostClient, args: argparse.Namespace, state: str | None) -> dict:
    """The keyword that keeps old finished jobs out of a listing, for a host that supports it:
    none with -x or -s STATE."""
    if getattr(args, "x", False) or state or not src.capabilities.finished_since:
        return {}
    return {"finished_since": time.time() - RECENT_S}


def pages(src: HostClient, *, queue: str | None, state: str | None, name: str | None,
          limit: int | None, offset: int, user: str | None = None,
          **recent: float) -> Iterator[list[JobRow]]:
    """Every matching job (or the first ``limit``), a page at a time: memory stays bounded
    and the first ids reach a pipe (``| qdel -``) at once. Newest first, so jobs submitted
    meanwhile shift the pages by repeating an id, never by skipping one."""
    left = limit
    while left is None or left > 0:
        n = PAGE if left is None else min(PAGE, left)
        page = src.list_jobs(queue=queue, state=state, name=name, limit=n, offset=offset,
                             **({"user": user} if user else {}), **recent)
        if not page:
            return
        yield page
        offset += len(page)
        if left is not None:
            left -= len(page)
        if len(page) < n:
            return


def print_summary(summary: dict[str, Counts], out: TextIO) -> None:
    """One line per queue with counts by state (qstat with no arguments)."""
    width = max([5] + [len(q) for q in summary])
    out.write(f"{'QUEUE':<{width}}  " + "  ".join(f"{c:>9}" for c in STATES) + "\n")
    for q, counts in summary.items():
        out.write(f"{q:<{width}}  " + "  ".join(f"{counts.get(c, 0):>9}" for c in STATES) + "\n")


def print_listing(rows: list[JobRow], counts: Counts, offset: int, out: TextIO) -> None:
    """A page of jobs, newest first, then the counters of the jobs that match (qstat -q / -j
    / -s): the paging hint counts those, not the whole host."""
    if not rows:
        out.write("no jobs match\n")
    else:
        w = max(6, *(len(j.job_id) for j in rows))
        nw = max(4, *(min(30, len(j.name)) for j in rows))
        uw = max(4, *(min(12, len(j.user or "-")) for j in rows))
        out.write(f"{'JOB ID':<{w}}  {'NAME':<{nw}}  {'USER':<{uw}}  {'QUEUE':<10}  "
                  f"{'STATE':<9}  {'SUBMITTED':<19}  {'TRY':>3}  {'RUNTIME':>8}  {'EXIT':>4}  "
                  "REASON\n")
        for j in rows:
            reason = j.reason or ""
            if j.state == "FAILED" and j.exit_code is not None and not reason:
                reason = f"exit code {j.exit_code}"
            code = "-" if j.exit_code is None else str(j.exit_code)
            user = j.user or "-"
            out.write(f"{j.job_id:<{w}}  {j.name[:30]:<{nw}}  {user[:12]:<{uw}}  "
                      f"{j.queue[:10]:<10}  {j.state:<9}  {_ts(j.submitted):<19}  "
                      f"{j.attempts:>3}  {_runtime(j):>8}  {code:>4}  {reason}\n")
        total = counts.total
        if offset + len(rows) < total:
            out.write(f"(showing {len(rows)} of {total}; --offset {offset + len(rows)} "
                      "for more)\n")
    out.write("Total: " + str(counts.total) + "  " +
              "  ".join(f"{k.title()}: {v}" for k, v in counts.items()) + "\n")


_PBS_STATES = {"PENDING": "H", "QUEUED": "Q", "RUNNING": "R", "SUCCEEDED": "F", "FAILED": "F",
               "CANCELLED": "F"}


def print_pbs_full(d: JobDetail, out: TextIO, redact, user: str = "-") -> None:
    """``qstat -f ID`` as PBS prints it: ``Job Id:`` then indented ``key = value`` lines."""
    def pbs_ts(t: float | None) -> str | None:
        return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t)) if t else None

    env = redact(d.env or {})
    fields = [
        ("Job_Name", d.name), ("Job_Owner", user), ("job_state", _PBS_STATES.get(d.state, "?")),
        ("hyper_state", d.state), ("queue", d.queue), ("definition", d.definition),
        ("qtime", pbs_ts(d.submitted)), ("stime", pbs_ts(d.started)),
        ("obittime", pbs_ts(d.ended)), ("Exit_status", d.exit_code),
        ("Priority", d.priority), ("run_count", d.attempts), ("Rerunable", "True" if d.retries else "False"),
        ("Resource_List.walltime", _walltime(d.timeout)), ("exec_host", d.worker),
        ("comment", d.why), ("depend", ",".join(f"{x.kind}:{x.on}" for x in d.depends) or None),
        ("array_indices_submitted", f"{d.array_size} tasks" if d.array_size else None),
        ("array_state_count", " ".join(f"{k}:{v}" for k, v in (d.array_states or {}).items())
         if d.array_size else None),
        ("Output_Path", env.get("LSB_OUTPUTFILE")), ("Error_Path", env.get("LSB_ERRORFILE")),
        ("PBS_O_WORKDIR", d.cwd),
        ("Variable_List", ",".join(f"{k}={v}" for k, v in sorted(env.items())) or None),
    ]
    out.write(f"Job Id: {d.job_id}\n")
    for k, v in fields:
        if v is not None and v != "":
            out.write(f"    {k} = {v}\n")
    out.write("\n")


def _walltime(secs: float | None) -> str | None:
    if not secs:
        return None
    s = int(secs)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

def _print_detail(d: JobDetail) -> None:
    out = sys.stdout
    fields = [
        ("job id", d.job_id), ("name", d.name), ("queue", d.queue),
        ("definition", d.definition), ("user", d.user or "-"), ("state", d.state),
        ("why", d.why or "-"),
        ("priority", d.priority), ("attempts", attempts_text(d.state, d.attempts, d.retries)),
        ("timeout", f"{d.timeout:g}s" if d.timeout else "none"),
        ("submitted", _ts(d.submitted)), ("started", _ts(d.started)),
        ("ended", _ts(d.ended)), ("runtime", _runtime(d)),
        ("exit code", "-" if d.exit_code is None else d.exit_code),
        ("worker", d.worker or "-"), ("cwd", d.cwd or "-"),
    ]
    if d.array_size:
        fields.append(("array", f"{d.array_size} tasks: " +
                       ", ".join(f"{k.lower()} {v}" for k, v in (d.array_states or {}).items())))
    if d.depends:
        fields.append(("depends on", ", ".join(f"{x.kind}:{x.on}" for x in d.depends)))
    if d.params:
        fields.append(("params", json.dumps(d.params)))
    cmd = d.command
    if cmd is None and d.argv:
        cmd = " ".join(d.argv)
    fields.append(("command", (cmd or "").strip().replace("\n", "\n" + " " * 14)))
    for k, v in fields:
        out.write(f"{k:<12}  {v}\n")
    if d.attempt_history:
        out.write("attempts:\n")
        for a in d.attempt_history:
            code = a.exit_code if a.exit_code is not None else "-"
            out.write(f"  #{a.attempt}  {a.outcome or '-':<10}  worker {a.worker or '-'}  "
                      f"{_ts(a.started)} -> {_ts(a.ended)}  exit {code}\n")


def main(argv: list[str] | None = None) -> int:
    return run_main("qstat", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
