"""Printing results: a readable table by default, JSON with ``-o json``. Standard library only."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    fmt = "  ".join("{:<%d}" % w for w in widths)
    out.write(fmt.format(*[h.upper() for h in headers]).rstrip() + "\n")
    for row in cells:
        out.write(fmt.format(*row).rstrip() + "\n")


def as_json(data: Any, *, out: TextIO | None = None) -> None:
    from hyper_tui.redact import redact  # secrets (API keys in an environment) show as ********

    (out or sys.stdout).write(json.dumps(redact(data), indent=2, sort_keys=False, default=str) + "\n")


def key_values(items: dict[str, Any], *, out: TextIO | None = None) -> None:
    from hyper_tui.redact import redact

    out = out or sys.stdout
    items = redact(items)  # type: ignore[assignment]
    width = max((len(k) for k in items), default=0)
    for k, v in items.items():
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str)
        out.write(f"{k:<{width}}  {'' if v is None else v}\n")
