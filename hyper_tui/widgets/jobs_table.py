"""The jobs table: one page of jobs, updated in place. The cursor follows its JOB (not a row
number) when rows are inserted or removed above it; column widths fit the terminal."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from hyper_tui.core.jobs import JobRow
from hyper_tui.widgets.fmt import STATE_STYLES, runtime

COLUMNS = (("sel", " "), ("id", "id"), ("name", "name"), ("queue", "queue"), ("user", "user"),
           ("state", "state"), ("reason", "reason"), ("attempts", "tries"), ("runtime", "runtime"))
USER_FROM = 90  # the user column shows from this width up (at 80 columns the reason needs it)

# Server-side sort keys, in the order ``o`` cycles through them (core.job_query.SORT_COLUMNS).
SORT_KEYS = ("id", "name", "queue", "state", "reason", "attempts", "runtime")

PAD = 2  # DataTable's cell padding, one each side
FIXED = {"sel": 1, "state": 9, "attempts": 5, "runtime": 7}
MIN = {"id": 4, "name": 6, "queue": 5, "reason": 8, "user": 4}


def fit_widths(total: int, rows: list[JobRow]) -> dict[str, int]:
    """Column widths that fill ``total`` cells without a horizontal scrollbar: ids and queues
    as wide as the widest on the page (``4173[97000]`` is never cut), then the name and the
    reason share what is left (the name up to its longest, the reason the rest). The user
    column is there from ``USER_FROM`` cells up (absent from the widths below)."""
    def widest(key: str, header: str) -> int:
        return max([len(header), MIN[key]] + [len(str(getattr(r, key) or "")) for r in rows])

    widths = dict(FIXED)
    widths["id"] = max([MIN["id"]] + [len(r.job_id) for r in rows])
    widths["queue"] = min(widest("queue", "queue"), 16)
    if total >= USER_FROM:
        widths["user"] = min(widest("user", "user"), 12)
    used = sum(widths.values()) + PAD * (len(widths) + 2)  # + name and reason
    rest = max(total - used - 1, MIN["name"] + MIN["reason"])  # 1: the vertical scrollbar's room
    longest_name = widest("name", "name")
    longest_reason = widest("reason", "reason")
    name = min(longest_name, max(MIN["name"], rest * 2 // 5))
    if longest_reason < rest - name:  # room to spare: give it back to the name
        name = min(longest_name, rest - longest_reason)
    widths["name"] = name
    widths["reason"] = max(MIN["reason"], rest - name)
    return widths


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def shown_columns(widths: dict[str, int]) -> list[tuple[str, str]]:
    """The (key, label) of the columns ``widths`` has room for, in order."""
    return [(k, label) for k, label in COLUMNS if k in widths]


def job_cells(job: JobRow, now: float, selected: bool, widths: dict[str, int]) -> tuple[Any, ...]:
    state = job.state
    cells = {
        "sel": Text("●" if selected else " ", style="bold yellow" if selected else ""),
        "id": job.job_id,
        "name": ellipsis(job.name, widths["name"]),
        "queue": ellipsis(job.queue, widths["queue"]),
        "state": Text(state, style=STATE_STYLES.get(state, "")),
        "reason": Text(ellipsis(job.reason or "", widths["reason"]), style="dim"),
        "attempts": str(job.attempts),
        "runtime": runtime(job, now),
    }
    if "user" in widths:
        cells["user"] = ellipsis(job.user or "-", widths["user"])
    return tuple(cells[k] for k, _ in shown_columns(widths))


class JobsTable(DataTable):
    """``show(rows, now, selected)`` replaces the page; unchanged rows are not touched, and the
    cursor stays on the job it was on wherever that job moved."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.keys: list[str] = []
        self.cells: dict[str, tuple] = {}
        self.jobs: dict[str, JobRow] = {}
        self.widths: dict[str, int] = {}
        self.follow: str | None = None  # the job the cursor is to land on when it shows up
        self._shown: tuple[list[JobRow], float, set[str], bool] = ([], 0.0, set(), False)

    def _columns(self, widths: dict[str, int]) -> None:
        self.clear(columns=True)
        for key, label in shown_columns(widths):
            self.add_column(label, key=key, width=widths[key])
        self.widths = widths
        self.keys, self.cells = [], {}

    def show(self, rows: list[JobRow], now: float, selected: set[str] | None = None,
             all_selected: bool = False) -> None:
        selected = selected or set()
        self._shown = (rows, now, selected, all_selected)
        widths = fit_widths(self.size.width or 120, rows)
        current = self.current_job()
        target = self.follow or (current.job_id if current else None)
        if widths != self.widths:
            self._columns(widths)
        keys = [r.job_id for r in rows]
        new_cells = {r.job_id: job_cells(r, now, all_selected or r.job_id in selected, widths)
                     for r in rows}
        self.jobs = {r.job_id: r for r in rows}
        if keys == self.keys:
            for key in keys:
                old, new = self.cells.get(key), new_cells[key]
                if old != new:
                    for (col, _), a, b in zip(shown_columns(widths), old or (), new, strict=False):
                        if a != b:
                            self.update_cell(key, col, b)
            self.cells = new_cells
        else:
            row = self.cursor_row
            self.clear()
            for key in keys:
                self.add_row(*new_cells[key], key=key)
            self.keys, self.cells = keys, new_cells
            if keys:
                row = keys.index(target) if target in new_cells else min(max(row, 0), len(keys) - 1)
                self.move_cursor(row=row, animate=False)
        if self.follow in new_cells:
            self.move_cursor(row=keys.index(self.follow), animate=False)
            self.follow = None

    def on_resize(self) -> None:
        rows = self._shown[0]
        if rows and fit_widths(self.size.width, rows) != self.widths:
            self.show(*self._shown)

    def current_job(self) -> JobRow | None:
        if not self.keys or self.cursor_row < 0 or self.cursor_row >= len(self.keys):
            return None
        return self.jobs.get(self.keys[self.cursor_row])
