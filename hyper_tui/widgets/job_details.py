"""A job's details as a Rich renderable: state and why, spec, attempts (pure)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hyper_tui.widgets.fmt import STATE_STYLES, duration, runtime


def _ts(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def job_details_body(job: dict[str, Any], now: float) -> Group:
    state = job["state"]
    head = Text.assemble((job["job_id"], "bold"), "  ", (job["name"], "bold"), "  ",
                         (state, STATE_STYLES.get(state, "bold")))
    why = Text.assemble(("why  ", "bold"), job.get("why") or "-")
    info = Table(box=None, show_header=False, pad_edge=False)
    info.add_column(style="dim", width=14)
    info.add_column()
    cmd = job.get("command") or " ".join(job.get("argv") or []) or "-"
    for key, value in (
        ("queue", job["queue"]), ("definition", job["definition"]),
        ("priority", job.get("priority")), ("attempts", f"{job['attempts']} of {job['retries'] + 1}"),
        ("timeout", duration(job["timeout"]) if job.get("timeout") else "none"),
        ("submitted", _ts(job.get("submitted"))), ("started", _ts(job.get("started"))),
        ("ended", _ts(job.get("ended"))), ("runtime", runtime(job, now)),
        ("exit code", "-" if job.get("exit_code") is None else str(job["exit_code"])),
        ("worker", job.get("worker") or "-"), ("cwd", job.get("cwd") or "-"),
        ("depends", ", ".join(f"{d['kind']}:{d['on']}" for d in job.get("depends", [])) or "-"),
        ("params", str(job["params"]) if job.get("params") else "-"),
    ):
        info.add_row(key, str(value))
    if job.get("array_size"):
        states = ", ".join(f"{k} {v}" for k, v in sorted(job.get("array_states", {}).items()))
        info.add_row("array", f"{job['array_size']} tasks: {states}")
    attempts = Table(title="attempt history", title_justify="left", title_style="bold",
                     box=None, pad_edge=False, expand=True)
    for col in ("attempt", "worker", "started", "ended", "exit", "outcome"):
        attempts.add_column(col)
    for a in job.get("attempt_history", []):
        attempts.add_row(str(a["attempt"]), a.get("worker") or "-", _ts(a.get("started")),
                         _ts(a.get("ended")), "-" if a.get("exit_code") is None else str(a["exit_code"]),
                         a.get("outcome") or "-")
    if not job.get("attempt_history"):
        attempts.add_row("-", "no attempt yet", "", "", "", "")
    command = Group(Text("command", style="bold"), Text(cmd))
    return Group(head, why, Text(""), info, Text(""), command, Text(""), attempts)
