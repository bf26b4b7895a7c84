"""A job's details as a Rich renderable: state and why, spec, attempts (pure)."""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hyper_tui.core.jobs import JobDetail, attempts_text
from hyper_tui.widgets.fmt import STATE_STYLES, duration, runtime


def _ts(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def job_details_body(job: JobDetail, now: float) -> Group:
    state = job.state
    head = Text.assemble((job.job_id, "bold"), "  ", (job.name, "bold"), "  ",
                         (state, STATE_STYLES.get(state, "bold")))
    why = Text.assemble(("why  ", "bold"), job.why or "-")
    info = Table(box=None, show_header=False, pad_edge=False)
    info.add_column(style="dim", width=14)
    info.add_column()
    cmd = job.command or " ".join(job.argv or []) or "-"
    for key, value in (
        ("queue", job.queue), ("definition", job.definition),
        ("submitted by", job.user or "-"), ("priority", job.priority),
        ("attempts", attempts_text(state, job.attempts, job.retries)),
        ("timeout", duration(job.timeout) if job.timeout else "none"),
        ("submitted", _ts(job.submitted)), ("started", _ts(job.started)),
        ("ended", _ts(job.ended)), ("runtime", runtime(job, now)),
        ("exit code", "-" if job.exit_code is None else str(job.exit_code)),
        ("worker", job.worker or "-"), ("cwd", job.cwd or "-"),
        ("depends", ", ".join(f"{d.kind}:{d.on}" for d in job.depends) or "-"),
        ("params", str(job.params) if job.params else "-"),
    ):
        info.add_row(key, str(value))
    if job.array_size:
        states = ", ".join(f"{k} {v}" for k, v in sorted((job.array_states or {}).items()))
        info.add_row("array", f"{job.array_size} tasks: {states}")
    attempts = Table(title="attempt history", title_justify="left", title_style="bold",
                     box=None, pad_edge=False, expand=True)
    for col in ("attempt", "worker", "started", "ended", "exit", "outcome"):
        attempts.add_column(col)
    for a in job.attempt_history:
        attempts.add_row(str(a.attempt), a.worker or "-", _ts(a.started),
                         _ts(a.ended), "-" if a.exit_code is None else str(a.exit_code),
                         a.outcome or "-")
    if not job.attempt_history:
        attempts.add_row("-", "no attempt yet", "", "", "", "")
    command = Group(Text("command", style="bold"), Text(cmd))
    return Group(head, why, Text(""), info, Text(""), command, Text(""), attempts)
