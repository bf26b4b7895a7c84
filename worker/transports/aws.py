"""The aws transport: the worker agent's side of an aws host (SQS + DynamoDB + CloudWatch Logs).

Work arrives on the (queue, definition) SQS queue as messages of up to ``IDS_PER_MESSAGE`` job
ids (``{"ids": [...]}``); the jobs themselves are items of the host's jobs table (schema.py).

* **reserve**: long-poll the work queue (``WaitTimeSeconds``; visibility timeout = the lease)
  and read the messages' items with one BatchGetItem. A reserved job stays QUEUED: nothing is
  written, the hidden message is the reservation (it reappears if this worker dies).
* **start**: right before the job's process starts, move it from QUEUED to RUNNING with this
  worker and the next attempt number, conditionally (``state = QUEUED AND attempt = seen``):
  that re-checks it, so a job cancelled while reserved never starts, and two workers can
  never hold the same attempt. A RUNNING job whose holder stopped heartbeating past its lease
  is taken over here (a lost worker: its attempt counts, ``core.lifecycle.after_lost_worker``).
* **heartbeat**: extend the visibility of the messages this worker holds and write
  ``heartbeat`` on its running jobs (conditional on the attempt; a failed condition tells us
  the job was cancelled, or that another worker took it over and this one is lost).
* **is_cancelled**: pushed, not polled. Before its first start the worker creates its own
  control queue (``hyper_tui.aws.control``); while it runs jobs a thread long-polls it (20 s a
  request, whatever the number of jobs), and whoever cancels a RUNNING job sends the worker a
  notice there: the job learns of it at once. A heartbeat whose conditional write fails tells
  the worker too (a cancel whose notice was lost, or a take-over), within a third of the
  lease. Only while the control queue cannot be used (not allowed, gone, failing) and the
  heartbeats are further apart than ``cancel_notice``: one control read per worker (a
  BatchGetItem of its running jobs) every ``cancel_notice`` seconds, never a read per job.
* **append_log**: records are buffered and sent with PutLogEvents in batches to this worker's
  own stream (``schema.worker_log_stream_name``), each message ``<job id> TYPE | data``, once
  the oldest is ``LOG_FLUSH_S`` old (a job's output is readable within a second). A job's
  periodic METRICS records (``LAZY_LOG_KINDS``) set no such clock: they go with the next
  output, heartbeat or result, so a silent long job writes its log once a heartbeat, not
  once per metrics sample.
* **report**: one result at a time, as soon as its job ends: write the final state
  conditionally on the attempt this worker holds (a cancelled or taken-over job is never
  overwritten); jobs going back to QUEUED (retry on an exit code, interrupted by SIGTERM
  without using a retry) are sent again as new messages; a message whose jobs are all
  settled is deleted.
* **release**: reserved jobs that will not be started (the agent is stopping, or the job
  before them runs long) go back at once: a message none of whose jobs started is made
  visible again (visibility 0); the unstarted jobs of a message that also carries a started
  one are sent again, one per message, so other workers take them.

Standard library and boto3 only (plus the pure ``hyper_tui.core`` and ``schema``). The
table and message helpers are the aws host's data layer, shared with its client and scaler:
``hyper_tui.aws.table`` (item codec, conditional updates, batched reads) and
``hyper_tui.aws.work_queues`` (sending ids); the dead-letter sweep is
``hyper_tui.aws.dead_letters``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hyper_tui.agent.loop import LOG_CAP_BYTES, Claim, Result
from hyper_tui.aws import control, schema
from hyper_tui.aws.session import AwsSession, aws_errors, error_code
from hyper_tui.aws.table import Update, batch_get, from_item, is_stale, run_updates
from hyper_tui.aws.work_queues import IDS_PER_MESSAGE, parse_body, send_ids, work_queue_url
from hyper_tui.core.lifecycle import after_lost_worker, attempt_outcome, outcome_to_state

POLL_WAIT_S = 5            # long poll of an idle worker's claim
RESERVE_AT_MOST = 8        # messages a reservation takes (SQS gives 10 at most): each is a lease
HANDBACK_AFTER_S = 10.0    # a job running this long hands its message's other jobs back
CANCEL_NOTICE_S = 5.0      # a running job learns of its cancel within this (plus replication)
LOG_FLUSH_S = 1.0          # buffered log records older than this go out (logs stream)
LAZY_LOG_KINDS = ("METRICS",)  # records that wait for the next heartbeat, output or result
MAX_LOG_EVENT = 200_000    # bytes of one log event (CloudWatch allows 256 KiB)
MAX_LOG_BATCH = 1_000_000  # bytes of one PutLogEvents call (1 MiB with 26 bytes per event)
MAX_LOG_EVENTS = 10_000


# --------------------------------------------------------------------------------------------
# The transport


@dataclass(eq=False)
class _Message:
    """A work-queue message this worker received, and the job ids it still answers for."""

    url: str
    receipt: str
    ids: list[str]
    sent: float = 0.0
    receives: int = 1
    open: set[str] = field(default_factory=set)
    watch: bool = False   # carries a job another live worker runs: re-check later, never delete


class AwsTransport:
    def __init__(self, session: AwsSession, *, host: str, table: str, queue_url: str,
                 log_group: str, worker_id: str, queue: str, definition: str,
                 region: str | None = None, lease: float = schema.LEASE_SECONDS,
                 poll_wait: float = POLL_WAIT_S, retry_exit_codes: Sequence[int] = (),
                 keep_output: bool = True, def_env: Mapping[str, str] | None = None,
                 handback_after: float = HANDBACK_AFTER_S, cancel_poll: float = CANCEL_NOTICE_S,
                 retention_days: float = 30, vcpus: int = 1,
                 log_cap: int = LOG_CAP_BYTES, push: bool = True) -> None:
        self.session = session
        self.host = host
        self.table = table
        self.queue_url = queue_url
        self.log_group = log_group
        self.worker_id = worker_id
        self.queue = queue
        self.definition = definition
        self.region = region or session.region
        self.lease = float(lease)
        self.poll_wait = max(0, min(20, int(poll_wait)))
        self.retry_exit_codes = tuple(int(c) for c in retry_exit_codes)
        self.keep_output = keep_output
        self.def_env = {str(k): str(v) for k, v in (def_env or {}).items()}
        self.handback_after = handback_after
        self.cancel_notice = cancel_poll
        self.retention_s = float(retention_days) * 86400
        self.vcpus = vcpus
        self.log_cap = int(log_cap)  # bytes of output kept per job (the agent cuts the rest)
        self.stream = schema.worker_log_stream_name(worker_id)
        self.beat_every = max(0.2, self.lease / 3)

        self.ddb = session.client("dynamodb")
        self.sqs = session.client("sqs")
        self.logs = session.client("logs")

        self._ready: deque[tuple[_Message, dict[str, Any]]] = deque()  # received, not reserved
        self._reserved: dict[str, tuple[_Message, dict[str, Any]]] = {}  # job id -> its message
        self._held: dict[str, _Message] = {}                  # receipt -> message
        self._open_ids: set[str] = set()                      # ready or claimed, any message
        self._claimed: dict[str, tuple[_Message, float]] = {}  # job id -> (message, monotonic)
        self._specs: dict[str, dict[str, Any]] = {}
        self._cancelled: set[str] = set()
        self._running: dict[str, Claim] = {}  # started, not reported: what a control read reads
        self._last_control = 0.0
        self._alive = True
        self._last_beat = time.monotonic()
        self._last_wait = 0.0
        self._logbuf: list[tuple[int, str]] = []
        self._logbytes = 0
        self._log_since = 0.0
        self._stream_ready = False
        self._urls: dict[tuple[str, str], str] = {(queue, definition): queue_url}
        self._to_delete: list[_Message] = []  # settled; deleted 10 a call, before the lease ends
        self._closed = False
        # The control queue (cancel notices, pushed): created before the first start.
        self.push = push
        self._control: _ControlListener | None = None
        self._notices: set[tuple[str, int]] = set()  # (job key, attempt) told cancelled

    # ---- construction ------------------------------------------------------------------

    @classmethod
    def from_environment(cls, *, worker_id: str, queue: str | None = None,
                         definition: str | None = None, env: Mapping[str, str] | None = None,
                         session: AwsSession | None = None) -> AwsTransport:
        """In a worker container: configured by the HYPER_* variables (schema.WORKER_ENV)."""
        from hyper_tui.core.errors import UsageError

        e = dict(os.environ if env is None else env)
        queue = queue or e.get("HYPER_QUEUE")
        definition = definition or e.get("HYPER_DEFINITION")
        host = e.get("HYPER_HOST")
        main = e.get("HYPER_MAIN_REGION") or e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION")
        missing = [n for n, v in (("HYPER_HOST", host), ("HYPER_MAIN_REGION", main),
                                  ("HYPER_QUEUE", queue), ("HYPER_DEFINITION", definition)) if not v]
        if missing:
            raise UsageError(f"aws worker: {', '.join(missing)} not set",
                             fix="run it in a worker container, or use hyper-tui worker --host NAME")
        assert host and main and queue and definition
        session = session or AwsSession(main)
        url = e.get("HYPER_WORK_QUEUE_URL")
        if url and (queue != e.get("HYPER_QUEUE", queue) or definition != e.get("HYPER_DEFINITION",
                                                                                definition)):
            url = None
        if not url:
            url = work_queue_url(session, host, queue, definition)
        codes = [int(c) for c in e.get("HYPER_RETRY_EXIT_CODES", "").replace(",", " ").split()]
        try:
            def_env = json.loads(e.get("HYPER_JOB_ENV") or "{}")
        except ValueError:
            def_env = {}
        return cls(session, host=host, table=e.get("HYPER_JOBS_TABLE") or schema.jobs_table_name(host),
                   queue_url=url, log_group=e.get("HYPER_LOG_GROUP") or schema.log_group_name(host),
                   worker_id=worker_id, queue=queue, definition=definition,
                   region=e.get("HYPER_REGION") or main,
                   lease=float(e.get("HYPER_LEASE_SECONDS") or schema.LEASE_SECONDS),
                   poll_wait=float(e.get("HYPER_POLL_WAIT") or POLL_WAIT_S),
                   retry_exit_codes=codes,
                   keep_output=e.get("HYPER_ENABLE_QLOG", "true").strip().lower()
                   not in ("false", "0", "no"),
                   def_env=def_env if isinstance(def_env, dict) else {},
                   retention_days=float(e.get("HYPER_RETENTION_DAYS") or 30),
                   vcpus=int(e.get("HYPER_VCPUS") or 1),
                   log_cap=int(e.get("HYPER_LOG_CAP_BYTES") or LOG_CAP_BYTES))

    @classmethod
    def for_host(cls, cfg: Any, *, worker_id: str, queue: str, definition: str,
                 session: AwsSession | None = None, **kwargs: Any) -> AwsTransport:
        """On any machine with credentials (``hyper-tui worker --host NAME --queue Q``)."""
        host = cfg.host
        d = cfg.get("definitions", definition)
        cfg.get("queues", queue)
        session = session or AwsSession(host.main_region)
        opts: dict[str, Any] = dict(
            region=os.environ.get("HYPER_REGION") or "on-premise",
            lease=host.settings.lease_seconds, retry_exit_codes=d.retry_exit_codes,
            keep_output=d.enable_qlog, def_env=d.environment,
            retention_days=host.settings.job_retention_days, vcpus=d.vcpus,
            log_cap=host.settings.log_cap_bytes,
            poll_wait=float(os.environ.get("HYPER_POLL_WAIT") or POLL_WAIT_S))
        opts.update(kwargs)
        return cls(session, host=host.name, table=schema.jobs_table_name(host.name),
                   queue_url=work_queue_url(session, host.name, queue, definition),
                   log_group=schema.log_group_name(host.name), worker_id=worker_id,
                   queue=queue, definition=definition, **opts)

    # ---- reserve and start -------------------------------------------------------------

    def reserve(self, n: int) -> list[Claim]:
        out: list[Claim] = []
        receives = 0
        with aws_errors("worker: reserving jobs", region=self.session.region):
            while len(out) < n and self._alive:
                if not self._ready:
                    if out or receives >= 3:
                        break
                    receives += 1
                    self._flush_deletes()
                    want = n - len(out)
                    got = self._receive(1 if want <= 1 else min(RESERVE_AT_MOST, want),
                                        self.poll_wait if receives == 1 else 0)
                    if not got:
                        break
                    continue
                msg, item = self._ready.popleft()
                claim = self._to_claim(item, int(item.get("attempt") or 0) + 1, msg)
                self._reserved[claim.key] = (msg, item)
                out.append(claim)
        return out

    def start(self, claim: Claim, finished: Result | None = None) -> bool:
        if finished is not None:
            self.report(finished)
        entry = self._reserved.pop(claim.key, None)
        if entry is None:
            return False  # handed back meanwhile: another worker may run it
        self._open_control()
        try:
            with aws_errors("worker: starting a job", region=self.session.region):
                return claim.key in self._start_items([(entry[0], entry[1], claim)])
        except BaseException:  # not written (throttled past the retries): still reserved
            self._reserved[claim.key] = entry
            raise

    def release(self, claims: list[Claim]) -> None:
        with aws_errors("worker: releasing reserved jobs", region=self.session.region):
            for c in claims:
                entry = self._reserved.pop(c.key, None)
                if entry is not None:
                    self._ready.append(entry)
            self._hand_back(per_message=1)
            self._finish_settled()

    def _receive(self, max_messages: int, wait: float) -> int:
        t0 = time.monotonic()
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=int(wait), VisibilityTimeout=int(math.ceil(self.lease)),
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"])
        self._last_wait = time.monotonic() - t0 if wait else 0.0
        msgs: list[_Message] = []
        bad: list[_Message] = []
        for m in resp.get("Messages") or []:
            attrs = m.get("Attributes") or {}
            ids = parse_body(m.get("Body", ""))
            msg = _Message(url=self.queue_url, receipt=m["ReceiptHandle"], ids=ids or [],
                           sent=int(attrs.get("SentTimestamp", "0")) / 1000.0,
                           receives=int(attrs.get("ApproximateReceiveCount", "1")))
            if ids is None:
                _warn(f"deleting a work message that is not a list of job ids: {m.get('Body', '')[:80]!r}")
                bad.append(msg)
            else:
                msgs.append(msg)
        self._finish(bad)
        if not msgs:
            return len(bad)
        items = batch_get(self.ddb, self.table, [i for m in msgs for i in m.ids])
        self._load_specs(items.values())
        now = time.time()
        settled: list[_Message] = []
        for msg in msgs:
            for jid in msg.ids:
                if jid in msg.open:
                    continue  # the same id twice in one message
                if jid in self._open_ids:
                    # A redelivered copy of a message this worker holds: keep it (hidden) so
                    # that the job is looked at again should this worker die.
                    msg.watch = True
                    continue
                verdict = self._classify(items.get(jid), now)
                if verdict == "ready":
                    msg.open.add(jid)
                    self._open_ids.add(jid)
                    self._ready.append((msg, items[jid]))
                elif verdict == "watch":
                    msg.watch = True
            if msg.open:
                self._held[msg.receipt] = msg
            else:
                settled.append(msg)
        self._finish(settled)
        return len(msgs)

    def _classify(self, item: dict[str, Any] | None, now: float) -> str:
        """``ready`` (claim it), ``watch`` (another live worker runs it) or ``drop``."""
        if not item:
            return "drop"
        state = item.get("state")
        if state == "QUEUED":
            return "ready"
        if state == "RUNNING":
            if item.get("worker") != self.worker_id and is_stale(item, now, self.lease):
                return "ready"
            return "watch"  # a live worker (maybe this one) runs it: look again later
        return "drop"

    def _load_specs(self, items: Iterable[dict[str, Any]]) -> None:
        need = {it["spec"] for it in items if it.get("spec") and it["spec"] not in self._specs}
        if need:
            self._specs.update(batch_get(self.ddb, self.table, sorted(need)))
            if len(self._specs) > 2048:
                for k in list(self._specs)[:1024]:
                    del self._specs[k]

    def _start_items(self, take: list[tuple[_Message, dict[str, Any], Claim]]) -> set[str]:
        """Move reserved jobs to RUNNING (conditional writes); the keys that started."""
        now = time.time()
        ops: list[dict[str, Any]] = []
        plan: list[tuple[str, _Message, Claim, str]] = []
        for msg, item, claim in take:
            jid = item["id"]
            attempt = int(item.get("attempt") or 0)
            u = Update(self.table, jid, queue=str(item.get("queue") or self.queue))
            if item.get("state") == "QUEUED":
                u.when("state", "=", "QUEUED")
                u.when_attempt(item)
                self._claim_fields(u, attempt + 1, now)
                plan.append(("claim", msg, claim, ""))
            else:  # RUNNING on a worker that stopped heartbeating: a lost worker
                old = str(item.get("worker") or "?")
                lease = float(item.get("lease") or self.lease)
                why = f"worker {old} missed its heartbeat for {lease:g}s"
                o = after_lost_worker(attempts=attempt, retries=int(item.get("retries") or 0),
                                      why=why)
                u.when("state", "=", "RUNNING")
                u.when_attempt(item)
                u.when("worker", "=", old)
                u.when_equal_or_missing("heartbeat", item.get("heartbeat"))
                u.append("history", [{"attempt": attempt, "worker": old, "started": item.get("started"),
                                      "ended": now, "exit_code": None, "outcome": "lost"}])
                if o.state == "QUEUED":
                    self._claim_fields(u, attempt + 1, now)
                    plan.append(("claim", msg, claim, o.reason or why))
                else:
                    u.set("state", "FAILED").set("reason", o.reason).set("ended", now)
                    u.set(schema.TTL_ATTRIBUTE, int(now + self.retention_s))
                    u.remove("heartbeat")
                    plan.append(("fail", msg, claim, o.reason or why))
            ops.append(u.kwargs())
        codes = run_updates(self.ddb, ops)
        started: set[str] = set()
        mono = time.monotonic()
        for (kind, msg, claim, note), code in zip(plan, codes, strict=True):
            jid = claim.key
            if code is None and kind == "claim":
                self._claimed[jid] = (msg, mono)
                if note:
                    self.append_log(claim, [(now, "SYSTEM", f"attempt {claim.attempt - 1} lost: {note}")])
                started.add(jid)
                self._running[jid] = claim
                if self._control is not None:
                    self._control.wake()
                continue
            if code is None and kind == "fail":
                self._log_line(jid, now, "SYSTEM", note)
            elif code is not None:
                msg.watch = True  # not written: never delete its message, look again later
            self._settle(msg, jid)
        self._finish_settled()
        return started

    def _claim_fields(self, u: Update, attempt: int, now: float) -> None:
        u.set("state", "RUNNING").set("attempt", attempt).set("worker", self.worker_id)
        u.set("started", now).set("heartbeat", now).set("lease", self.lease)
        u.set("wregion", self.region)
        u.remove("reason", "ended", "exit_code")

    def _to_claim(self, item: dict[str, Any], attempt: int, msg: _Message) -> Claim:
        spec = self._specs.get(item.get("spec") or "") or item
        env = dict(self.def_env)
        env.update({str(k): str(v) for k, v in (spec.get("env") or item.get("env") or {}).items()})
        aid, idx = item.get("array_id"), item.get("idx")
        codes = item.get("retry_exit_codes")
        timeout = item.get("timeout")
        return Claim(
            job_id=f"{aid}[{idx}]" if aid is not None and idx is not None else item["id"],
            key=item["id"], attempt=attempt, queue=item.get("queue") or self.queue,
            definition=item.get("definition") or self.definition, name=item.get("name") or "job",
            command=spec.get("command"), argv=spec.get("argv"), env=env, cwd=spec.get("cwd"),
            timeout=float(timeout) if timeout else None,
            array_index=int(idx) if aid is not None and idx is not None else None,
            params=item.get("params") or None, retries=int(item.get("retries") or 0),
            retry_exit_codes=tuple(int(c) for c in codes) if codes else self.retry_exit_codes,
            keep_output=self.keep_output, receipt=msg)

    # ---- report ------------------------------------------------------------------------

    def report(self, result: Result) -> None:
        results = [result]
        with aws_errors("worker: reporting results", region=self.session.region):
            self._send_logs()  # a job's output is in CloudWatch before its final state
            now = time.time()
            ops: list[dict[str, Any]] = []
            plan: list[tuple[Claim, str | None]] = []
            for r in results:
                c = r.claim
                tr = outcome_to_state(r.outcome, exit_code=r.exit_code, detail=r.detail,
                                      attempt=c.attempt, retries=c.retries,
                                      retry_exit_codes=c.retry_exit_codes)
                state, reason = tr.state, tr.reason
                u = Update(self.table, c.key, queue=c.queue)
                u.append("history", [{
                    "attempt": c.attempt, "worker": self.worker_id, "started": r.started,
                    "ended": r.ended, "exit_code": r.exit_code,
                    "outcome": attempt_outcome(r.outcome, r.exit_code)}])
                u.when_attempt_is(c.attempt)
                u.when("worker", "=", self.worker_id)
                if state is None:  # cancelled: the client set CANCELLED; record the attempt
                    u.when("state", "=", "CANCELLED")
                else:
                    u.when("state", "=", "RUNNING")
                    u.set("state", state)
                    if r.exit_code is not None:
                        u.set("exit_code", r.exit_code)
                    if tr.requeue:
                        u.set("reason", reason or "requeued").set("queued", now)
                        if tr.refund:
                            u.add("retries", tr.refund)
                        u.remove("worker", "heartbeat", "ended")
                    else:
                        u.set("ended", r.ended).set(schema.TTL_ATTRIBUTE, int(now + self.retention_s))
                        u.remove("heartbeat")
                        if reason:
                            u.set("reason", reason)
                        else:
                            u.remove("reason")
                ops.append(u.kwargs())
                plan.append((c, state))
            codes = run_updates(self.ddb, ops)
            requeue: dict[str, list[str]] = {}
            for (c, state), code in zip(plan, codes, strict=True):
                if code is None and state == "QUEUED":
                    requeue.setdefault(self._url_for(c.queue, c.definition), []).append(c.key)
                elif code is not None and state is not None:
                    _warn(f"job {c.job_id}: result of attempt {c.attempt} not recorded ({code}): "
                          "it was cancelled or another worker took it over")
            for url, ids in requeue.items():
                lost = send_ids(self.sqs, url, ids, per_message=IDS_PER_MESSAGE, stamp=now)
                for jid in lost:
                    _warn(f"job {jid} was requeued but could not be sent to the work queue")
            for (c, _), code in zip(plan, codes, strict=True):
                self._claimed.pop(c.key, None)
                self._running.pop(c.key, None)
                self._cancelled.discard(c.key)
                self._notices.discard((c.key, c.attempt))
                if isinstance(c.receipt, _Message):
                    if code is not None:
                        c.receipt.watch = True  # not written: its message is kept, not deleted
                    self._settle(c.receipt, c.key)
            if self._ready and any(r.ended - r.started >= self.handback_after for r in results):
                self._hand_back(per_message=1)
            self._finish_settled()

    def _url_for(self, queue: str, definition: str) -> str:
        key = (queue, definition)
        if key not in self._urls:
            self._urls[key] = work_queue_url(self.session, self.host, queue, definition)
        return self._urls[key]

    # ---- liveness ----------------------------------------------------------------------

    def heartbeat(self, running: list[Claim]) -> bool:
        now_m = time.monotonic()
        if now_m - self._last_beat < self.beat_every:
            if self._log_since and now_m - self._log_since >= LOG_FLUSH_S:
                self._safe_flush()
            return self._alive
        self._last_beat = now_m
        try:
            self._flush_deletes()
            self._extend(list(self._held.values()))
            now = time.time()
            for c in running:
                u = Update(self.table, c.key).set("heartbeat", now)
                u.when("state", "=", "RUNNING").when("worker", "=", self.worker_id)
                u.when_attempt_is(c.attempt)
                try:
                    self.ddb.update_item(**u.kwargs(), ReturnValuesOnConditionCheckFailure="ALL_OLD")
                except Exception as err:
                    if error_code(err) != "ConditionalCheckFailedException":
                        raise
                    old = from_item(getattr(err, "response", {}).get("Item") or {})
                    if old and old.get("state") == "RUNNING" and old.get("worker") != self.worker_id:
                        self._alive = False  # another worker took the job over: we were lost
                    self._cancelled.add(c.key)
            if running and self._ready and any(
                    now_m - self._claimed.get(c.key, (None, now_m))[1] >= self.handback_after
                    for c in running):
                self._hand_back(per_message=1)
                self._finish_settled()
        except Exception as err:  # a heartbeat must not kill the job; the lease covers a blip
            _warn(f"heartbeat failed: {_short(err)}")
        if self._control is not None:
            self._control.maybe_touch()
        self._safe_flush()
        return self._alive

    def _extend(self, msgs: list[_Message]) -> None:
        by_url: dict[str, list[_Message]] = {}
        for m in msgs:
            by_url.setdefault(m.url, []).append(m)
        for url, group in by_url.items():
            for i in range(0, len(group), 10):
                chunk = group[i:i + 10]
                resp = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                    {"Id": str(k), "ReceiptHandle": m.receipt,
                     "VisibilityTimeout": int(math.ceil(self.lease))}
                    for k, m in enumerate(chunk)])
                for f in resp.get("Failed") or []:
                    _warn(f"could not extend a work message's lease: {f.get('Code')}")

    def is_cancelled(self, claim: Claim) -> bool:
        """Whether the job was cancelled (or taken over): learnt from a notice on this
        worker's control queue (at once) or from the heartbeat's conditional write failing;
        when the control queue cannot be used and heartbeats are further apart than
        ``cancel_notice``, from one control read per worker (a BatchGetItem of every job it
        runs, eventually consistent) at most every ``cancel_notice`` seconds since the last
        heartbeat or read: never a read per job."""
        now = time.monotonic()
        if now - self._last_beat >= self.beat_every:
            # The agent polls this every quarter second while a job runs: keep the lease
            # alive from here too, whatever heartbeat interval the agent was given: every job
            # this worker runs, so that each learns of its cancel from this heartbeat.
            self.heartbeat(list({claim.key: claim, **self._running}.values()))
        if claim.key in self._cancelled or (claim.key, claim.attempt) in self._notices:
            return True
        if self.beat_every <= self.cancel_notice:
            return False  # the heartbeat's conditional write tells, often enough
        if self._control is not None and self._control.healthy:
            return False  # a cancel is pushed to the control queue; the heartbeat backs it up
        if now - max(self._last_beat, self._last_control) < self.cancel_notice:
            return False
        self._last_control = now
        self._control_read()
        return claim.key in self._cancelled

    def _open_control(self) -> None:
        """Create this worker's control queue and start listening to it, once; a worker that
        may not create it (a host deployed before control queues) keeps its control reads."""
        if not self.push or self._control is not None:
            return
        try:
            url = control.create_control_queue(self.sqs, self.host, self.worker_id,
                                               self.queue_url, self.session.region)
        except Exception as err:
            self.push = False
            _warn(f"no control queue ({_short(err)}): cancels are learnt by polling")
            return
        self._control = _ControlListener(self.session.client("sqs"), url, self._notice,
                                         lambda: bool(self._running))
        self._control.start()

    def _notice(self, entries: list[tuple[str, int]]) -> None:
        """Called by the listener's thread: these attempts were cancelled."""
        if len(self._notices) > 4096:  # notices of jobs that had ended when they came
            self._notices.clear()
        self._notices.update(entries)

    def _control_read(self) -> None:
        """One read of every job this worker runs: those no longer RUNNING by this worker's
        attempt are marked cancelled."""
        running = {c.key: c.attempt for c in self._running.values()}
        if not running:
            return
        try:
            items = batch_get(self.ddb, self.table, running, consistent=False,
                              projection="#i, #s, #w, #a",
                              names={"#i": "id", "#s": "state", "#w": "worker", "#a": "attempt"})
        except Exception as err:  # a network blip must not kill a job
            _warn(f"could not check running jobs for cancellation: {_short(err)}")
            return
        for key, attempt in running.items():
            item = items.get(key) or {}
            if (item.get("state") != "RUNNING" or item.get("worker") != self.worker_id
                    or int(item.get("attempt") or -1) != attempt):
                self._cancelled.add(key)

    def job_started(self, claim: Claim, pgid: int) -> None:
        """Nothing to record: a lost worker's jobs end with its container or machine."""

    def wait_for_work(self, timeout: float) -> None:
        if self._last_wait < 1.0:  # claim did not long-poll (poll_wait 0): wait here
            time.sleep(timeout)

    # ---- logs --------------------------------------------------------------------------

    def append_log(self, claim: Claim, records: list[tuple[float, str, str]]) -> None:
        for ts, kind, data in records:
            self._log_line(claim.key, ts, kind, data)
        if len(self._logbuf) >= 5000 or self._logbytes >= 800_000:
            self._safe_flush()

    def _log_line(self, key: str, ts: float, kind: str, data: str) -> None:
        msg = f"{key} {kind} | {data}"
        size = len(msg.encode("utf-8", errors="replace"))
        if size > MAX_LOG_EVENT:
            msg = msg.encode("utf-8", errors="replace")[:MAX_LOG_EVENT].decode("utf-8", "ignore")
            msg += " [truncated]"
            size = len(msg.encode())
        self._logbuf.append((int(ts * 1000), msg))
        self._logbytes += size + 26
        if not self._log_since and kind not in LAZY_LOG_KINDS:
            self._log_since = time.monotonic()

    def _safe_flush(self) -> None:
        try:
            self._send_logs()
        except Exception as err:  # logs are best effort; the job's state is what matters
            _warn(f"could not send job logs: {_short(err)}")

    def flush_logs(self) -> None:
        """A running job's records: sent once the oldest (METRICS aside) is ``LOG_FLUSH_S``
        old (one PutLogEvents a second at most, however often the agent asks)."""
        if self._log_since and time.monotonic() - self._log_since >= LOG_FLUSH_S:
            self._safe_flush()

    def _send_logs(self) -> None:
        if not self._logbuf:
            return
        events = sorted(self._logbuf, key=lambda e: e[0])
        self._logbuf, self._logbytes, self._log_since = [], 0, 0.0
        if not self._stream_ready:
            self._create_stream()
        for batch in _log_batches(events):
            payload = [{"timestamp": t, "message": m} for t, m in batch]
            try:
                resp = self.logs.put_log_events(logGroupName=self.log_group,
                                                logStreamName=self.stream, logEvents=payload)
            except Exception as err:
                if error_code(err) != "ResourceNotFoundException":
                    raise
                self._create_stream()
                resp = self.logs.put_log_events(logGroupName=self.log_group,
                                                logStreamName=self.stream, logEvents=payload)
            rejected = resp.get("rejectedLogEventsInfo")
            if rejected:
                _warn(f"CloudWatch Logs rejected some records: {rejected}")

    def _create_stream(self) -> None:
        try:
            self.logs.create_log_stream(logGroupName=self.log_group, logStreamName=self.stream)
        except Exception as err:
            if error_code(err) != "ResourceAlreadyExistsException":
                raise
        self._stream_ready = True

    # ---- messages ----------------------------------------------------------------------

    def _settle(self, msg: _Message, jid: str) -> None:
        msg.open.discard(jid)
        self._open_ids.discard(jid)

    def _hand_back(self, *, per_message: int) -> None:
        """Give back the jobs this worker received but has not started: a message none of
        whose jobs is started or reserved becomes visible again at once; the others' unstarted
        jobs are sent again, ``per_message`` ids a message."""
        items = list(self._ready)
        self._ready.clear()
        back = {item["id"] for _, item in items}
        whole = [m for m in {id(m): m for m, _ in items}.values() if m.open <= back]
        for m in whole:
            self._held.pop(m.receipt, None)
        failed = self._batch_op(whole, "release")
        by_url: dict[str, list[str]] = {}
        for msg, item in items:
            if msg in whole and msg not in failed:
                continue
            by_url.setdefault(msg.url, []).append(item["id"])
        for url, ids in by_url.items():
            failed_ids = send_ids(self.sqs, url, ids, per_message=per_message, stamp=time.time())
            for msg, item in items:
                if item["id"] in failed_ids:
                    self._ready.append((msg, item))
        for msg, item in items:
            if (msg, item) not in self._ready:
                self._settle(msg, item["id"])

    def _finish_settled(self) -> None:
        done = [m for m in self._held.values() if not m.open]
        for m in done:
            del self._held[m.receipt]
        self._finish(done)

    def _finish(self, msgs: list[_Message]) -> None:
        """Delete settled messages; re-hide for a lease those that carry another live
        worker's job (someone re-checks them later)."""
        self._to_delete.extend(m for m in msgs if not m.watch)
        if len(self._to_delete) >= 10:
            self._flush_deletes()
        self._batch_op([m for m in msgs if m.watch], "hide")

    def _flush_deletes(self) -> None:
        if self._to_delete:
            gone, self._to_delete = self._to_delete, []
            self._batch_op(gone, "delete")

    def _batch_op(self, msgs: list[_Message], op: str) -> list[_Message]:
        """Delete, hide for a lease, or release (visible again now) messages: 10 a call per
        queue. Returns the messages the call failed for."""
        failed: list[_Message] = []
        by_url: dict[str, list[_Message]] = {}
        for m in msgs:
            by_url.setdefault(m.url, []).append(m)
        for url, ms in by_url.items():
            for i in range(0, len(ms), 10):
                chunk = ms[i:i + 10]
                try:
                    if op == "delete":
                        resp = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                            {"Id": str(k), "ReceiptHandle": m.receipt}
                            for k, m in enumerate(chunk)])
                    else:
                        seconds = 0 if op == "release" else int(math.ceil(self.lease))
                        resp = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                            {"Id": str(k), "ReceiptHandle": m.receipt, "VisibilityTimeout": seconds}
                            for k, m in enumerate(chunk)])
                    failed += [chunk[int(f["Id"])] for f in resp.get("Failed") or []]
                except Exception as err:  # the message comes back and is settled again
                    _warn(f"could not {op} work messages: {_short(err)}")
                    failed += chunk
        return failed

    # ---- end ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._ready.extend(self._reserved.values())  # reserved, never started
            self._reserved.clear()
            if self._ready:
                self._hand_back(per_message=IDS_PER_MESSAGE)
            self._finish_settled()
            self._flush_deletes()
        except Exception as err:
            _warn(f"could not hand unstarted jobs back (they return after the lease): {_short(err)}")
        self._safe_flush()
        if self._control is not None:
            self._control.stop()


class _ControlListener:
    """The thread that long-polls a worker's control queue while it runs jobs (one request
    per ``control.WAIT_S``, returned at once by a notice), hands the notices to ``on_notice``
    and deletes them. ``healthy``: its last receive worked (else the transport polls). A
    queue found gone (swept while this worker was stopped for long) is not made again: the
    worker polls from then on."""

    def __init__(self, sqs: Any, url: str, on_notice: Any, busy: Any) -> None:
        self.sqs, self.url = sqs, url
        self.on_notice, self.busy = on_notice, busy
        self.healthy = True
        self._stopped = False
        self._wake = threading.Event()
        self._touched = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="control-queue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def maybe_touch(self) -> None:
        if time.monotonic() - self._touched < control.TOUCH_EVERY_S:
            return
        self._touched = time.monotonic()
        try:
            control.touch(self.sqs, self.url)
        except Exception as err:
            _warn(f"could not touch the control queue: {_short(err)}")

    def stop(self) -> None:
        """Delete the queue (a long poll in flight ends with it) and let the thread go."""
        self._stopped = True
        self._wake.set()
        try:
            self.sqs.delete_queue(QueueUrl=self.url)
        except Exception as err:
            if error_code(err) not in control.MISSING:
                _warn(f"could not delete the control queue (the sweep will): {_short(err)}")
        # Not joined: a long poll in flight may take its 20 s; the thread then sees the stop.

    def _run(self) -> None:
        delay = 0.5
        while not self._stopped:
            if not self.busy():
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                resp = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=control.WAIT_S)
            except Exception as err:
                if self._stopped:
                    return
                self.healthy = False
                _warn(f"control queue: {_short(err)}; cancels are learnt by polling meanwhile")
                if error_code(err) in control.MISSING:
                    return
                time.sleep(delay)
                delay = min(control.WAIT_S, delay * 2)
                continue
            self.healthy, delay = True, 0.5
            msgs = resp.get("Messages") or []
            for m in msgs:
                self.on_notice(control.parse_notice(m.get("Body", "")))
            if msgs:
                try:
                    self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                        {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                        for k, m in enumerate(msgs)])
                except Exception as err:  # seen again after the visibility timeout: harmless
                    _warn(f"could not delete control notices: {_short(err)}")


# --------------------------------------------------------------------------------------------
# Leases


def _log_batches(events: list[tuple[int, str]]) -> Iterable[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    size = 0
    for t, m in events:
        s = len(m.encode("utf-8", errors="replace")) + 26
        if batch and (len(batch) >= MAX_LOG_EVENTS or size + s > MAX_LOG_BATCH
                      or t - batch[0][0] >= 23 * 3600 * 1000):
            yield batch
            batch, size = [], 0
        batch.append((t, m))
        size += s
    if batch:
        yield batch


def _warn(text: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} aws worker: {text}\n")
    sys.stderr.flush()


def _short(err: BaseException) -> str:
    code = error_code(err)
    return f"{code}: {err}" if code else f"{type(err).__name__}: {err}"

