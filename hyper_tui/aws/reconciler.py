"""The reconciler: no job is left RUNNING on a dead worker, nor QUEUED with no work message.

The scaler runs it every pass, after its launches, within a time budget of its own and a
bound on the items it reads. It finds two kinds of stranded job in the jobs table's sparse
``by_active`` index:

* **RUNNING on a dead worker**: the job's heartbeat is older than ``GRACE_LEASES`` of its
  lease (a worker heartbeats every third of its lease; after one lease its message is visible
  again and another worker takes the job over, so the reconciler only catches what that path
  missed: a message that was deleted, dead-lettered or never sent). It is settled by
  ``core.lifecycle.after_lost_worker``: requeued (a new message) while retries are left,
  else FAILED.
* **QUEUED with no message**: a pair whose work queue holds no message at all (visible, in
  flight or delayed) has no message for any of its QUEUED jobs; those queued more than
  ``QUEUED_GRACE_S`` ago (well past the outbox's ``STALE_S``: a writer still sending is left
  alone) get a new message.
* **QUEUED, overdue, in a busy pair**: while the work queue holds messages, the reconciler
  cannot tell a lost message from one still waiting in a backlog, so it goes by age: a job
  whose message was sent (``queued``, stamped at every send) longer ago than
  ``BUSY_RESEND_AFTER_S`` doubled per earlier resend (``resends`` on its item) gets a new
  one; never later than ``RETENTION_MARGIN_S`` before the work queue's retention
  (``MESSAGE_RETENTION_S``) drops the old one. A duplicate is harmless (a claim is
  conditional: the second message finds the job taken and is dropped) and bounded: a job
  waiting in a healthy backlog gets about log2(its wait / an hour) of them, and a pass sends
  at most ``max_resends`` (a large backlog older than the hour is resent over several
  passes, never all at once). A lost message is so found within about an hour, whatever the
  backlog.

Every write is conditional on what was read (state, attempt, and for a RUNNING job its worker
and heartbeat): a worker taking the job over through its message, a late report, a cancel or
another reconciler race on the same item, and only one of them wins, so a requeued job runs
once. A message is sent only for a write that succeeded; the outbox (``outbox.open_outbox``)
records the ids first, so a crash between the write and the send is repaired by the outbox
sweep. A throttled write is retried (``table.run_updates``); one that still fails, or a
conflict, sends nothing and is looked at again on a later pass.

Bounded: the partitions are read in a fixed order from a cursor kept in the jobs table
(item ``CURSOR_ID``), at most ``max_items`` items a pass (index items scanned plus items
fetched; a Query that finds nothing counts one) and until its deadline; the next pass resumes
where this one stopped. Standard
library and boto3 clients only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.outbox import close_outbox, open_outbox
from hyper_tui.aws.session import error_code
from hyper_tui.aws.table import Update, batch_get, from_item, run_updates, to_item
from hyper_tui.aws.work_queues import send_ids
from hyper_tui.core.lifecycle import after_lost_worker

CURSOR_ID = "meta#reconcile"  # jobs-table item: where the next pass resumes
GRACE_LEASES = 2.0            # a RUNNING job is stranded once silent this many leases
QUEUED_GRACE_S = 300.0        # a QUEUED job younger than this may still be getting its message
DEFAULT_MAX_ITEMS = 2000      # items read per pass, at most (index items + items fetched)
BUSY_RESEND_AFTER_S = 3600.0  # a busy pair's QUEUED job: a new message after this, doubled...
DEFAULT_MAX_RESENDS = 500     # ... per resend; at most this many such resends a pass
MESSAGE_RETENTION_S = 14 * 86400  # the work queues' (infra/components/work_queues)
RETENTION_MARGIN_S = 86400.0  # a new message this long before the old one may be dropped
PAGE = 200                    # index items asked for per Query page


@dataclass
class ReconcileResult:
    requeued: int = 0           # RUNNING on a dead worker -> QUEUED, with a new message
    failed: int = 0             # RUNNING on a dead worker, no retries left -> FAILED
    resent: int = 0             # QUEUED with no message -> a new message
    overdue: int = 0            # QUEUED in a busy pair, its message long sent -> a new one
    conflicts: int = 0          # the item changed since it was read: someone else acted
    not_written: int = 0        # writes that failed (throttled past the retries): next pass
    items_read: int = 0
    partitions: int = 0         # partitions read to their end this pass
    lap_done: bool = False      # the pass reached the end of the partition list
    stopped: str = ""           # "items" or "time" when the pass stopped early
    over_budget: int = 0        # overdue jobs left for a later pass (``max_resends``)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stranded:
    """A job to settle: ``kind`` ``lost`` (RUNNING on a dead worker), ``unsent`` (QUEUED in
    an empty pair) or ``overdue`` (QUEUED in a busy pair, its message long sent)."""

    kind: str
    item: dict[str, Any]


def partitions(queues: Iterable[str], unsent_queues: Iterable[str]) -> list[str]:
    """The by_active partitions a lap reads, in a fixed order: those holding the RUNNING jobs
    of ``queues``, and those holding the QUEUED jobs of ``unsent_queues`` (queues with a pair
    whose QUEUED jobs are looked at: empty or busy); a partition that holds both is read
    once."""
    names = {p for q in set(queues) for p in schema.active_partitions(q, "RUNNING")}
    names |= {p for q in set(unsent_queues) for p in schema.active_partitions(q, "QUEUED")}
    return sorted(names)


def resend_horizon(resends: int, *, after: float = BUSY_RESEND_AFTER_S,
                   retention: float = MESSAGE_RETENTION_S) -> float:
    """How long after its last message a QUEUED job of a busy pair gets a new one: ``after``
    doubled per earlier resend, at most ``RETENTION_MARGIN_S`` short of the retention."""
    cap = max(after, retention - RETENTION_MARGIN_S)
    return min(cap, after * 2.0 ** min(max(0, resends), 40))


def _filter(empty: set[tuple[str, str]], queue: str, now: float, lease_cut: float,
            queued_cut: float, busy: set[tuple[str, str]] = frozenset(),
            busy_cut: float = 0.0) -> tuple[str, dict[str, str], dict[str, Any]] | None:
    """A FilterExpression keeping only the candidates, when the index projects what it
    needs (state, started, submitted, definition); None when it does not (KEYS_ONLY): then
    every entry read is a candidate and its item decides."""
    if not {"state", "started", "submitted", "definition"} <= set(
            schema.index_attributes("by_active")):
        return None
    names = {"#s": "state", "#t": "started"}
    values: dict[str, Any] = {":run": {"S": "RUNNING"}, ":cut": {"N": repr(round(lease_cut, 3))}}
    # heartbeat >= started: a job that started within the grace is alive
    expr = "(#s = :run AND #t < :cut)"
    # a QUEUED job was submitted before its last message was sent: ``submitted`` older than
    # the cut is what the index can tell; the item's ``queued`` decides
    terms = []
    for tag, pairs, cut in (("e", empty, queued_cut), ("b", busy, busy_cut)):
        defs = sorted(d for q, d in pairs if q == queue)
        if not defs:
            continue
        values[f":{tag}cut"] = {"N": repr(round(cut, 3))}
        values.update({f":{tag}{k}": {"S": d} for k, d in enumerate(defs)})
        terms.append(f"#u < :{tag}cut AND #d IN ("
                     + ", ".join(f":{tag}{k}" for k in range(len(defs))) + ")")
    if terms:  # DynamoDB refuses redundant parentheses
        names.update({"#u": "submitted", "#d": "definition"})
        values[":q"] = {"S": "QUEUED"}
        either = terms[0] if len(terms) == 1 else "(" + " OR ".join(f"({t})" for t in terms) + ")"
        expr += f" OR (#s = :q AND {either})"
    return expr, names, values


def lost_worker_update(table: str, it: Mapping[str, Any], now: float, why: str, *,
                       retention_s: float) -> tuple[Update, str]:
    """The conditional write that settles a RUNNING job whose worker was lost (state, attempt,
    worker and heartbeat as read: whoever else settles it first makes this one fail), and the
    state it moves to (``after_lost_worker``: QUEUED while retries are left, else FAILED)."""
    attempt = int(it.get("attempt") or 0)
    w = str(it.get("worker") or "?")
    o = after_lost_worker(attempts=attempt, retries=int(it.get("retries") or 0), why=why)
    u = Update(table, str(it["id"]), queue=str(it.get("queue") or ""))
    u.when("state", "=", "RUNNING").when_attempt(it).when("worker", "=", w)
    u.when_equal_or_missing("heartbeat", it.get("heartbeat"))
    u.append("history", [{"attempt": attempt, "worker": w, "started": it.get("started"),
                          "ended": now, "exit_code": None, "outcome": "lost"}])
    u.set("state", o.state).set("reason", o.reason)
    u.remove("worker", "heartbeat")
    if o.state == "QUEUED":
        u.set("queued", now)
    else:
        u.set("ended", now).set(schema.TTL_ATTRIBUTE, int(now + retention_s))
    return u, str(o.state)


LOST_REASON = "requeued: its work message was lost (reconciler)"
OVERDUE_REASON = "queued: its work message was sent again (reconciler; the last one is {age})"


def resend_update(table: str, it: Mapping[str, Any], now: float, *,
                  reason: str = LOST_REASON) -> Update:
    """Mark a QUEUED job as sent again (``queued`` = now, one more ``resends``), conditional
    on it still being QUEUED at the attempt and queued time read."""
    u = Update(table, str(it["id"]), queue=str(it.get("queue") or ""))
    u.when("state", "=", "QUEUED").when_attempt(it)
    u.when_equal_or_missing("queued", it.get("queued"))
    u.set("queued", now).set("reason", reason).set("resends", int(it.get("resends") or 0) + 1)
    return u


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h old" if seconds >= 3600 else f"{seconds / 60:.0f} min old"


class Reconciler:
    """One reconcile pass over the jobs table (see the module's docstring)."""

    def __init__(self, ddb: Any, sqs: Any, table: str, url_of: Callable[[str, str], str], *,
                 lease: float = schema.LEASE_SECONDS, retention_s: float = 30 * 86400,
                 max_items: int = DEFAULT_MAX_ITEMS, grace_leases: float = GRACE_LEASES,
                 queued_grace: float = QUEUED_GRACE_S,
                 resend_after: float = BUSY_RESEND_AFTER_S,
                 max_resends: int = DEFAULT_MAX_RESENDS,
                 message_retention: float = MESSAGE_RETENTION_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ddb, self.sqs, self.table, self.url_of = ddb, sqs, table, url_of
        self.lease, self.retention_s = float(lease), float(retention_s)
        self.max_items, self.grace_leases = int(max_items), float(grace_leases)
        self.queued_grace, self.clock = float(queued_grace), clock
        self.resend_after, self.max_resends = float(resend_after), int(max_resends)
        self.message_retention = float(message_retention)
        self._resends_left = self.max_resends
        self._busy: set[tuple[str, str]] = set()

    # ---- the pass ------------------------------------------------------------------------

    def run(self, queues: Sequence[str], empty_pairs: Iterable[tuple[str, str]], *,
            busy_pairs: Iterable[tuple[str, str]] = (), deadline: float | None = None,
            now: float | None = None) -> ReconcileResult:
        """Read from the cursor on, settle what is stranded, save the cursor. ``queues``: the
        queues with RUNNING jobs (the scaler's count says which); ``empty_pairs``: (queue,
        definition) pairs whose work queue holds no message at all; ``busy_pairs``: pairs
        with QUEUED jobs and messages (their overdue jobs are sent again); ``deadline``: on
        ``clock``; ``now``: epoch seconds (tests)."""
        now = time.time() if now is None else now
        out = ReconcileResult()
        empty = {(q, d) for q, d in empty_pairs}
        self._busy = {(q, d) for q, d in busy_pairs} - empty
        self._resends_left = self.max_resends
        order = partitions(queues, {q for q, _ in empty | self._busy})
        if not order:
            out.lap_done = True
            return out
        i, key = self._load_cursor(order)
        visited = 0
        while True:
            part = order[i]
            key, more = self._read_partition(part, key, empty, now, deadline, out)
            if more:  # stopped inside this partition: the next pass resumes here
                self._save_cursor(part, key, now)
                break
            out.partitions += 1
            visited += 1
            i = (i + 1) % len(order)
            if i == 0:
                out.lap_done = True
            if visited == len(order) or self._out_of(deadline, out):
                self._save_cursor(order[i], None, now)
                break
        return out

    def _out_of(self, deadline: float | None, out: ReconcileResult) -> bool:
        if out.items_read + 2 > self.max_items:  # a page costs 2 at least (1 + 1 fetched)
            out.stopped = "items"
            return True
        if deadline is not None and self.clock() >= deadline:
            out.stopped = "time"
            return True
        return False

    # ---- reading -------------------------------------------------------------------------

    def _read_partition(self, part: str, key: dict[str, Any] | None, empty: set[tuple[str, str]],
                        now: float, deadline: float | None, out: ReconcileResult
                        ) -> tuple[dict[str, Any] | None, bool]:
        """Read one partition from ``key``, settling what each page finds; returns (where
        to resume, whether it stopped before the partition's end)."""
        queue = part.rsplit("#", 2)[0]
        names = {"#k": schema.ACTIVE_KEY}
        values: dict[str, Any] = {":k": {"S": part}}
        filt = _filter(empty, queue, now, now - self.grace_leases * self.lease,
                       now - self.queued_grace, self._busy, now - self.resend_after)
        extra: dict[str, Any] = {}
        if filt is not None:
            extra["FilterExpression"] = filt[0]
            names.update(filt[1])
            values.update(filt[2])
        while True:
            if self._out_of(deadline, out):
                return key, True
            kw: dict[str, Any] = {
                "TableName": self.table, "IndexName": "by_active",
                "KeyConditionExpression": "#k = :k", **extra,
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                # each index item read may cost one item fetched: half the items left
                "Limit": max(1, min(PAGE, (self.max_items - out.items_read) // 2))}
            if key:
                kw["ExclusiveStartKey"] = key
            resp = self.ddb.query(**kw)
            out.items_read += max(1, int(resp.get("ScannedCount", 0)))  # an empty page: 1
            cands = [from_item(raw) for raw in resp.get("Items") or []]
            if cands:
                out.items_read += len(cands)
                self._settle(self._check(cands, empty, now, out), now, out)
            key = resp.get("LastEvaluatedKey")
            if not key:
                return None, False

    def _check(self, cands: list[dict[str, Any]], empty: set[tuple[str, str]],
               now: float, out: ReconcileResult | None = None) -> list[Stranded]:
        """The stranded ones of the candidates, read from their items (the index has no
        heartbeat, lease nor queued time): RUNNING ones past their grace, QUEUED ones of an
        empty pair queued longer than ``queued_grace``, QUEUED ones of a busy pair whose
        message is older than their :func:`resend_horizon` (while the pass's
        ``max_resends`` last)."""
        found: list[Stranded] = []
        items = batch_get(self.ddb, self.table, [c["id"] for c in cands])
        for c in cands:
            it = items.get(c["id"])
            state = (it or {}).get("state")
            if state == "RUNNING":
                lease = float(it.get("lease") or self.lease)
                beat = float(it.get("heartbeat") or it.get("started") or 0)
                if beat + self.grace_leases * lease < now:  # silent for the grace's leases
                    found.append(Stranded("lost", it))
            elif state == "QUEUED" and (str(it.get("queue")), str(it.get("definition"))) in empty:
                since = float(it.get("queued") or it.get("submitted") or now)
                if since < now - self.queued_grace:
                    found.append(Stranded("unsent", it))
            elif state == "QUEUED" and (str(it.get("queue")),
                                        str(it.get("definition"))) in self._busy:
                since = float(it.get("queued") or it.get("submitted") or now)
                horizon = resend_horizon(int(it.get("resends") or 0), after=self.resend_after,
                                         retention=self.message_retention)
                if since >= now - horizon:
                    continue
                if self._resends_left <= 0:
                    if out is not None:
                        out.over_budget += 1
                    continue
                self._resends_left -= 1
                found.append(Stranded("overdue", it))
        return found

    # ---- settling ------------------------------------------------------------------------

    def _settle(self, found: list[Stranded], now: float, out: ReconcileResult) -> None:
        if not found:
            return
        plan: list[tuple[Stranded, str]] = []
        ops: list[dict[str, Any]] = []
        for s in found:
            it = s.item
            if s.kind == "lost":
                beat = float(it.get("heartbeat") or it.get("started") or 0)
                why = (f"worker {it.get('worker') or '?'} stopped heartbeating "
                       f"({now - beat:.0f}s ago); found by the reconciler")
                u, state = lost_worker_update(self.table, it, now, why,
                                              retention_s=self.retention_s)
            elif s.kind == "overdue":
                since = float(it.get("queued") or it.get("submitted") or now)
                u = resend_update(self.table, it, now,
                                  reason=OVERDUE_REASON.format(age=_age(now - since)))
                state = "QUEUED"
            else:
                u, state = resend_update(self.table, it, now), "QUEUED"
            ops.append(u.kwargs())
            plan.append((s, state))
        sending = [s.item for s, state in plan if state == "QUEUED"]
        try:
            boxes = open_outbox(self.ddb, self.table, sending, retention_s=self.retention_s,
                                now=now) if sending else []
        except Exception as err:  # nothing written yet: next pass
            out.errors.append(f"outbox: {_short(err)}")
            out.not_written += len(plan)
            return
        codes = _apply(self.ddb, ops)
        send: dict[tuple[str, str], list[str]] = {}
        for (s, state), code in zip(plan, codes, strict=True):
            if code == "ConditionalCheckFailed":
                out.conflicts += 1
                continue
            if code is not None:
                out.not_written += 1
                if code not in out.errors:
                    out.errors.append(code)
                continue
            if state == "QUEUED":
                key = (str(s.item.get("queue")), str(s.item.get("definition")))
                send.setdefault(key, []).append(str(s.item["id"]))
                if s.kind == "lost":
                    out.requeued += 1
                elif s.kind == "overdue":
                    out.overdue += 1
                else:
                    out.resent += 1
            else:
                out.failed += 1
        lost: set[str] = set()
        for (q, d), ids in sorted(send.items()):
            try:
                lost |= send_ids(self.sqs, self.url_of(q, d), ids, stamp=now)
            except Exception as err:
                out.errors.append(f"sending to {q}/{d}: {_short(err)}")
                lost |= set(ids)
        if lost:  # the outbox stays: its sweep sends them (or fails them) once it is stale
            out.errors.append(f"{len(lost)} job(s) written but not sent yet (left to the outbox)")
            return
        close_outbox(self.ddb, self.table, boxes)

    # ---- the cursor ----------------------------------------------------------------------

    def _load_cursor(self, order: list[str]) -> tuple[int, dict[str, Any] | None]:
        resp = self.ddb.get_item(TableName=self.table, Key={"id": {"S": CURSOR_ID}},
                                 ConsistentRead=True)
        cur = from_item(resp.get("Item") or {})
        part = str(cur.get("partition") or "")
        if not part:
            return 0, None
        i = next((k for k, p in enumerate(order) if p >= part), 0)
        key = json.loads(cur["key"]) if cur.get("key") and order[i] == part else None
        return i, key

    def _save_cursor(self, part: str, key: dict[str, Any] | None, now: float) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item({
            "id": CURSOR_ID, "partition": part, "key": json.dumps(key) if key else None,
            "updated": round(now, 3)}))


def _apply(ddb: Any, ops: list[dict[str, Any]]) -> list[str | None]:
    """``run_updates`` per op (throttles retried with backoff there), in parallel; an op that
    still fails gives its error instead of failing the others."""
    def one(op: dict[str, Any]) -> str | None:
        try:
            return run_updates(ddb, [op])[0]
        except Exception as err:
            return f"write of {op['Key']['id']['S']}: {_short(err)}"

    if len(ops) <= 1:
        return [one(op) for op in ops]
    with ThreadPoolExecutor(max_workers=min(16, len(ops))) as pool:
        return list(pool.map(one, ops))


def _short(err: BaseException) -> str:
    code = error_code(err)
    return f"{code}: {err}" if code else f"{type(err).__name__}: {err}"
