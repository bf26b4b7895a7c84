"""The jobs table's data layer (DynamoDB low-level client): the item codec, conditional
updates, batched reads and the one paginator.

* :func:`to_item`/:func:`from_item` (and :func:`to_attr`/:func:`from_attr`): plain Python
  values to DynamoDB attribute values and back; numbers come back as int or float, never
  Decimal.
* :class:`Update` builds a conditional UpdateItem without string juggling at the call sites;
  :func:`run_updates` applies many of them, one UpdateItem each, in parallel.
* :func:`batch_get`: items by id, 100 per BatchGetItem, unprocessed keys retried.
* :func:`pages`/:func:`query_items`: every page of a Query or Scan, following
  ``LastEvaluatedKey``: use them for every paged read rather than writing that loop again.
* :func:`is_stale`: a RUNNING job item whose worker stopped heartbeating past its lease.

Standard library and boto3 clients only: the worker agent's aws transport, the aws client, the
scaler and the Lambdas all use it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.session import error_code


def pages(call: Callable[..., Mapping[str, Any]], **request: Any) -> Iterator[Mapping[str, Any]]:
    """Every response of a paged DynamoDB read: ``call(**request)`` (``ddb.query`` or
    ``ddb.scan``), then again from each ``LastEvaluatedKey`` until there is none. A caller that
    has read enough stops iterating; no further page is requested."""
    request = dict(request)
    while True:
        resp = call(**request)
        yield resp
        last = resp.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def query_items(ddb: Any, **request: Any) -> Iterator[dict[str, Any]]:
    """The decoded items of every page of a Query (:func:`pages` of ``ddb.query``)."""
    for resp in pages(ddb.query, **request):
        for raw in resp.get("Items") or []:
            yield from_item(raw)


def is_stale(item: Mapping[str, Any], now: float, default_lease: float) -> bool:
    """A RUNNING job whose worker has not heartbeaten within its lease."""
    beat = float(item.get("heartbeat") or item.get("started") or 0)
    lease = float(item.get("lease") or default_lease)
    return beat + lease < now


def to_attr(v: Any) -> dict[str, Any]:
    if v is None:
        return {"NULL": True}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int):
        return {"N": str(v)}
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{v!r} cannot be stored")
        return {"N": repr(round(v, 6))}
    if isinstance(v, Decimal):
        return {"N": str(v)}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, (list, tuple)):
        return {"L": [to_attr(x) for x in v]}
    if isinstance(v, dict):
        return {"M": {str(k): to_attr(x) for k, x in v.items()}}
    raise TypeError(f"cannot store a {type(v).__name__} in DynamoDB")


def from_attr(a: Mapping[str, Any]) -> Any:
    (t, v), = a.items()
    if t == "S":
        return v
    if t == "N":
        return int(v) if v.lstrip("-").isdigit() else float(v)
    if t == "BOOL":
        return bool(v)
    if t == "NULL":
        return None
    if t == "L":
        return [from_attr(x) for x in v]
    if t == "M":
        return {k: from_attr(x) for k, x in v.items()}
    if t == "SS":
        return list(v)
    if t == "NS":
        return [int(x) if x.lstrip("-").isdigit() else float(x) for x in v]
    return v


def to_item(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in d.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_attr(v) for k, v in item.items()}


class Update:
    """A conditional UpdateItem, built without string juggling at the call sites.

    Setting ``state`` keeps the item's by_active key right: PENDING and QUEUED put the job in
    their group's partition (``schema.active_key``; so ``queue`` must be given), RUNNING
    leaves the key alone (a job only starts from QUEUED, whose group RUNNING shares: no index
    write), a final state removes the key (the job leaves the sparse index)."""

    def __init__(self, table: str, key: str, *, queue: str | None = None) -> None:
        self.table = table
        self.key = key
        self.queue = queue
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []
        self._cond: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def n(self, attr: str) -> str:
        alias = "#" + "".join(ch if ch.isalnum() else "_" for ch in attr)
        self.names[alias] = attr
        return alias

    def v(self, value: Any) -> str:
        k = f":v{len(self.values)}"
        self.values[k] = to_attr(value)
        return k

    def set(self, attr: str, value: Any) -> Update:
        self._set.append(f"{self.n(attr)} = {self.v(value)}")
        if attr == "state" and value in schema.FINAL_STATES:
            self.remove(schema.ACTIVE_KEY)  # the job leaves the sparse by_active index
        elif attr == "state" and value != "RUNNING":
            if not self.queue:
                raise ValueError(f"job {self.key}: moving it to {value} needs its queue "
                                 "(Update(..., queue=...)) for its by_active key")
            self._set.append(f"{self.n(schema.ACTIVE_KEY)} = "
                             f"{self.v(schema.active_key(self.queue, value, self.key))}")
        return self

    def append(self, attr: str, items: list[Any]) -> Update:
        a = self.n(attr)
        self._set.append(f"{a} = list_append(if_not_exists({a}, {self.v([])}), {self.v(items)})")
        return self

    def add(self, attr: str, amount: int) -> Update:
        self._add.append(f"{self.n(attr)} {self.v(amount)}")
        return self

    def remove(self, *attrs: str) -> Update:
        for a in attrs:
            if self.n(a) not in self._remove:
                self._remove.append(self.n(a))
        return self

    def when(self, attr: str, op: str, value: Any) -> Update:
        self._cond.append(f"{self.n(attr)} {op} {self.v(value)}")
        return self

    def when_missing(self, attr: str) -> Update:
        self._cond.append(f"attribute_not_exists({self.n(attr)})")
        return self

    def when_in(self, attr: str, values: Sequence[Any]) -> Update:
        self._cond.append(f"{self.n(attr)} IN ({', '.join(self.v(x) for x in values)})")
        return self

    def when_attempt(self, item: Mapping[str, Any]) -> Update:
        """The attempt seen in ``item`` (absent means 0: an item written by another tool)."""
        if "attempt" in item:
            return self.when("attempt", "=", int(item["attempt"] or 0))
        self._cond.append(f"attribute_not_exists({self.n('attempt')})")
        return self

    def when_attempt_is(self, attempt: int) -> Update:
        return self.when("attempt", "=", int(attempt))

    def when_equal_or_missing(self, attr: str, value: Any) -> Update:
        if value is None:
            self._cond.append(f"attribute_not_exists({self.n(attr)})")
            return self
        return self.when(attr, "=", value)

    def kwargs(self) -> dict[str, Any]:
        parts = []
        if self._set:
            parts.append("SET " + ", ".join(self._set))
        if self._remove:
            parts.append("REMOVE " + ", ".join(self._remove))
        if self._add:
            parts.append("ADD " + ", ".join(self._add))
        kw: dict[str, Any] = {"TableName": self.table, "Key": {"id": {"S": self.key}},
                              "UpdateExpression": " ".join(parts),
                              "ExpressionAttributeNames": dict(self.names)}
        if self.values:
            kw["ExpressionAttributeValues"] = dict(self.values)
        if self._cond:
            kw["ConditionExpression"] = " AND ".join(f"({c})" for c in self._cond)
        return kw


def run_updates(ddb: Any, ops: list[dict[str, Any]], *, tries: int = 6,
                parallel: int = 16) -> list[str | None]:
    """Apply conditional updates; per update, ``None`` when it was applied, else the reason
    (``ConditionalCheckFailed``). Each update is one conditional UpdateItem, several run in
    parallel (``parallel`` at a time): never TransactWriteItems, which bills every item twice
    and buys nothing here, since every update stands alone (its condition is its own
    guard). Throttled updates are retried with backoff, ``tries`` times."""
    def one(op: dict[str, Any]) -> str | None:
        delay = 0.02
        for attempt in range(tries):
            try:
                ddb.update_item(**op)
                return None
            except Exception as err:
                code = error_code(err)
                if code == "ConditionalCheckFailedException":
                    return "ConditionalCheckFailed"
                if code not in _THROTTLED or attempt == tries - 1:
                    raise
                time.sleep(delay)
                delay *= 2
        return "Throttled"  # pragma: no cover (the loop returns or raises)

    if len(ops) <= 1:
        return [one(op) for op in ops]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(parallel, len(ops))) as pool:
        return list(pool.map(one, ops))


_THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException",
              "RequestLimitExceeded", "TransactionConflictException")


def array_tasks(ddb: Any, table: str, array_id: str, idx: int | None = None
                ) -> list[dict[str, Any]]:
    """An array's task items (task ``idx`` only, when given), in index order, found by their
    ids (``schema.array_task_id``) over the range of indices its spec item records (``tasks``:
    ``[start, stop, step]``): no index partition per array (a hot key while it runs)."""
    if idx is not None:
        ids = [schema.array_task_id(array_id, idx)]
    else:
        spec = batch_get(ddb, table, [schema.array_spec_id(array_id)]).get(
            schema.array_spec_id(array_id)) or {}
        if not spec.get("tasks"):
            return []
        start, stop, step = (int(x) for x in spec["tasks"])
        ids = [schema.array_task_id(array_id, i) for i in range(start, stop, step)]
    found = batch_get(ddb, table, ids)
    return sorted((it for it in found.values() if it.get("state")), key=lambda it: it.get("idx", 0))


def hydrate(ddb: Any, table: str, keys: Iterable[Mapping[str, Any]], *,
            keep: Callable[[dict[str, Any]], bool] | None = None, chunk: int = 100,
            consistent: bool = False) -> Iterator[dict[str, Any]]:
    """The items named by index entries (``keys``: decoded entries with an ``id``, in the
    order wanted), read ``chunk`` at a time with BatchGetItem, in that order; those ``keep``
    rejects (or that are gone) are skipped. The indexes project keys only, so every listing
    reads its rows here: lazily, so a caller that has enough stops reading."""
    it = iter(keys)
    while True:
        ids = [k["id"] for k in itertools.islice(it, chunk)]
        if not ids:
            return
        found = batch_get(ddb, table, ids, consistent=consistent)
        for jid in ids:
            item = found.get(jid)
            if item is not None and item.get("state") and (keep is None or keep(item)):
                yield item


def batch_get(ddb: Any, table: str, ids: Iterable[str], *, consistent: bool = True,
              projection: str | None = None, names: dict[str, str] | None = None
              ) -> dict[str, dict[str, Any]]:
    """Items by id (100 per BatchGetItem; unprocessed keys retried with backoff)."""
    out: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 100):
        spec: dict[str, Any] = {"Keys": [{"id": {"S": i}} for i in unique[start:start + 100]],
                                "ConsistentRead": consistent}
        if projection:
            spec["ProjectionExpression"] = projection
            if names:
                spec["ExpressionAttributeNames"] = names
        req: dict[str, Any] = {table: spec}
        delay = 0.05
        for _ in range(10):
            resp = ddb.batch_get_item(RequestItems=req)
            for raw in (resp.get("Responses") or {}).get(table, []):
                item = from_item(raw)
                out[item["id"]] = item
            req = resp.get("UnprocessedKeys") or {}
            if not req:
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    return out
