"""One CloudFormation stack's deploy progress: name, bar, last status.

Fed with the events of ``hyper_tui.aws.deploy`` (the CDK CLI's ``--progress events`` output
parsed per stack): ``PUBLISHING``, ``DEPLOYING``, ``IN_PROGRESS`` (a resource event, whose
``n/m`` counter moves the bar), ``ACTIVE``, ``FAILED``; ``LOG`` and ``OUTPUT`` lines move
nothing.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

WAITING, RUNNING, DONE, FAILED = "waiting", "running", "done", "failed"

# "stack |  3/25 | 10:23:01 PM | CREATE_COMPLETE | AWS::SQS::Queue | Queue (Queue4A7E)"
_COUNTER = re.compile(r"\|\s*(?P<done>\d+)/(?P<total>\d+)\s*\|")
_RESOURCE = re.compile(r"\|\s*(?P<status>[A-Z_]+)\s*\|\s*(?P<type>[A-Za-z0-9:]+)\s*\|")


def progress_of(status: str, line: str, current: float) -> tuple[float, str, str | None]:
    """(progress 0-100, outcome, label or None to keep the last) after one event (pure)."""
    s = status.upper()
    if s == "FAILED":
        return current, FAILED, "FAILED"
    if s == "ACTIVE":
        return 100.0, DONE, "no changes" if "(no changes)" in line else "deployed"
    if s == "IN_PROGRESS":
        pct = current
        if m := _COUNTER.search(line):
            total = max(int(m["total"]), 1)
            pct = max(current, 10.0 + 85.0 * min(int(m["done"]), total) / total)
        label = None
        if m := _RESOURCE.search(line):
            label = f"{m['status']} {m['type'].removeprefix('AWS::')}"
        return pct, RUNNING, label
    if s == "PUBLISHING":
        return max(current, 3.0), RUNNING, "publishing assets"
    if s == "DEPLOYING":
        return max(current, 8.0), RUNNING, "deploying"
    return current, "", None  # LOG, OUTPUT: nothing moves


class StackProgress(Horizontal):
    DEFAULT_CSS = """
    StackProgress { height: 1; }
    StackProgress > .stack-name { width: 34; }
    StackProgress > ProgressBar { width: 22; }
    StackProgress > .stack-status { width: 1fr; }
    """

    def __init__(self, stack: str, label: str = WAITING, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.progress = 0.0
        self.outcome = WAITING
        self.status = label

    def compose(self) -> ComposeResult:
        yield Static(Text(self.stack, style="bold"), classes="stack-name")
        yield ProgressBar(total=100, show_eta=False)
        yield Static("", classes="stack-status")

    def event(self, status: str, line: str = "") -> None:
        if self.outcome in (DONE, FAILED) and status.upper() != "FAILED":
            return
        progress, outcome, label = progress_of(status, line, self.progress)
        if not outcome:
            return
        self.progress, self.outcome = progress, outcome
        if label is not None:
            self.status = label
        self._render_state()

    def settle(self, final: str | None, why: str | None = None) -> None:
        """The deploy ended: ``final`` is the stack's ACTIVE / FAILED (None: the deploy
        stopped before it, so it failed with the run)."""
        if final == "ACTIVE":
            if self.outcome != DONE:
                self.progress, self.outcome, self.status = 100.0, DONE, "deployed"
        else:
            self.outcome = FAILED
            self.status = "FAILED" + (f": {why}" if why else "")
        self._render_state()

    def on_mount(self) -> None:
        self._render_state()

    def _render_state(self) -> None:
        bars = self.query(ProgressBar)
        if not bars:  # not composed yet: on_mount renders the state
            return
        bars.first().update(progress=self.progress)
        style = {DONE: "green", FAILED: "bold red", WAITING: "dim"}.get(self.outcome, "yellow")
        self.query_one(".stack-status", Static).update(Text(self.status, style=style))
