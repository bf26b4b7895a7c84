"""The jobs table: one page of jobs, updated in place so the cursor and selection stay put."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from hyper_tui.core.jobs import JobRow
from hyper_tui.widgets.fmt import STATE_STYLES, runtime

COLUMNS = (("sel", " "), ("id", "id"), ("name", "name"), ("queue", "queue"), ("state", "state"),
           ("reason", "pending reason"), ("attempts", "attempts"), ("runtime", "runtime"))

SORT_KEYS = {
    "id": lambda j: (j.id,),
    "name": lambda j: (j.name, j.id),
    "queue": lambda j: (j.queue, j.id),
    "state": lambda j: (j.state, j.id),
    "attempts": lambda j: (j.attempts, j.id),
    "runtime": lambda j: ((j.ended or 0) - (j.started or 0), j.id),
}


def job_cells(job: JobRow, now: float, selected: bool) -> tuple[Any, ...]:
    state = job.state
    reason = job.reason or ""
    if state not in ("PENDING", "QUEUED") and not reason:
        reason = ""
    return (
        Text("●" if selected else " ", style="bold yellow" if selected else ""),
        job.job_id,
        job.name,
        job.queue,
        Text(state, style=STATE_STYLES.get(state, "")),
        Text(reason[:60], style="dim"),
        str(job.attempts),
        runtime(job, now),
    )


class JobsTable(DataTable):
    """``show(rows, now, selected)`` replaces the page; unchanged rows are not touched."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.keys: list[str] = []
        self.cells: dict[str, tuple] = {}
        self.jobs: dict[str, JobRow] = {}

    def on_mount(self) -> None:
        widths = {"sel": 1, "id": 10, "name": 14, "queue": 9, "state": 9, "reason": 20,
                  "attempts": 8, "runtime": 8}
        for key, label in COLUMNS:
            self.add_column(label, key=key, width=widths[key])

    def show(self, rows: list[JobRow], now: float, selected: set[str]) -> None:
        keys = [r.job_id for r in rows]
        new_cells = {r.job_id: job_cells(r, now, r.job_id in selected) for r in rows}
        self.jobs = {r.job_id: r for r in rows}
        if keys == self.keys:
            for key in keys:
                old, new = self.cells.get(key), new_cells[key]
                if old != new:
                    for (col, _), a, b in zip(COLUMNS, old or (), new, strict=False):
                        if a != b:
                            self.update_cell(key, col, b)
            self.cells = new_cells
            return
        row = self.cursor_row
        self.clear()
        for key in keys:
            self.add_row(*new_cells[key], key=key)
        self.keys, self.cells = keys, new_cells
        if keys:
            self.move_cursor(row=min(max(row, 0), len(keys) - 1), animate=False)

    def current_job(self) -> JobRow | None:
        if not self.keys or self.cursor_row < 0 or self.cursor_row >= len(self.keys):
            return None
        return self.jobs.get(self.keys[self.cursor_row])
