"""Control queues of an aws host: a running job learns of its cancel at once, without polling.

Each worker agent that runs jobs has a control queue of its own, an SQS queue named after it
(``schema.control_queue_name``: ``{host}-ctl-{worker}``) in the host's main region, beside the
work queues. The worker creates it before it starts its first job (SSE, TLS only, messages kept
``RETENTION_S``), long-polls it (``WAIT_S``) while it runs jobs, and deletes it when it stops.

* **notice**: whoever turns a RUNNING job CANCELLED (``qdel`` and ``cancel_matching`` through
  the aws client, ``emergency-stop``, which cancels through the client) knows from the
  cancel's own conditional write (``ReturnValues=ALL_OLD``) which worker runs it and which
  attempt; it then sends that worker one message, ``{"cancel": [[job key, attempt], ...]}``
  (up to ``NOTICES_PER_MESSAGE`` jobs, 10 messages a call). A notice that cannot be sent (the
  worker's queue is gone, throttling) is not an error: the worker's heartbeat, a conditional
  write on each job it runs, tells it of the cancel within a third of the lease (the slow
  fallback, costing no request of its own).
* **liveness**: a worker touches its queue (``SetQueueAttributes``, changing nothing) every
  ``TOUCH_EVERY_S``; the reconciler's sweep (:func:`sweep_control_queues`, each scaler pass)
  deletes queues not touched for ``STALE_AFTER_S``: those of workers that died without
  deleting theirs. It looks at ``max_checks`` queues a pass at most.

Standard library and boto3 clients only (the worker agent imports it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.session import error_code

WAIT_S = 20                # a control queue's long poll (SQS's longest)
RETENTION_S = 3600         # a notice older than this is of no use to anyone
TOUCH_EVERY_S = 600.0      # a live worker touches its control queue this often
STALE_AFTER_S = 3 * TOUCH_EVERY_S  # untouched this long: its worker is gone
NOTICES_PER_MESSAGE = 50   # (key, attempt) pairs in one notice (well under 256 KiB)
MAX_CHECKS = 20            # control queues a sweep looks at per pass
MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def notice_body(entries: Sequence[tuple[str, int]]) -> str:
    """The body of one notice: ``{"cancel": [[key, attempt], ...]}``."""
    return json.dumps({"cancel": [[k, int(a)] for k, a in entries]}, separators=(",", ":"))


def parse_notice(body: str) -> list[tuple[str, int]]:
    """The (job key, attempt) pairs of a notice; [] for anything else."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    pairs = data.get("cancel") if isinstance(data, dict) else None
    if not isinstance(pairs, list):
        return []
    return [(p[0], p[1]) for p in pairs
            if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            and isinstance(p[1], int) and not isinstance(p[1], bool)]


def queue_arn(url: str, region: str) -> str:
    """The ARN of the queue at ``url`` (``.../<account>/<name>``) in ``region``."""
    account, name = url.rstrip("/").rsplit("/", 2)[-2:]
    return f"arn:{schema.partition(region)}:sqs:{region}:{account}:{name}"


def sibling_url(url: str, name: str) -> str:
    """The URL of queue ``name`` in the account and region of the queue at ``url``."""
    return f"{url.rstrip('/').rsplit('/', 1)[0]}/{name}"


def queue_attributes(arn: str) -> dict[str, str]:
    """A control queue's attributes: SQS-managed encryption, TLS only (a policy denying
    requests without it, as ``enforce_ssl`` gives the work queues), short retention."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sqs:*",
        "Resource": arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    return {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(RETENTION_S),
            "Policy": json.dumps(policy, separators=(",", ":"))}


def create_control_queue(sqs: Any, host: str, worker_id: str, work_queue_url: str,
                         region: str) -> str:
    """Create the worker's control queue (or find it: CreateQueue with the same attributes is
    idempotent); its URL."""
    name = schema.control_queue_name(host, worker_id)
    arn = queue_arn(sibling_url(work_queue_url, name), region)
    return sqs.create_queue(QueueName=name, Attributes=queue_attributes(arn))["QueueUrl"]


def touch(sqs: Any, url: str) -> None:
    """Tell the sweep this queue's worker is alive (changes nothing but the queue's
    LastModifiedTimestamp)."""
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": str(RETENTION_S)})


def send_notices(sqs: Any, url_of_worker: Any, running: Iterable[dict[str, Any]]) -> int:
    """Tell each worker that ran one of ``running`` (items as they were before their cancel:
    ``id``, ``worker``, ``attempt``) that its job was cancelled; ``url_of_worker(worker)`` is
    its control queue's URL. Returns the jobs told. Never raises: a notice not sent is caught
    by the worker's heartbeat."""
    by_worker: dict[str, list[tuple[str, int]]] = {}
    for it in running:
        if it.get("worker") and it.get("id"):
            by_worker.setdefault(str(it["worker"]), []).append(
                (str(it["id"]), int(it.get("attempt") or 0)))
    told = 0
    for worker, entries in sorted(by_worker.items()):
        bodies = [entries[i:i + NOTICES_PER_MESSAGE]
                  for i in range(0, len(entries), NOTICES_PER_MESSAGE)]
        try:
            url = url_of_worker(worker)
            for start in range(0, len(bodies), 10):
                chunk = bodies[start:start + 10]
                resp = sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(k), "MessageBody": notice_body(b)} for k, b in enumerate(chunk)])
                failed = {int(f["Id"]) for f in resp.get("Failed") or []}
                told += sum(len(b) for k, b in enumerate(chunk) if k not in failed)
        except Exception:  # gone, not created yet, throttled: the heartbeat tells it instead
            continue
    return told


def sweep_control_queues(sqs: Any, host: str, *, now: float, max_checks: int = MAX_CHECKS,
                         stale_after: float = STALE_AFTER_S) -> dict[str, int]:
    """Delete the control queues of workers that died without deleting theirs: those not
    touched for ``stale_after`` seconds. Looks at ``max_checks`` queues at most (the ones
    after where the clock's minute points, so that successive passes go round them all).
    A queue the prefix lists that keeps messages longer than a control queue does (the work
    queues of a queue named ``ctl``: ``{host}-ctl-{definition}``) is never deleted."""
    out = {"queues": 0, "checked": 0, "deleted": 0}
    urls = sorted(sqs.list_queues(QueueNamePrefix=schema.control_queue_prefix(host),
                                  MaxResults=1000).get("QueueUrls") or [])
    out["queues"] = len(urls)
    if not urls:
        return out
    start = (int(now // 60) * max_checks) % len(urls)
    picked = (urls[start:] + urls[:start])[:max_checks]
    for url in picked:
        try:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "LastModifiedTimestamp", "CreatedTimestamp", "MessageRetentionPeriod"]
                                             ).get("Attributes") or {}
        except Exception as err:
            if error_code(err) in MISSING:
                continue  # deleted by its worker meanwhile
            raise
        out["checked"] += 1
        if attrs.get("MessageRetentionPeriod") != str(RETENTION_S):
            continue  # not a control queue
        seen = max(float(attrs.get("LastModifiedTimestamp") or 0),
                   float(attrs.get("CreatedTimestamp") or 0))
        if seen and now - seen > stale_after:
            try:
                sqs.delete_queue(QueueUrl=url)
                out["deleted"] += 1
            except Exception as err:
                if error_code(err) not in MISSING:
                    raise
    return out
