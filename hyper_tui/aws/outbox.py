"""The outbox: no job is left QUEUED without a work-queue message, whatever crashes when.

Making jobs runnable on an aws host takes two services: the job items become QUEUED in
DynamoDB, then their ids go to SQS. A ``kill -9`` (or a Lambda timeout) between the two would
leave jobs QUEUED that no worker will ever receive. So before the items change, one *outbox*
item records the ids about to be sent; after the send it is deleted. Every scaler pass sweeps
the outbox: an entry older than ``STALE_S`` belongs to a writer that died, and the ids it names
that are still QUEUED are sent again. A second message for a job is harmless: claims are
conditional on the state and attempt, so only one worker ever runs an attempt.

Outbox items live in the jobs table (``id`` ``outbox#...``, no job attributes) and in the sparse
``by_active`` index under the partition ``OUTBOX_SHARD``, so the sweep reads only them. One
outbox item per send, not per job, and compact: a row per (queue, definition) and up to
``ROW_IDS`` ids, holding their common prefix once and the rest of each id (9 bytes a job for a
``qsub --stdin`` batch, whose ids share their time part), so that writing and deleting it
costs about 0.02 write units a job.
:func:`enqueue_or_fail` is the send itself, shared by every writer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.id_lists import compact_ids, expand_ids
from hyper_tui.aws.table import Update, batch_get, query_items, to_item
from hyper_tui.aws.work_queues import IDS_PER_CALL, send_ids

OUTBOX_SHARD = "#outbox"  # not a queue shard: a queue name starts with a letter
STALE_S = 120.0  # a writer sends within seconds; one silent this long has died
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
ROWS_BYTES = 360 * 1024  # the rows of one outbox item, at most: room for its other attributes
KEEP_S = 7 * 86400  # an outbox item left by a bug expires anyway


def open_outbox(ddb: Any, table: str, jobs: Iterable[Mapping[str, Any]], *,
                retention_s: float = 30 * 86400, now: float | None = None) -> list[str]:
    """Record the jobs about to be queued (their queue, definition and id); returns the
    outbox item ids to pass to :func:`close_outbox` once their messages are sent."""
    now = time.time() if now is None else now
    by_pair: dict[tuple[str, str], list[str]] = {}
    for j in jobs:
        by_pair.setdefault((j["queue"], j["definition"]), []).append(j["id"])
    rows = [compact_row(q, d, ids[i:i + ROW_IDS]) for (q, d), ids in sorted(by_pair.items())
            for i in range(0, len(ids), ROW_IDS)]
    ids = []
    for chunk in split_rows(rows):
        oid = f"outbox#{uuid.uuid4().hex}"
        ddb.put_item(TableName=table, Item=to_item({
            "id": oid, "kind": "outbox", schema.ACTIVE_KEY: OUTBOX_SHARD,
            "jobs": chunk, "created": round(now, 3),
            "retention_s": retention_s,  # of the jobs it marks FAILED if they cannot be sent
            schema.TTL_ATTRIBUTE: int(now + KEEP_S)}))
        ids.append(oid)
    return ids


ROW_IDS = 2000  # ids in one outbox row (a row stays under 64 KB for ids of up to 30 bytes)


def compact_row(queue: str, definition: str, ids: list[str]) -> list[str]:
    """``[queue, definition, prefix, rests]``: the ids' common prefix once, then the rest of
    each id, space-separated (:func:`row_ids` reads it back)."""
    return [queue, definition, *compact_ids(ids)]


def row_ids(row: list[str]) -> list[str]:
    """The job ids of an outbox row (``[queue, definition, prefix, rests]``, or the older
    ``[queue, definition, id]``)."""
    if len(row) == 3:
        return [row[2]]
    return expand_ids(row[2], row[3])


def row_bytes(row: list[str]) -> int:
    """What one row costs in a DynamoDB item: a list (3 bytes) of strings, each its UTF-8
    length plus 1 byte as a list element, plus 1 byte as an element of the outer list."""
    return 3 + 1 + sum(len(v.encode("utf-8")) + 1 for v in row)


def split_rows(rows: list[list[str]], budget: int = ROWS_BYTES) -> list[list[list[str]]]:
    """``rows`` in consecutive chunks of at most ``budget`` bytes each (by
    :func:`row_bytes`), so that no outbox item exceeds DynamoDB's item limit whatever the
    names' lengths."""
    chunks: list[list[list[str]]] = []
    size = budget + 1
    for row in rows:
        cost = row_bytes(row)
        if size + cost > budget:
            chunks.append([])
            size = 3  # the list itself
        chunks[-1].append(row)
        size += cost
    return chunks


def close_outbox(ddb: Any, table: str, outbox_ids: Iterable[str]) -> None:
    for oid in outbox_ids:
        ddb.delete_item(TableName=table, Key={"id": {"S": oid}})


def sweep_outbox(ddb: Any, sqs: Any, table: str, url_of: Callable[[str, str], str], *,
                 stale_s: float | None = None, now: float | None = None) -> int:
    """Send again the ids of stale outbox items that are still QUEUED; returns how many."""
    now = time.time() if now is None else now
    stale_s = STALE_S if stale_s is None else stale_s
    keys = [it["id"] for it in query_items(
        ddb, TableName=table, IndexName="by_active", KeyConditionExpression="#k = :k",
        ExpressionAttributeNames={"#k": schema.ACTIVE_KEY},
        ExpressionAttributeValues={":k": {"S": OUTBOX_SHARD}})]
    resent = 0
    for oid, box in batch_get(ddb, table, keys).items():
        if now - float(box.get("created") or 0) < stale_s:
            continue  # its writer may still be sending
        rows = [(r[0], r[1], jid) for r in box.get("jobs") or [] for jid in row_ids(r)]
        items = batch_get(ddb, table, [r[2] for r in rows])
        queued = [{"queue": q, "definition": d, "id": j} for q, d, j in rows
                  if (items.get(j) or {}).get("state") == "QUEUED"]
        enqueue_or_fail(ddb, sqs, table, url_of, queued, now,
                        retention_s=float(box.get("retention_s") or 30 * 86400))
        resent += len(queued)
        close_outbox(ddb, table, [oid])
    return resent


def enqueue_or_fail(ddb: Any, sqs: Any, table: str, url_of: Callable[[str, str], str],
                    jobs: Iterable[Mapping[str, Any]], now: float, retention_s: float,
                    map_fn: Callable[..., Iterable[set[str]]] = map) -> set[str]:
    """Send the ids of QUEUED ``jobs`` to their work queues (in calls of 10 messages of
    ``IDS_PER_MESSAGE`` ids, through ``map_fn``: a thread pool's map sends them in parallel);
    the jobs whose message could not be sent are marked FAILED (they would wait forever).
    Returns the ids that failed."""
    by_pair: dict[tuple[str, str], list[str]] = {}
    for job in jobs:
        by_pair.setdefault((job["queue"], job["definition"]), []).append(job["id"])
    # (url, ids, ids per message): a burst spreads one job a message (schema.ids_per_message)
    tasks = [(url_of(*pair), ids[i:i + IDS_PER_CALL], schema.ids_per_message(len(ids)))
             for pair, ids in sorted(by_pair.items()) for i in range(0, len(ids), IDS_PER_CALL)]
    errors: list[str] = []

    def send(task: tuple[str, list[str], int]) -> set[str]:
        url, ids, per_message = task
        try:
            return send_ids(sqs, url, ids, per_message=per_message, stamp=now)
        except Exception as err:  # the whole call failed: every id of it
            errors.append(str(err))
            return set(ids)

    failed: set[str] = set()
    for lost in map_fn(send, tasks):
        failed |= lost
    why = errors[0] if errors else "the work queue refused the message"
    for jid in sorted(failed):
        u = Update(table, jid).when("state", "=", "QUEUED")
        u.set("state", "FAILED").set("reason", f"could not be queued ({why}); submit it again")
        u.set("ended", time.time()).set(schema.TTL_ATTRIBUTE, int(time.time() + retention_s))
        try:
            ddb.update_item(**u.kwargs())
        except Exception:  # noqa: S110 - the caller reports the failed ids anyway
            pass
    return failed
