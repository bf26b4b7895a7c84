"""What a jobs listing may filter and sort by, for host kinds that filter what they read
(aws) and for front ends: the local host says the same in SQL (``local.jobs.SORT_SQL``).
Standard library only; ``re`` is imported when a regex is asked for."""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# The columns ``HostClient.list_jobs`` sorts by, over every matching job.
SORT_COLUMNS = ("id", "name", "queue", "state", "reason", "attempts", "submitted", "runtime")


def matcher(match: str | None, regex: bool = False) -> Callable[[str | None], bool]:
    """A test of one text: contains ``match`` (case-insensitive), or matches it as a Python
    regular expression. Raises ``ValueError`` naming the fault for a bad pattern."""
    if not match:
        return lambda text: True
    if regex:
        import re

        try:
            rx = re.compile(match)
        except re.error as err:
            raise ValueError(f"bad regular expression {match!r}: {err}") from None
        return lambda text: text is not None and rx.search(text) is not None
    needle = match.casefold()
    return lambda text: text is not None and needle in text.casefold()


def runtime_of(started: float | None, ended: float | None, now: float) -> float:
    """How long a job ran, or runs so far; -1 for one that never started (sorts lowest)."""
    if started is None:
        return -1.0
    return (ended if ended is not None else now) - started


def sort_key(sort: str, now: float) -> Callable[[Any], Any]:
    """The key of column ``sort`` for rows with the ``JobRow`` attributes."""
    if sort not in SORT_COLUMNS:
        raise ValueError(f"no sort column {sort!r}: use one of {', '.join(SORT_COLUMNS)}")
    if sort == "runtime":
        return lambda j: runtime_of(j.started, j.ended, now)
    if sort == "reason":
        return lambda j: j.reason or ""
    return lambda j: getattr(j, sort)


def sort_rows(rows: list[Any], sort: str, descending: bool, now: float) -> list[Any]:
    """Sort in place as every host kind lists: by ``sort``, ties by id ascending."""
    rows.sort(key=lambda j: j.id)
    if sort != "id":
        rows.sort(key=sort_key(sort, now), reverse=descending)  # stable: ties keep id order
    elif descending:
        rows.reverse()
    return rows
