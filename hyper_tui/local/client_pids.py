"""Look up a local worker's process id (for tools, tests and the TUI's worker list)."""

from __future__ import annotations

from hyper_tui.core.errors import NotFoundError
from hyper_tui.local.client import LocalHost


def worker_pid(worker_id: str, host: str = "local") -> int:
    h = LocalHost(host)
    try:
        row = h.store.one("SELECT pid FROM workers WHERE id=?", (worker_id,))
    finally:
        h.close()
    if not row or not row[0]:
        raise NotFoundError(f"no live worker {worker_id}")
    return int(row[0])
