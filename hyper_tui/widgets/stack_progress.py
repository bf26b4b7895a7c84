"""One CloudFormation stack's deploy progress: name, bar, last status."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

DONE_WORDS = ("COMPLETE", "DONE", "DEPLOYED", "SUCCEEDED", "NO_CHANGES", "UNCHANGED")
FAIL_WORDS = ("FAIL", "ROLLBACK", "ERROR", "CANCELLED")


def progress_of(status: str, current: float) -> tuple[float, str]:
    """(new progress 0-100, outcome: running | done | failed) after an event (pure)."""
    s = status.upper()
    if any(w in s for w in FAIL_WORDS):
        return current, "failed"
    if any(w in s for w in DONE_WORDS) and "IN_PROGRESS" not in s:
        return 100.0, "done"
    if "SYNTH" in s:
        return max(current, 20.0), "running"
    return min(90.0, max(current, 15.0) + 5.0), "running"


class StackProgress(Horizontal):
    DEFAULT_CSS = """
    StackProgress { height: 1; }
    StackProgress > .stack-name { width: 36; }
    StackProgress > ProgressBar { width: 40; }
    StackProgress > .stack-status { width: 1fr; }
    """

    def __init__(self, stack: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.progress = 0.0
        self.outcome = "running"
        self.status = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.stack, style="bold"), classes="stack-name")
        yield ProgressBar(total=100, show_eta=False)
        yield Static("", classes="stack-status")

    def event(self, status: str) -> None:
        self.progress, self.outcome = progress_of(status, self.progress)
        self.status = status
        self._render_state()

    def finish(self) -> None:
        """The whole run succeeded: a stack still "running" (e.g. synth only) is done."""
        if self.outcome == "running":
            self.progress, self.outcome = 100.0, "done"
            self.status = self.status or "done"
            self._render_state()

    def on_mount(self) -> None:
        self._render_state()

    def _render_state(self) -> None:
        bars = self.query(ProgressBar)
        if not bars:  # not composed yet: on_mount renders the state
            return
        bars.first().update(progress=self.progress)
        style = {"done": "green", "failed": "bold red"}.get(self.outcome, "yellow")
        self.query_one(".stack-status", Static).update(Text(self.status, style=style))
