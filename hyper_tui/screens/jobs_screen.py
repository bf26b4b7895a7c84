"""Jobs: a live table that stays smooth with a million jobs in the store.

Only the visible page is queried (``list_jobs(limit, offset)``) in a thread worker on a timer;
a tick is skipped while the previous one is in flight, and pages come back as coalescing
``JobsPage`` messages. Counts by state (a full scan on a big store) refresh on a slower timer
in their own worker. Filters: queue, state, name; sort within the page; submit, cancel, logs,
details.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from hyper_tui.core.jobs import STATES
from hyper_tui.core.submit import Defaults, definition_defaults
from hyper_tui.messages import (
    JobsCancelled,
    JobsPage,
    JobsReleased,
    JobsSubmitted,
    ResourcesLoaded,
)
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.widgets.fmt import STATE_STYLES, count
from hyper_tui.widgets.jobs_table import SORT_KEYS, JobsTable

PAGE = 100
REFRESH_S = 1.0
COUNTS_EVERY_S = 5.0


class JobsScreen(HyperScreen):
    SECTION = "jobs"
    AUTO_FOCUS = "JobsTable"
    BINDINGS = [
        Binding("s", "submit", "Submit"),
        Binding("x", "cancel_jobs", "Cancel"),
        Binding("u", "release_jobs", "Release", show=False),
        Binding("l", "logs", "Logs"),
        Binding("enter", "details", "Details", show=False),
        Binding("space", "toggle_select", "Select"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("o", "sort", "Sort", show=False),
        Binding("right_square_bracket", "page(1)", "Next", key_display="]", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev", key_display="[", show=False),
        Binding("escape", "clear", "Clear", show=False),
        Binding("r", "reload", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self.generation = 0
        self.in_flight = False
        self.counts: dict[str, int] | None = None
        self.selected: set[str] = set()
        self.sort_by = "id"
        self.sort_reverse = True
        self.last_ms: float | None = None
        self.rows: list[dict[str, Any]] = []
        self.queues: list[str] = []
        self.definitions: list[str] = []
        self.defaults: dict[str, Defaults] = {}  # definition -> its retries and timeout
        self.pending_details = False
        self.pages_shown = 0

    # ---- layout --------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="jobs-title", classes="screen-title")
        with Horizontal(id="jobs-filters"):
            yield Input(placeholder="name (exact) — /", id="f-name")
            yield Select([], prompt="all queues", id="f-queue")
            yield Select([(s, s) for s in STATES], prompt="all states", id="f-state")
        yield JobsTable(id="jobs")
        yield Static("", id="jobs-status", classes="status-line")

    def on_mount(self) -> None:
        self._render_title()
        if self.app.live:
            self.set_interval(REFRESH_S, self._tick)
            self.set_interval(COUNTS_EVERY_S, self._count_tick)

    # ---- filters ---------------------------------------------------------------------------

    def filters(self) -> dict[str, str | None]:
        name = self.query_one("#f-name", Input).value.strip() or None
        q = self.query_one("#f-queue", Select).value
        st = self.query_one("#f-state", Select).value
        return {"queue": None if q is Select.NULL else str(q), "state": None if st is Select.NULL else str(st),
                "name": name}

    def _filters_changed(self) -> None:
        self.page_offset = 0
        self.generation += 1
        self.counts = None
        self.reload()

    @on(Input.Submitted, "#f-name")
    def _name_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._filters_changed()
        self.query_one(JobsTable).focus()

    @on(Input.Changed, "#f-name")
    def _name_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filters_changed()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._filters_changed()

    def action_focus_filter(self) -> None:
        self.query_one("#f-name", Input).focus()

    def action_clear(self) -> None:
        if self.selected:
            self.selected.clear()
            self._show()
            return
        name = self.query_one("#f-name", Input)
        if name.has_focus:
            self.query_one(JobsTable).focus()
            return
        changed = False
        if name.value:
            name.value = ""
            changed = True
        for sel in self.query(Select):
            if sel.value is not Select.NULL:
                sel.clear()
                changed = True
        if changed:
            self._filters_changed()

    # ---- refresh ---------------------------------------------------------------------------

    def reload(self) -> None:
        if self.client is None:
            return
        self.in_flight = False
        self.fetch_page(self.filters(), self.page_offset, self.generation, self.counts is None)
        if not self.queues:
            self.load_names()

    def _tick(self) -> None:
        if self.is_active and self.client is not None and not self.in_flight:
            self.fetch_page(self.filters(), self.page_offset, self.generation, False)

    def _count_tick(self) -> None:
        if self.is_active and self.client is not None:
            self.fetch_counts(self.filters(), self.generation)

    @work(thread=True, exclusive=True, group="jobs-page", exit_on_error=False)
    def fetch_page(self, filters: dict[str, str | None], offset: int, generation: int,
                   with_counts: bool) -> None:
        self.in_flight = True
        try:
            t = time.perf_counter()
            rows = self.client.list_jobs(**filters, limit=PAGE, offset=offset)
            elapsed = (time.perf_counter() - t) * 1000
            counts = None
            if with_counts:
                counts = self.client.count_jobs(queue=filters["queue"], name=filters["name"])
            self.post_message(JobsPage(rows, counts, offset, elapsed, generation))
        finally:
            self.in_flight = False

    @work(thread=True, exclusive=True, group="jobs-counts", exit_on_error=False)
    def fetch_counts(self, filters: dict[str, str | None], generation: int) -> None:
        counts = self.client.count_jobs(queue=filters["queue"], name=filters["name"])
        self.post_message(JobsPage([], counts, -1, 0.0, generation))

    @work(thread=True, exclusive=True, group="jobs-names", exit_on_error=False)
    def load_names(self) -> None:
        cfg = self.client.load_config()
        self.post_message(ResourcesLoaded("jobs-names", cfg, {}))

    def on_resources_loaded(self, event: ResourcesLoaded) -> None:
        if event.kind != "jobs-names":
            return
        self.queues = sorted(event.config.queues)
        self.definitions = sorted(event.config.definitions)
        self.defaults = {n: definition_defaults(d.public_dict())
                         for n, d in event.config.definitions.items()}
        sel = self.query_one("#f-queue", Select)
        with self.prevent(Select.Changed):
            sel.set_options([(q, q) for q in self.queues])

    def on_jobs_page(self, event: JobsPage) -> None:
        if event.generation != self.generation:
            return
        if event.counts is not None:
            self.counts = event.counts
        if event.offset >= 0:
            self.rows = event.rows
            self.last_ms = event.elapsed_ms
            self._show()
            self.loaded_once = True
        self._render_title()

    @property
    def busy(self) -> bool:
        return not self.loaded_once or self.counts is None or not self.queues

    def _show(self) -> None:
        rows = sorted(self.rows, key=SORT_KEYS[self.sort_by], reverse=self.sort_reverse)
        self.query_one(JobsTable).show(rows, self.app.clock(), self.selected)
        self.pages_shown += 1
        if self.pending_details:
            self.pending_details = False

    def _render_title(self) -> None:
        t = Text.assemble(("Jobs", "bold"), "  ")
        f = self.filters() if self.is_mounted else {"state": None}
        if self.counts is not None:
            total = self.counts.get(f["state"], 0) if f["state"] else self.counts.total
            t.append(f"{count(total)} jobs  ", style="bold")
            for st in STATES:
                n = self.counts.get(st, 0)
                if n:
                    t.append(f"{st} {count(n)}  ", style=STATE_STYLES.get(st, ""))
        else:
            total = None
            t.append("counting…  ", style="dim")
        self.query_one("#jobs-title", Static).update(t)
        first = self.page_offset + 1 if self.rows else 0
        last = self.page_offset + len(self.rows)
        of = f" of {count(total)}" if total is not None else ""
        status = Text.assemble(f"rows {first}-{last}{of}  ", ("[ ]", "bold"), " pages  ",
                               ("sort ", "dim"), f"{self.sort_by} {'↓' if self.sort_reverse else '↑'}  ")
        if self.selected:
            status.append(f"{len(self.selected)} selected  ", style="bold yellow")
        if self.last_ms is not None and self.app.live:
            status.append(f"query {self.last_ms:.0f} ms", style="dim")
        self.query_one("#jobs-status", Static).update(status)

    # ---- paging and sorting ----------------------------------------------------------------

    def action_page(self, delta: int) -> None:
        new = max(0, self.page_offset + delta * PAGE)
        if delta > 0 and len(self.rows) < PAGE:
            return
        if new != self.page_offset:
            self.page_offset = new
            self.reload()

    def action_sort(self) -> None:
        keys = list(SORT_KEYS)
        if self.sort_reverse:
            self.sort_reverse = False
        else:
            self.sort_by = keys[(keys.index(self.sort_by) + 1) % len(keys)]
            self.sort_reverse = True
        self._show()
        self._render_title()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = str(event.column_key.value)
        if key in SORT_KEYS:
            if self.sort_by == key:
                self.sort_reverse = not self.sort_reverse
            else:
                self.sort_by, self.sort_reverse = key, False
            self._show()
            self._render_title()

    # ---- selection, cancel, submit, logs, details -------------------------------------------

    def action_toggle_select(self) -> None:
        job = self.query_one(JobsTable).current_job()
        if job is None:
            return
        self.selected ^= {job.job_id}
        self._show()
        self.query_one(JobsTable).action_cursor_down()
        self._render_title()

    def action_cancel_jobs(self) -> None:
        targets = self._targets()
        if not targets:
            self.notify("no job to cancel", severity="warning")
            return
        if len(targets) == 1:
            self.cancel(targets)
            return
        from hyper_tui.screens.confirm_modal import ConfirmModal

        shown = ", ".join(targets[:8]) + (f" and {len(targets) - 8} more" if len(targets) > 8 else "")
        self.app.push_screen(
            ConfirmModal(f"Cancel {len(targets)} jobs", f"Cancel jobs {shown}?\n"
                         "Queued jobs stop at once; running jobs are killed.", yes=f"Cancel {len(targets)} jobs"),
            lambda ok: ok and self.cancel(targets))

    @work(thread=True, exclusive=True, group="jobs-cancel", exit_on_error=False)
    def cancel(self, refs: list[str]) -> None:
        self.post_message(JobsCancelled(self.client.cancel(refs)))

    def on_jobs_cancelled(self, event: JobsCancelled) -> None:
        done = sum(1 for r in event.results if r.outcome == "cancelled")
        self._done("Cancel", "cancelled", done, len(event.results) - done, "already finished")

    def _done(self, title: str, verb: str, done: int, other: int, why_other: str) -> None:
        """Say what a cancel or release did, then show the table as it is now."""
        msg = f"{verb} {done} job{'s' if done != 1 else ''}"
        if other:
            msg += f" ({other} {why_other})"
        self.notify(msg, title=title)
        self.selected.clear()
        self.reload()

    def _targets(self) -> list[str]:
        """The selected jobs, else the one under the cursor."""
        if self.selected:
            return sorted(self.selected)
        job = self.query_one(JobsTable).current_job()
        return [job.job_id] if job is not None else []

    def action_release_jobs(self) -> None:
        """qrls: release held jobs (those waiting on dependencies stay PENDING)."""
        targets = self._targets()
        if not targets:
            self.notify("no job to release", severity="warning")
            return
        self.release(targets)

    @work(thread=True, exclusive=True, group="jobs-release", exit_on_error=False)
    def release(self, refs: list[str]) -> None:
        self.post_message(JobsReleased(self.client.release(refs)))

    def on_jobs_released(self, event: JobsReleased) -> None:
        done = sum(1 for r in event.results if r.outcome == "released")
        self._done("Release", "released", done, len(event.results) - done, "not held")

    def action_submit(self) -> None:
        if self.client is None:
            self.notify("no host is connected", severity="error")
            return
        from hyper_tui.screens.submit_modal import SubmitModal

        self.app.push_screen(SubmitModal(self.queues or ["default"],
                                         self.definitions or ["default"], self.defaults),
                             self._submit)

    def _submit(self, sub: Any) -> None:
        if sub is not None:
            self.submit(sub)

    @work(thread=True, exclusive=True, group="jobs-submit", exit_on_error=False)
    def submit(self, sub: Any) -> None:
        self.post_message(JobsSubmitted(self.client.submit([sub])))

    def on_jobs_submitted(self, event: JobsSubmitted) -> None:
        self.notify(f"submitted {', '.join(event.ids)}", title="Submit")
        self.generation += 1
        self.page_offset = 0
        self.counts = None
        self.reload()

    def action_logs(self) -> None:
        job = self.query_one(JobsTable).current_job()
        if job is None:
            self.notify("no job selected", severity="warning")
            return
        from hyper_tui.screens.log_screen import LogScreen

        self.app.push_screen(LogScreen(job.job_id, job.name))

    def action_details(self) -> None:
        job = self.query_one(JobsTable).current_job()
        if job is None:
            return
        from hyper_tui.screens.job_details_modal import JobDetailsModal

        self.app.push_screen(JobDetailsModal(job.job_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()
