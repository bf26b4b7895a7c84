"""A job's log that follows a running job.

The first read takes only the last ``TAIL`` records (a huge log is never read whole); then the
one follow loop (``hyper_tui.hosts.follow``), in a thread worker, asks for what was written
after the returned offset until the job has finished.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from hyper_tui.hosts.follow import follow
from hyper_tui.messages import LogChunk
from hyper_tui.widgets.host_header import HostHeader
from hyper_tui.widgets.key_footer import KeyFooter
from hyper_tui.widgets.log_view import JobLog

TAIL = 5000
FOLLOW_S = 0.5


class LogScreen(Screen):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("f", "toggle_follow", "Follow on/off"),
        Binding("g", "top", "Top"),
        Binding("G", "bottom", "Bottom"),
    ]

    def __init__(self, ref: str, name: str = "") -> None:
        super().__init__()
        self.ref = ref
        self.job_name = name
        self.log_offset = 0
        self.finished = False
        self.follow = True
        self.loaded = False
        self.lines = 0

    def compose(self) -> ComposeResult:
        yield HostHeader(f"Jobs ▸ log of {self.ref}")
        yield Static("", id="log-title", classes="screen-title")
        yield JobLog(id="log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._title()
        self.fetch()
        self.query_one(JobLog).focus()

    @property
    def busy(self) -> bool:
        return not self.loaded

    def _title(self) -> None:
        t = Text.assemble(("log ", "dim"), (self.ref, "bold"), "  ", (self.job_name, "bold"), "  ")
        if not self.loaded:
            t.append("loading…", style="dim")
        elif self.finished:
            t.append("job finished", style="green")
        elif self.follow:
            t.append("not finished: following ●", style="bold blue")
        else:
            t.append("not finished: paused (f to follow)", style="yellow")
        t.append(f"   {self.lines:,} lines", style="dim")
        if self.lines >= TAIL:
            t.append(f" (the last {TAIL:,} records were loaded first)", style="dim")
        self.query_one("#log-title", Static).update(t)

    def _wait(self, seconds: float) -> bool:
        """Between reads: pause while following is off; False once the screen is gone."""
        worker = get_current_worker()
        deadline = time.monotonic() + seconds
        while not worker.is_cancelled:
            if time.monotonic() >= deadline and self.follow:
                return True
            time.sleep(0.05)
        return False

    @work(thread=True, exclusive=True, group="log", exit_on_error=False)
    def fetch(self) -> None:
        """The one follow loop (``hosts.follow``), in a thread: each chunk is a message."""
        first = True
        caps = self.app.client.capabilities
        for chunk in follow(self.app.client, self.ref, tail=TAIL,
                            poll_s=max(FOLLOW_S, caps.log_poll_s),
                            max_poll_s=caps.log_poll_max_s, wait=self._wait,
                            once=not self.app.live):
            self.post_message(LogChunk(self.ref, chunk.records, chunk.offset, chunk.final, first))
            first = False

    def on_log_chunk(self, event: LogChunk) -> None:
        log = self.query_one(JobLog)
        log.add_records(event.records)
        self.lines += len(event.records)
        self.log_offset = event.offset
        self.loaded = True
        self.finished = event.finished
        self._title()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.query_one(JobLog).auto_scroll = self.follow
        self._title()

    def action_top(self) -> None:
        self.query_one(JobLog).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one(JobLog).scroll_end(animate=False)

    def action_close(self) -> None:
        self.app.pop_screen()
