"""Jobs: a live table that stays smooth with a million jobs in the store.

Only the visible page is queried (``list_jobs(limit, offset)``) in a thread worker on a timer;
a tick is skipped while the previous one is in flight, and pages come back as coalescing
``JobsPage`` messages. Filtering (substring or regex over name, command and reason; queue;
state; the submitting user) and sorting (any column) happen on the host over ALL jobs; counts
by state refresh on a slower timer in their own worker, and at once when the screen comes back. The cursor follows
its job through refreshes. ``a`` selects every job that matches the filter: a cancel then acts
on the whole match set through the host (``cancel_matching``), with its progress shown.
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
    JobPosition,
    JobsCancelled,
    JobsMatchCancelled,
    JobsPage,
    JobsProgress,
    JobsReleased,
    JobsSubmitted,
    ResourcesLoaded,
)
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.widgets.fmt import STATE_STYLES, count, counted
from hyper_tui.widgets.jobs_table import SORT_KEYS, JobsTable

PAGE = 100
REFRESH_S = 1.0
COUNTS_EVERY_S = 5.0
NAMED_IN_CONFIRM = 8
SHORT_STATES = {"PENDING": "PEND", "QUEUED": "QUEUED", "RUNNING": "RUN", "SUCCEEDED": "DONE",
                "FAILED": "FAIL", "CANCELLED": "CANC"}  # jobs named in a cancel confirmation; the rest are counted


def describe(filters: dict[str, Any]) -> str:
    """A filter in words, for confirmations and the status line."""
    parts = []
    if filters.get("match"):
        parts.append(f"{'matching /' if filters.get('regex') else 'containing '}"
                     f"{filters['match']}{'/' if filters.get('regex') else ''}")
    if filters.get("queue"):
        parts.append(f"in queue {filters['queue']}")
    if filters.get("state"):
        parts.append(f"in state {filters['state']}")
    if filters.get("user"):
        parts.append(f"submitted by {filters['user']}")
    return " ".join(parts) or "(no filter: every job)"


STALE_RUNNING = "daemon not running — RUNNING jobs shown are from before it stopped"


def total_of(counts: Any, state: str | None) -> int | None:
    """How many of ``counts`` (by state; None: not counted yet) are in ``state`` (None: all)."""
    if counts is None:
        return None
    return counts.get(state, 0) if state else counts.total


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
        Binding("a", "select_all", "All", show=False),  # the footer is full at 80 columns: ? lists it
        Binding("slash", "focus_filter", "Filter"),
        Binding("ctrl+r", "toggle_regex", "Regex", show=False),
        Binding("o", "sort", "Sort", show=False),
        Binding("O", "reverse", "Reverse", show=False),
        Binding("right_square_bracket", "page(1)", "Next", key_display="]", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev", key_display="[", show=False),
        Binding("g,home", "first_page", "First", show=False),
        Binding("G,end", "last_page", "Last", show=False),
        Binding("colon", "jump", "Jump to id", key_display=":", show=False),
        Binding("escape", "clear", "Clear", show=False),
        Binding("r", "reload", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self.generation = 0
        self.in_flight = False
        self.counts: Any = None  # hyper_tui.core.jobs.Counts of the filter without its state
        self.selected: set[str] = set()
        self.all_selected = False  # every job that matches the filter (not only this page)
        self.regex = False
        self.sort_by = "id"
        self.sort_reverse = True  # descending
        self.last_ms: float | None = None
        self.rows: list[Any] = []
        self.queues: list[str] = []
        self.definitions: list[str] = []
        self.defaults: dict[str, Defaults] = {}  # definition -> its retries and timeout
        self.pending_details = False
        self.pages_shown = 0
        self.progress: tuple[int, int] | None = None  # a cancel of every match under way
        self.filter_error: str | None = None
        self.users: set[str] = set()  # the user filter's choices: this user and those seen

    # ---- layout --------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="jobs-title", classes="screen-title")
        with Horizontal(id="jobs-filters"):
            yield Input(placeholder="/ name, cmd or reason", id="f-match")
            yield Select([], prompt="any queue", id="f-queue")
            yield Select([(s, s) for s in STATES], prompt="any state", id="f-state")
            yield Select([], prompt="any user", id="f-user")
        yield Static(STALE_RUNNING, id="jobs-stale", classes="warning-line")
        yield JobsTable(id="jobs")
        yield Static("", id="jobs-status", classes="status-line")

    def on_mount(self) -> None:
        from hyper_tui.core.submit import submitting_user

        self.query_one("#jobs-stale").display = False
        self._add_users([submitting_user()])
        self.watch(self.app, "host_state", lambda _: self._render_title(), init=False)
        self._render_title()
        if self.app.live:
            self.set_interval(REFRESH_S, self._tick)
            self.set_interval(COUNTS_EVERY_S, self._count_tick)

    # ---- filters ---------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        """The filter of the listing, the counts and a cancel of every match."""
        match = self.query_one("#f-match", Input).value.strip() or None
        q = self.query_one("#f-queue", Select).value
        st = self.query_one("#f-state", Select).value
        user = self.query_one("#f-user", Select).value
        return {"queue": None if q is Select.NULL else str(q),
                "state": None if st is Select.NULL else str(st),
                "match": match, "regex": self.regex and match is not None,
                "user": None if user is Select.NULL else str(user)}

    def _add_users(self, users: Any) -> None:
        """Offer every user seen so far in the user filter, keeping its choice."""
        new = {u for u in users if u} - self.users
        if not new:
            return
        self.users |= new
        sel = self.query_one("#f-user", Select)
        value = sel.value
        with self.prevent(Select.Changed):
            sel.set_options([(u, u) for u in sorted(self.users)])
            if value is not Select.NULL:
                sel.value = value

    def query_args(self) -> dict[str, Any]:
        return {**self.filters(), "sort": self.sort_by, "descending": self.sort_reverse}

    def _filters_changed(self) -> None:
        self.page_offset = 0
        self.generation += 1
        self.counts = None
        self.all_selected = False
        self.reload()

    @on(Input.Submitted, "#f-match")
    def _match_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(JobsTable).focus()

    @on(Input.Changed, "#f-match")
    def _match_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filters_changed()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._filters_changed()

    def action_focus_filter(self) -> None:
        self.query_one("#f-match", Input).focus()

    def action_toggle_regex(self) -> None:
        self.regex = not self.regex
        self.query_one("#f-match", Input).border_title = "regex" if self.regex else None
        self._filters_changed()
        self._render_title()

    def action_clear(self) -> None:
        if self.selected or self.all_selected:
            self.selected.clear()
            self.all_selected = False
            self._show()
            self._render_title()
            return
        text = self.query_one("#f-match", Input)
        if text.has_focus:
            self.query_one(JobsTable).focus()
            return
        changed = False
        if text.value:
            text.value = ""
            changed = True
        for sel in self.query(Select):
            if sel.value is not Select.NULL:
                sel.clear()
                changed = True
        if changed:
            self._filters_changed()

    # ---- refresh ---------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        """Back on this screen: counts are fetched with the page, never left stale."""
        self.counts = None
        super().on_screen_resume()

    def reload(self) -> None:
        if self.client is None:
            return
        self.in_flight = False
        self.fetch_page(self.query_args(), self.page_offset, self.generation, self.counts is None)
        if not self.queues:
            self.load_names()

    def _tick(self) -> None:
        if self.is_active and self.client is not None and not self.in_flight:
            self.fetch_page(self.query_args(), self.page_offset, self.generation, False)

    def _count_tick(self) -> None:
        if self.is_active and self.client is not None:
            self.fetch_counts(self.filters(), self.generation)

    def _page_query(self, args: dict[str, Any], offset: int, total: int | None) -> list[Any]:
        """One page; the far end of a long id listing is read from the other end (an OFFSET
        walks every row it skips)."""
        if (args["sort"] == "id" and total is not None and offset > total // 2
                and offset < total):
            limit = min(PAGE, total - offset)
            back = max(0, total - offset - limit)
            rows = self.client.list_jobs(**{**args, "descending": not args["descending"]},
                                         limit=limit, offset=back)
            return rows[::-1]
        return self.client.list_jobs(**args, limit=PAGE, offset=offset)

    @staticmethod
    def _counting(args: dict[str, Any]) -> dict[str, Any]:
        return {k: args[k] for k in ("queue", "match", "regex", "user")}

    @work(thread=True, exclusive=True, group="jobs-page", exit_on_error=False)
    def fetch_page(self, args: dict[str, Any], offset: int, generation: int,
                   with_counts: bool) -> None:
        self.in_flight = True
        try:
            t = time.perf_counter()
            counts = self.client.count_jobs(**self._counting(args)) if with_counts else None
            rows = self._page_query(args, offset, total_of(counts or self.counts, args["state"]))
            elapsed = (time.perf_counter() - t) * 1000
            self.post_message(JobsPage(rows, counts, offset, elapsed, generation))
        except Exception as err:  # a bad regex, a host that went away: say so, keep going
            self.post_message(JobsPage([], None, -2, 0.0, generation, error=str(err)))
        finally:
            self.in_flight = False

    @work(thread=True, exclusive=True, group="jobs-counts", exit_on_error=False)
    def fetch_counts(self, filters: dict[str, Any], generation: int) -> None:
        counts = self.client.count_jobs(**self._counting(filters))
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
        if event.offset == -2:
            self.filter_error = event.error
            self.rows = []
            self._show()
            self.loaded_once = True
            self._render_title()
            return
        if event.counts is not None:
            self.counts = event.counts
        if event.offset >= 0 and event.offset != self.page_offset:
            # a page read for where the screen was (a refresh still in flight when the user
            # paged or jumped): showing it would undo the move; the page asked for follows
            self._render_title()
            return
        if event.offset >= 0:
            self.filter_error = None
            self.rows = event.rows
            self.last_ms = event.elapsed_ms
            self._add_users(r.user for r in event.rows)
            self._show()
            self.loaded_once = True
        self._render_title()

    @property
    def busy(self) -> bool:
        return not self.loaded_once or self.counts is None or not self.queues

    def _show(self) -> None:
        self.query_one(JobsTable).show(self.rows, self.app.clock(), self.selected,
                                       self.all_selected)
        self.pages_shown += 1
        if self.pending_details:
            self.pending_details = False

    def _total(self) -> int | None:
        """How many jobs pass the filter (None until counted)."""
        return total_of(self.counts, self.filters()["state"] if self.is_mounted else None)

    def _render_title(self) -> None:
        narrow = self.size.width < 100  # 80 columns: short state names, so all fit
        t = Text.assemble(("Jobs", "bold"), " " if narrow else "  ")
        total = self._total()
        if self.counts is not None:
            t.append(f"{counted(total, 'job')}  ", style="bold")
            for st in STATES:
                n = self.counts.get(st, 0)
                if n:
                    t.append(f"{SHORT_STATES[st] if narrow else st} {count(n)} ",
                             style=STATE_STYLES.get(st, ""))
                    t.append(" " if not narrow else "")
        else:
            t.append("counting…  ", style="dim")
        self.query_one("#jobs-title", Static).update(t)
        status_of_host = self.app.host_state[2]
        self.query_one("#jobs-stale").display = bool(
            status_of_host is not None and getattr(status_of_host, "daemon_running", None) is False
            and self.counts is not None and self.counts.get("RUNNING", 0))
        first = self.page_offset + 1 if self.rows else 0
        last = self.page_offset + len(self.rows)
        of = f" of {count(total)}" if total is not None else ""
        status = Text()
        if self.filter_error:
            status.append(self.filter_error, style="bold red")
            self.query_one("#jobs-status", Static).update(status)
            return
        if not self.rows and self.loaded_once and total == 0:
            f = self.filters()
            if any(f[k] for k in ("queue", "state", "match", "user")):
                status.append(f"no job {describe(f)}; esc clears the filters", style="bold")
            else:
                status.append("no jobs yet: s submits one (or qsub from a shell)", style="bold")
            self.query_one("#jobs-status", Static).update(status)
            return
        status.append(f"{first}-{last}{of}  ")
        status.append("o sort ", style="dim")
        status.append(f"{self.sort_by} {'↓' if self.sort_reverse else '↑'}  ")
        status.append("^r regex" if self.regex else "^r substring", style="bold" if self.regex else "dim")
        status.append("  ")
        if self.progress is not None:
            done, n = self.progress
            status.append(f"cancelling {count(done)}/{count(n)}  ", style="bold yellow")
        if self.all_selected:
            status.append(f"all {count(total) if total is not None else ''} matching selected  ",
                          style="bold yellow")
        elif self.selected:
            status.append(f"{len(self.selected)} selected  ", style="bold yellow")
        if self.last_ms is not None and self.app.live:
            status.append(f"{self.last_ms:.0f} ms", style="dim")
        self.query_one("#jobs-status", Static).update(status)

    # ---- paging and sorting ----------------------------------------------------------------

    def _go(self, offset: int) -> None:
        if offset != self.page_offset:
            self.page_offset = offset
            self.reload()
            self._render_title()

    def action_page(self, delta: int) -> None:
        if delta > 0 and len(self.rows) < PAGE:
            return
        self._go(max(0, self.page_offset + delta * PAGE))

    def action_first_page(self) -> None:
        self._go(0)
        self.query_one(JobsTable).move_cursor(row=0, animate=False)

    def action_last_page(self) -> None:
        total = self._total()
        if total is None:
            self.notify("still counting the jobs; try again in a moment", severity="warning")
            return
        self._go(max(0, (total - 1) // PAGE * PAGE))

    def _sort_changed(self) -> None:
        self.page_offset = 0
        self.generation += 1
        self.reload()
        self._render_title()

    def action_sort(self) -> None:
        """The next column, descending (over every matching job, on the host)."""
        keys = list(SORT_KEYS)
        self.sort_by = keys[(keys.index(self.sort_by) + 1) % len(keys)]
        self.sort_reverse = True
        self._sort_changed()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._sort_changed()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = str(event.column_key.value)
        if key in SORT_KEYS:
            if self.sort_by == key:
                self.sort_reverse = not self.sort_reverse
            else:
                self.sort_by, self.sort_reverse = key, False
            self._sort_changed()

    def action_jump(self) -> None:
        from hyper_tui.screens.jump_modal import JumpModal

        self.app.push_screen(JumpModal(), self._jump)

    def _jump(self, ref: str | None) -> None:
        if ref:
            self.find_position(ref, self.query_args())

    @work(thread=True, exclusive=True, group="jobs-jump", exit_on_error=False)
    def find_position(self, ref: str, args: dict[str, Any]) -> None:
        try:
            job = self.client.get_job(ref)
        except Exception as err:
            self.app.call_from_thread(self.notify, str(err), title="Jump", severity="error")
            return
        self.post_message(JobPosition(job.job_id, self.client.job_position(job.job_id, **args)))

    def on_job_position(self, event: JobPosition) -> None:
        if event.position is None:
            self.notify(f"job {event.job_id} is not in this listing ({describe(self.filters())}); "
                        "esc clears the filter", title="Jump", severity="warning")
            return
        self.query_one(JobsTable).follow = event.job_id
        offset = event.position // PAGE * PAGE
        if offset == self.page_offset:
            self.reload()
        self._go(offset)

    # ---- selection, cancel, submit, logs, details -------------------------------------------

    def action_toggle_select(self) -> None:
        job = self.query_one(JobsTable).current_job()
        if job is None:
            return
        self.all_selected = False
        self.selected ^= {job.job_id}
        self._show()
        self.query_one(JobsTable).action_cursor_down()
        self._render_title()

    def action_select_all(self) -> None:
        """Select every job that matches the filter, on every page (again: unselect)."""
        self.all_selected = not self.all_selected
        self.selected.clear()
        self._show()
        self._render_title()

    def action_cancel_jobs(self) -> None:
        from hyper_tui.screens.confirm_modal import ConfirmModal

        if self.all_selected:
            filters = self.filters()
            total = self._total()
            n = counted(total, "job") if total is not None else "jobs"
            self.app.push_screen(
                ConfirmModal(f"Cancel {n}", f"Cancel every active job {describe(filters)} "
                             f"({n} listed, on every page)?\nQueued jobs stop at once; "
                             "running jobs are killed; finished jobs stay as they are.",
                             yes=f"Cancel {n}"),
                lambda ok: ok and self._start_cancel_matching(filters, total))
            return
        targets = self._targets()
        if not targets:
            self.notify("no job to cancel", severity="warning")
            return
        shown = ", ".join(targets[:NAMED_IN_CONFIRM])
        if len(targets) > NAMED_IN_CONFIRM:
            shown += f" and {len(targets) - NAMED_IN_CONFIRM} more"
        if len(targets) == 1:
            job = self.query_one(JobsTable).jobs.get(targets[0])
            title, what = "Cancel job", f"job {targets[0]}" + (f" ({job.name})" if job else "")
        else:
            title, what = f"Cancel {len(targets)} jobs", f"{len(targets)} jobs: {shown}"
        self.app.push_screen(
            ConfirmModal(title, f"Cancel {what}?\nQueued jobs stop at once; running jobs are "
                         "killed.", yes=title),
            lambda ok: ok and self.cancel(targets))

    @work(thread=True, exclusive=True, group="jobs-cancel", exit_on_error=False)
    def cancel(self, refs: list[str]) -> None:
        self.post_message(JobsCancelled(self.client.cancel(refs)))

    def _start_cancel_matching(self, filters: dict[str, Any], total: int | None) -> None:
        """Show the cancel as under way at once (the host first finds every match)."""
        self.progress = (0, total or 0)
        self._render_title()
        self.cancel_matching(filters)

    @work(thread=True, exclusive=True, group="jobs-cancel", exit_on_error=False)
    def cancel_matching(self, filters: dict[str, Any]) -> None:
        """Cancel every match through the host, in batches; control stays with the person
        (this runs in a thread) and the status line shows how far it got."""
        done = self.client.cancel_matching(
            **filters, progress=lambda d, n: self.post_message(JobsProgress(d, n)))
        self.post_message(JobsMatchCancelled(done, describe(filters)))

    def on_jobs_progress(self, event: JobsProgress) -> None:
        self.progress = (event.done, event.total)
        self._render_title()

    def on_jobs_match_cancelled(self, event: JobsMatchCancelled) -> None:
        self.progress = None
        self.all_selected = False
        self.counts = None
        self._done("Cancel", "cancelled", event.cancelled, 0, "")
        self.notify(f"every job {event.described}", title="Cancelled")

    def on_jobs_cancelled(self, event: JobsCancelled) -> None:
        done = [r.job_id for r in event.results if r.outcome == "cancelled"]
        self._done("Cancel", "cancelled", len(done), len(event.results) - len(done),
                   "already finished", done)

    def _done(self, title: str, verb: str, done: int, other: int, why_other: str,
              names: list[str] | None = None) -> None:
        """Say what a cancel or release did (naming the jobs when few), then show the table
        as it is now."""
        msg = f"{verb} {done} job{'s' if done != 1 else ''}"
        if names and len(names) <= NAMED_IN_CONFIRM:
            msg += ": " + ", ".join(names)
        if other:
            msg += f" ({other} {why_other})"
        self.notify(msg, title=title)
        self.selected.clear()
        self.counts = None
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
