"""Compact lists of job ids: their common prefix once, then the rest of each id.

The ids of one submission share their time part (``schema.new_job_id``: 12 hex digits of
epoch milliseconds), so a list of them costs about 9 bytes an id this way instead of 21. The
outbox's rows (``hyper_tui.aws.outbox``) and the submission groups' members
(``hyper_tui.aws.groups``) are stored so. Standard library only.
"""

from __future__ import annotations

import os


def compact_ids(ids: list[str]) -> tuple[str, str]:
    """``(prefix, rests)``: the ids' common prefix, and the rest of each id, space-separated."""
    prefix = os.path.commonprefix(ids) if ids else ""
    return prefix, " ".join(i[len(prefix):] for i in ids)


def expand_ids(prefix: str, rests: str) -> list[str]:
    """The ids :func:`compact_ids` stored, in their order."""
    return [prefix + rest for rest in rests.split(" ")]
