"""Job counts per queue and state that never read jobs: sharded counter items fed by the
jobs table's stream.

Every write that changes a job's state (or adds or removes a job) is a record of the table's
stream (view type NEW_AND_OLD_IMAGES). :func:`apply_stream_records` turns a batch of records
into deltas per (queue, state) and writes each queue's with one ``ADD`` to one of
``COUNTER_SHARDS`` counter items (``count#{queue}#{shard}``, picked by the batch), in a
transaction with the batch's mark item for that queue, so a batch the event source delivers
again is counted once. No counter item takes more than a few writes a second: at 10,000
jobs/s (30,000 records/s) and batches of 1,000 records, 30 batches a second spread over 16
items is about 2 writes/s each. A stream consumer (a Lambda on the stream) calls it.
The counts are of the jobs the table keeps: a job removed by its TTL leaves them too.

:func:`read_counts` (``qstat``'s summary, the dashboard, the scaler) reads a queue's counter
items with one BatchGetItem (``COUNTER_SHARDS`` items, eventually consistent): its cost does not
depend on how many jobs the table keeps.

Counter items have no index keys, so they are in no index, and no ``state``, so no job
listing ever shows them.

They also count every job item the table ever took (``SUBMITTED``) and every job that reached
a final state (``FINISHED``), in the same ``ADD`` (no write of its own); both only grow. The
scaler publishes the ``Submitted`` and ``Finished`` metrics once a pass from them
(:func:`totals_since`), so neither a submission nor a worker makes a CloudWatch request (one
PutMetricData per ``qsub`` was $10 per million single-job submissions, more than all of a
job's DynamoDB writes; one per worker a minute, up to $5 per million 30 s jobs).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from hyper_tui.aws.schema import TTL_ATTRIBUTE
from hyper_tui.aws.session import error_code
from hyper_tui.aws.table import Update, batch_get, from_item
from hyper_tui.core.jobs import ACTIVE_STATES, FINAL_STATES, STATES

COUNTER_SHARDS = 16
COUNTER_PREFIX = "count#"
MARK_PREFIX = f"{COUNTER_PREFIX}~batch#"  # a stream batch's mark item, per queue
MARK_TTL_S = 2 * 86400  # marks outlive the stream's 24 h of records (then the table's TTL)
# Counter attributes that never go down (a job's TTL removal leaves them): the job items the
# table took (a stream INSERT of a job) and the jobs that reached a final state from another
# (or were written in one). The scaler's Submitted and Finished metrics are the differences
# between two passes. No state and no ``#``: the state totals and the scaler's (definition,
# state) pairs never read them.
SUBMITTED = "~submitted"
FINISHED = "~finished"
TOTALS_SEEN_ID = "meta#totals"  # jobs-table item: the totals the last metrics stopped at


def counter_id(queue: str, shard: int) -> str:
    return f"{COUNTER_PREFIX}{queue}#{shard}"


def _job(image: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """(queue, state, definition) of a stream image that is a job's item; None for any
    other item."""
    if not image:
        return None
    item = from_item(image)
    if item.get("kind") or str(item.get("id", "")).startswith(COUNTER_PREFIX):
        return None  # a spec, outbox or counter item
    queue, state = item.get("queue"), item.get("state")
    if not queue or state not in STATES:
        return None
    return str(queue), str(state), str(item.get("definition") or "")


def pair_attribute(definition: str, state: str) -> str:
    """The counter attribute of one (definition, state) of a queue, beside the state's total:
    the scaler sizes each (queue, definition) pair by these."""
    return f"{definition}#{state}"


def stream_deltas(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per queue, per counter attribute (each state, and ``pair_attribute`` of each active
    state), how many jobs entered (+) or left (-) it in ``records`` (DynamoDB stream records
    with old and new images)."""
    out: dict[str, dict[str, int]] = {}
    for record in records:
        change = record.get("dynamodb") or {}
        old, new = _job(change.get("OldImage")), _job(change.get("NewImage"))
        if old == new:
            continue
        if new and not change.get("OldImage"):  # a job item the table had not held: submitted
            by_queue = out.setdefault(new[0], {})
            by_queue[SUBMITTED] = by_queue.get(SUBMITTED, 0) + 1
        if new and new[1] in FINAL_STATES and not (old and old[1] in FINAL_STATES):
            by_queue = out.setdefault(new[0], {})
            by_queue[FINISHED] = by_queue.get(FINISHED, 0) + 1
        for key, sign in ((old, -1), (new, 1)):
            if key:
                by_state = out.setdefault(key[0], {})
                by_state[key[1]] = by_state.get(key[1], 0) + sign
                if key[1] in ACTIVE_STATES:
                    attr = pair_attribute(key[2], key[1])
                    by_state[attr] = by_state.get(attr, 0) + sign
    return {q: {s: n for s, n in d.items() if n} for q, d in out.items()
            if any(d.values())}


def _counter_update(table: str, queue: str, by_state: Mapping[str, int], shard: int) -> Update:
    u = Update(table, counter_id(queue, shard))
    for state, n in sorted(by_state.items()):
        u.add(state, int(n))
    return u


def apply_deltas(ddb: Any, table: str, deltas: Mapping[str, Mapping[str, int]], *,
                 shard: int | None = None) -> int:
    """Add ``deltas`` to the counter items, one plain UpdateItem per queue (on ``shard``, or
    one picked at random); returns the requests. Not idempotent: the stream consumer uses
    :func:`apply_stream_records`."""
    requests = 0
    for queue, by_state in sorted(deltas.items()):
        if by_state:
            s = random.randrange(COUNTER_SHARDS) if shard is None else shard
            ddb.update_item(**_counter_update(table, queue, by_state, s).kwargs())
            requests += 1
    return requests


def batch_mark_id(first_event: str, queue: str) -> str:
    """The mark item of a stream batch's count of ``queue``: named by the batch's first
    record (its ``eventID``), under ``COUNTER_PREFIX`` (the counters Lambda may write only
    there; a queue name has no ``~``, so no counter item is ever named so)."""
    return f"{MARK_PREFIX}{first_event}#{queue}"


def _event_id(record: Mapping[str, Any]) -> str:
    change = record.get("dynamodb") or {}
    return str(record.get("eventID") or change.get("SequenceNumber") or "")


def apply_stream_records(ddb: Any, table: str, records: Iterable[Mapping[str, Any]], *,
                         now: float | None = None) -> int:
    """A stream batch into the counters (the stream consumer's whole job), each queue's
    delta counted exactly once however often the batch is delivered; returns the requests.

    The event source delivers at least once: a batch whose call failed (a queue's write
    throttled after another's went through, or a call that timed out after writing) comes
    again, from the same first record (a stream shard's batches are retried in order, from
    its checkpoint). So each queue's delta is one TransactWriteItems of two updates: the
    queue's counter item (``ADD``) and the batch's mark item for that queue
    (:func:`batch_mark_id`, created only if absent, holding how many records it counted and
    a TTL past the stream's 24 h). A retry finds the mark and counts only the records past
    what it holds (none, for the same batch). Two write units a counted item (a transaction
    bills twice): four per queue per batch of up to 1,000 records."""
    records = list(records)
    if not records:
        return 0
    deltas = stream_deltas(records)
    return sum(_apply_queue(ddb, table, records, q, deltas[q], now)
               for q in sorted(deltas) if deltas[q])


def _apply_queue(ddb: Any, table: str, records: list[Mapping[str, Any]], queue: str,
                 by_state: Mapping[str, int], now: float | None) -> int:
    first = _event_id(records[0])
    h = int(hashlib.blake2s(first.encode(), digest_size=2).hexdigest(), 16)
    mark = Update(table, batch_mark_id(first, queue))
    mark.set("records", len(records))
    mark.set(TTL_ATTRIBUTE, int((now if now is not None else time.time()) + MARK_TTL_S))
    mark.when_missing("id")
    counter = _counter_update(table, queue, by_state, h % COUNTER_SHARDS)
    try:
        ddb.transact_write_items(TransactItems=[{"Update": mark.kwargs()},
                                                {"Update": counter.kwargs()}])
        return 1
    except Exception as err:
        if error_code(err) != "TransactionCanceledException":
            raise  # the batch fails and is retried
        got = ddb.get_item(TableName=table, Key={"id": {"S": mark.key}},
                           ConsistentRead=True).get("Item")
        if got is None:
            raise  # cancelled for another reason (a conflict): the batch is retried
    done = int(from_item(got).get("records") or 0)
    if done >= len(records):
        return 2  # this batch (or more of it) was counted before
    rest = records[done:]
    more = stream_deltas(rest).get(queue)
    return 2 + (_apply_queue(ddb, table, rest, queue, more, now) if more else 0)


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


def totals_since(ddb: Any, table: str, queues: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per attribute (``SUBMITTED``, ``FINISHED``), the jobs of each of ``queues`` it counted
    since the last call (the scaler's metrics, once a pass): the counters' totals less those
    the last call recorded in item ``TOTALS_SEEN_ID``, which this call replaces (conditional
    on it being unchanged: of two passes at once, one counts the interval and the other
    nothing). A queue's first call records its totals and counts nothing (no spike of the
    table's history)."""
    queues = sorted(set(queues))
    items = batch_get(ddb, table, [counter_id(q, s) for q in queues
                                   for s in range(COUNTER_SHARDS)], consistent=False)
    attrs = (SUBMITTED, FINISHED)
    totals = {a: {q: sum(int((items.get(counter_id(q, s)) or {}).get(a) or 0)
                         for s in range(COUNTER_SHARDS)) for q in queues} for a in attrs}
    raw = ddb.get_item(TableName=table, Key={"id": {"S": TOTALS_SEEN_ID}},
                       ConsistentRead=True).get("Item")
    seen = from_item(raw) if raw else {}
    version = int(seen.get("version") or 0)
    before = {a: dict(seen.get(a) or {}) for a in attrs}
    u = Update(table, TOTALS_SEEN_ID).set("version", version + 1)
    for a in attrs:
        u.set(a, {**before[a], **totals[a]})
    if raw is None:
        u.when_missing("id")
    else:
        u.when("version", "=", version)
    try:
        ddb.update_item(**u.kwargs())
    except Exception as err:
        if error_code(err) == "ConditionalCheckFailedException":
            return {a: {} for a in attrs}  # another pass counted this interval
        raise
    return {a: {q: since(n, int(before[a][q])) for q, n in totals[a].items()
                if q in before[a] and since(n, int(before[a][q]))} for a in attrs}


def since(total: int, before: int) -> int:
    """What a never-decreasing total counted since it was ``before``: the difference, or the
    whole total when it went down (:func:`rebuild` rewrote the counter items from zero)."""
    return total - before if total >= before else total


def backlog(ddb: Any, table: str, queue: str) -> tuple[dict[tuple[str, str], int], bool]:
    """The scaler's view of a queue: its active jobs by (definition, state) (PENDING,
    QUEUED, RUNNING), from the queue's ``COUNTER_SHARDS`` counter items (one BatchGetItem,
    whatever the backlog), and True: the count is whole (the shape of the count it replaces,
    which could stop at a budget of items read)."""
    items = batch_get(ddb, table, [counter_id(queue, s) for s in range(COUNTER_SHARDS)],
                      consistent=False)
    out: dict[tuple[str, str], int] = {}
    for item in items.values():
        for attr, n in item.items():
            definition, _, state = str(attr).rpartition("#")
            if definition and state in ACTIVE_STATES and isinstance(n, int):
                out[(definition, state)] = out.get((definition, state), 0) + n
    return {k: max(0, n) for k, n in out.items() if n}, True


def rebuild(ddb: Any, table: str, queues: Iterable[str]) -> dict[str, dict[str, int]]:
    """Counter items recomputed from the jobs themselves (one Scan of the table): for a table
    whose jobs predate its counters, or whose stream consumer lost records. Run it while no
    job changes state (a change meanwhile is counted twice or not at all); returns the
    counts written. Shard 0 of each queue gets the totals, the other shards are emptied."""
    from hyper_tui.aws.table import pages, to_item

    queues = list(queues)
    totals: dict[str, dict[str, int]] = {q: {} for q in queues}
    for resp in pages(ddb.scan, TableName=table, ConsistentRead=True,
                      ProjectionExpression="#i, #q, #s, #d, #k",
                      ExpressionAttributeNames={"#i": "id", "#q": "queue", "#s": "state",
                                                "#d": "definition", "#k": "kind"}):
        for raw in resp.get("Items") or []:
            job = _job(raw)
            if job is None or job[0] not in totals:
                continue
            per = totals[job[0]]
            per[job[1]] = per.get(job[1], 0) + 1
            if job[1] in ACTIVE_STATES:
                attr = pair_attribute(job[2], job[1])
                per[attr] = per.get(attr, 0) + 1
    for q in queues:
        for shard in range(COUNTER_SHARDS):
            ddb.put_item(TableName=table, Item=to_item(
                {"id": counter_id(q, shard), **(totals[q] if shard == 0 else {})}))
    return {q: {s: n for s, n in per.items() if s in STATES} for q, per in totals.items()}


def handler(event: Mapping[str, Any], context: Any = None, *, ddb: Any = None,
            table: str | None = None) -> dict[str, int]:
    """The stream consumer's Lambda entry point (a DynamoDB stream event source on the jobs
    table, view NEW_AND_OLD_IMAGES; ``HYPER_JOBS_TABLE`` names the table): one batch of
    records into the counters. An error fails the batch, which the event source retries."""
    import os

    if ddb is None:
        import boto3

        ddb = boto3.client("dynamodb")
    records = event.get("Records") or []
    return {"records": len(records),
            "writes": apply_stream_records(ddb, table or os.environ["HYPER_JOBS_TABLE"],
                                           records)}
