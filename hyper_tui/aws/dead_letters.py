"""The dead-letter sweep: settle the jobs of work messages that no worker finished.

A work message received ``schema.MAX_RECEIVES`` times without being deleted goes to its queue's
dead-letter queue (workers crash on it, or cannot start its job). The scaler runs this sweep
every pass, and the aws client on demand (``AwsClient.sweep_dead_letters``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.outbox import close_outbox, open_outbox
from hyper_tui.aws.reconciler import lost_worker_update
from hyper_tui.aws.session import AwsSession
from hyper_tui.aws.table import Update, batch_get, is_stale, run_updates
from hyper_tui.aws.work_queues import parse_body, send_ids


@dataclass
class SweepResult:
    failed: int = 0
    requeued: int = 0
    kept: int = 0
    messages: int = 0
    failed_by_queue: dict[str, int] = field(default_factory=dict)


DEAD_LETTER_REASON = ("dead-lettered: its work message was received {n} times and no worker "
                      "finished the job (workers crash or cannot start it; see the workers' logs)")


def sweep_dead_letters(session: AwsSession, *, table: str, dlq_url: str, work_url: str,
                       default_lease: float = schema.LEASE_SECONDS, retention_days: float = 30,
                       max_batches: int = 10, now: float | None = None) -> SweepResult:
    """Settle the jobs of messages that went to a dead-letter queue after MAX_RECEIVES:

    * QUEUED (and no newer message carries it): FAILED with the reason;
    * RUNNING on a worker that stopped heartbeating: a lost worker, requeued (a new message)
      or FAILED by ``core.lifecycle.after_lost_worker`` (``reconciler.lost_worker_update``);
    * RUNNING on a live worker: the message is kept and looked at again next pass;
    * anything else is settled already. Settled messages are deleted.
    """
    sqs = session.client("sqs")
    ddb = session.client("dynamodb")
    out = SweepResult()
    for _ in range(max_batches):
        resp = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   VisibilityTimeout=60,
                                   MessageSystemAttributeNames=["SentTimestamp",
                                                                "ApproximateReceiveCount"])
        msgs = resp.get("Messages") or []
        if not msgs:
            break
        out.messages += len(msgs)
        parsed = [(m, parse_body(m.get("Body", "")) or []) for m in msgs]
        items = batch_get(ddb, table, [i for _, ids in parsed for i in ids])
        t = time.time() if now is None else now
        ops: list[dict[str, Any]] = []
        plan: list[tuple[str, dict[str, Any]]] = []
        keep: set[str] = set()
        for m, ids in parsed:
            sent = int((m.get("Attributes") or {}).get("SentTimestamp", "0")) / 1000.0
            for jid in ids:
                it = items.get(jid)
                if not it:
                    continue
                state = it.get("state")
                u = Update(table, jid, queue=str(it.get("queue") or ""))
                u.when("state", "=", state).when_attempt(it)
                if state == "QUEUED":
                    if float(it.get("queued") or it.get("submitted") or 0) > sent + 1:
                        continue  # requeued after this message was sent: a newer one carries it
                    u.set("state", "FAILED").set("ended", t)
                    u.set("reason", DEAD_LETTER_REASON.format(n=schema.MAX_RECEIVES))
                    u.set(schema.TTL_ATTRIBUTE, int(t + retention_days * 86400))
                    ops.append(u.kwargs())
                    plan.append(("failed", it))
                elif state == "RUNNING":
                    if not is_stale(it, t, default_lease):
                        keep.add(m["ReceiptHandle"])
                        continue
                    w = str(it.get("worker") or "?")
                    lost, to = lost_worker_update(
                        table, it, t, f"worker {w} was lost (its work message was dead-lettered)",
                        retention_s=retention_days * 86400)
                    plan.append(("requeued" if to == "QUEUED" else "failed", it))
                    ops.append(lost.kwargs())
        outbox = open_outbox(ddb, table, [it for kind, it in plan if kind == "requeued"],
                             retention_s=retention_days * 86400, now=t) \
            if any(kind == "requeued" for kind, _ in plan) else []
        codes = run_updates(ddb, ops)
        requeue = []
        for (kind, it), code in zip(plan, codes, strict=True):
            if code is not None:
                continue
            if kind == "failed":
                out.failed += 1
                q = str(it.get("queue") or "?")
                out.failed_by_queue[q] = out.failed_by_queue.get(q, 0) + 1
            else:
                out.requeued += 1
                requeue.append(it["id"])
        if requeue:
            send_ids(sqs, work_url, requeue, stamp=t)
        close_outbox(ddb, table, outbox)
        done = [m for m in msgs if m["ReceiptHandle"] not in keep]
        out.kept += len(msgs) - len(done)
        for i in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
                {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                for k, m in enumerate(done[i:i + 10])])
        if len(msgs) < 10:
            break
    return out
