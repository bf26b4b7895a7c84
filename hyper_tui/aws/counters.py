"""Job counts per queue and state that never read jobs: sharded counter items fed by the
jobs table's stream.

Every write that changes a job's state (or adds or removes a job) is a record of the table's
stream (view type NEW_AND_OLD_IMAGES). :func:`apply_stream_records` turns a batch of records
into deltas per (queue, state) and writes them with one UpdateItem ``ADD`` per queue, to one
of ``COUNTER_SHARDS`` counter items picked at random (``count#{queue}#{shard}``), so no
counter item takes more than a few writes a second: at 10,000 jobs/s (30,000 records/s) and
batches of 100 records, 300 batches a second spread over 16 items is about 19 writes/s each.
A stream consumer (a Lambda on the stream; a batch is retried whole until it succeeds) calls it.
The counts are of the jobs the table keeps: a job removed by its TTL leaves them too.

:func:`read_counts` (``qstat``'s summary, the dashboard, the scaler) reads a queue's counter
items with one BatchGetItem (``COUNTER_SHARDS`` items, eventually consistent): its cost does not
depend on how many jobs the table keeps.

Counter items have no index keys, so they are in no index, and no ``state``, so no job
listing ever shows them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from hyper_tui.aws.table import Update, batch_get, from_item
from hyper_tui.core.jobs import STATES

COUNTER_SHARDS = 16
COUNTER_PREFIX = "count#"


def counter_id(queue: str, shard: int) -> str:
    return f"{COUNTER_PREFIX}{queue}#{shard}"


def _job(image: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(queue, state) of a stream image that is a job's item; None for any other item."""
    if not image:
        return None
    item = from_item(image)
    if item.get("kind") or str(item.get("id", "")).startswith(COUNTER_PREFIX):
        return None  # a spec, outbox or counter item
    queue, state = item.get("queue"), item.get("state")
    if not queue or state not in STATES:
        return None
    return str(queue), str(state)


def stream_deltas(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per queue, per state, how many jobs entered (+) or left (-) it in ``records`` (DynamoDB
    stream records with old and new images)."""
    out: dict[str, dict[str, int]] = {}
    for record in records:
        change = record.get("dynamodb") or {}
        old, new = _job(change.get("OldImage")), _job(change.get("NewImage"))
        if old == new:
            continue
        for key, sign in ((old, -1), (new, 1)):
            if key:
                by_state = out.setdefault(key[0], {})
                by_state[key[1]] = by_state.get(key[1], 0) + sign
    return {q: {s: n for s, n in d.items() if n} for q, d in out.items()
            if any(d.values())}


def apply_deltas(ddb: Any, table: str, deltas: Mapping[str, Mapping[str, int]], *,
                 shard: int | None = None) -> int:
    """Add ``deltas`` to the counter items, one UpdateItem per queue; returns the requests."""
    requests = 0
    for queue, by_state in sorted(deltas.items()):
        if not by_state:
            continue
        s = random.randrange(COUNTER_SHARDS) if shard is None else shard
        u = Update(table, counter_id(queue, s))
        for state, n in sorted(by_state.items()):
            u.add(state, int(n))
        ddb.update_item(**u.kwargs())
        requests += 1
    return requests


def apply_stream_records(ddb: Any, table: str, records: Iterable[Mapping[str, Any]]) -> int:
    """A stream batch into the counters (the stream consumer's whole job)."""
    return apply_deltas(ddb, table, stream_deltas(records))


def read_counts(ddb: Any, table: str, queues: Iterable[str]) -> dict[str, dict[str, int]]:
    """Jobs per state of each queue: ``COUNTER_SHARDS`` items read per queue, in one
    BatchGetItem per 100, whatever the number of jobs."""
    queues = list(queues)
    ids = [counter_id(q, s) for q in queues for s in range(COUNTER_SHARDS)]
    items = batch_get(ddb, table, ids, consistent=False)
    out: dict[str, dict[str, int]] = {q: dict.fromkeys(STATES, 0) for q in queues}
    for q in queues:
        for s in range(COUNTER_SHARDS):
            item = items.get(counter_id(q, s)) or {}
            for state in STATES:
                out[q][state] += int(item.get(state) or 0)
    return out


def handler(event: Mapping[str, Any], context: Any = None, *, ddb: Any = None) -> dict[str, int]:
    """The stream consumer's Lambda entry point (a DynamoDB stream event source on the jobs
    table, view NEW_AND_OLD_IMAGES; ``HYPER_JOBS_TABLE`` names the table): one batch of
    records into the counters. An error fails the batch, which the event source retries."""
    import os

    if ddb is None:
        import boto3

        ddb = boto3.client("dynamodb")
    records = event.get("Records") or []
    return {"records": len(records),
            "writes": apply_stream_records(ddb, os.environ["HYPER_JOBS_TABLE"], records)}
