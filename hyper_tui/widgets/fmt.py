"""Pure formatting helpers shared by the screens (no widgets, no I/O)."""

from __future__ import annotations

import enum
from typing import Any

from hyper_tui.core.jobs import JobRow

STATE_STYLES = {
    "PENDING": "yellow",
    "QUEUED": "cyan",
    "RUNNING": "bold blue",
    "SUCCEEDED": "green",
    "FAILED": "bold red",
    "CANCELLED": "magenta",
}

STATUS_STYLES = {
    "ACTIVE": "green",
    "CREATING": "yellow",
    "UPDATING": "yellow",
    "DELETING": "magenta",
    "FAILED": "bold red",
}


def duration(seconds: float | None) -> str:
    """``75.2`` -> ``1m15s``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def runtime(job: JobRow, now: float) -> str:
    if not job.started:
        return "-"
    return duration((job.ended or now) - job.started)


def value_text(value: Any) -> str:
    """A field value as a short human string."""
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def count(n: int) -> str:
    return f"{n:,}"


def counted(n: int, noun: str) -> str:
    """``1 job``, ``2 jobs``, ``1,000 jobs`` (pure)."""
    return f"{count(n)} {noun}{'' if n == 1 else 's'}"
