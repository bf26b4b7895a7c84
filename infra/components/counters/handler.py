"""The counters Lambda's entry point: a batch of the jobs table's stream records
(NEW_AND_OLD_IMAGES) into the sharded counter items (``hyper_tui.aws.counters``), which
``qstat``'s summary, the dashboard and the scaler read instead of the jobs.

A thin door: the work is ``hyper_tui.aws.counters.handler``. An error fails the batch, which
the event source retries (then bisects, then skips after its retry limit)."""

from __future__ import annotations

from typing import Any

from hyper_tui.aws import counters


def handler(event: Any, context: Any) -> dict[str, Any]:
    return counters.handler(event, context)
