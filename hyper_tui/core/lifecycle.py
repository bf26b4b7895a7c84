"""What happens to a job: the reasons a job waits, and (as they move here) the rules for what
an exit, a timeout, a lost worker and a cancel do to it. Standard library only."""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterable

HELD_REASON = "held; release with qrls"
_DEP_VERBS = {"afterok": "succeed", "afterany": "end", "afternotok": "fail"}


def waiting_reason(deps: Iterable[tuple[str, str]]) -> str:
    """The reason of a job waiting on ``(kind, job ref)`` pairs: ``waiting for 12[] to succeed,
    14 to end``. Every host kind says the same."""
    return "waiting for " + ", ".join(f"{ref} to {_DEP_VERBS[kind]}" for kind, ref in deps)
