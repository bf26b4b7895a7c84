"""A job's log: Textual's ``Log`` (renders only the visible lines), bounded in memory.

Lines are ``HH:MM:SS.mmm TYPE  text``. Only the tail of a huge log is loaded at first; the
view then follows with offsets, keeping at most ``MAX_LINES`` lines.
"""

from __future__ import annotations

import time

from textual.widgets import Log

from hyper_tui.core.jobs import LogRecord
from hyper_tui.safe_text import escape_controls

MAX_LINES = 200_000


def format_record(ts: float, kind: str, data: str) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"
    return f"{stamp} {kind:<6} {escape_controls(data, keep_newlines=False)}"  # shown, never obeyed


class JobLog(Log):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=True, **kwargs)

    def add_records(self, records: list[LogRecord]) -> None:
        if records:
            self.write_lines([format_record(r.ts, r.type, r.data) for r in records])
