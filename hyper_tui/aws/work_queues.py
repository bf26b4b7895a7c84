"""Work-queue messages of an aws host: their size, their body, sending ids, finding a queue.

Each (queue, definition) pair has an SQS work queue (schema.work_queue_name). A message carries
up to ``IDS_PER_MESSAGE`` job ids, ``{"ids": [...], "t": epoch seconds}`` (``t`` when it was
sent, optional); ``send_message_batch`` takes ``MESSAGES_PER_CALL`` messages, so one call sends
up to ``IDS_PER_CALL`` ids. Standard library and boto3 clients only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.session import AwsSession, aws_errors

IDS_PER_MESSAGE = schema.IDS_PER_MESSAGE
MESSAGES_PER_CALL = 10  # SQS SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch
IDS_PER_CALL = IDS_PER_MESSAGE * MESSAGES_PER_CALL


def message_body(ids: Sequence[str], stamp: float | None = None) -> str:
    """The body of one work message: ``{"ids": [...]}``, plus ``"t"`` when ``stamp`` is given."""
    body: dict[str, Any] = {"ids": list(ids)}
    if stamp:
        body["t"] = round(stamp, 3)
    return json.dumps(body, separators=(",", ":"))


def parse_body(body: str) -> list[str] | None:
    """Job ids of a work message: ``{"ids": [...]}`` (None when it is not one)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    ids = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        return None
    return ids


def send_ids(sqs: Any, url: str, ids: Sequence[str], *, per_message: int = IDS_PER_MESSAGE,
             stamp: float | None = None, tries: int = 3) -> set[str]:
    """Send job ids to a work queue, ``per_message`` ids a message and ``MESSAGES_PER_CALL``
    messages a call; return the ids that could not be sent."""
    bodies = [list(ids[i:i + per_message]) for i in range(0, len(ids), max(1, per_message))]
    failed: set[str] = set()
    for start in range(0, len(bodies), MESSAGES_PER_CALL):
        pending = {str(k): b for k, b in enumerate(bodies[start:start + MESSAGES_PER_CALL])}
        delay = 0.05
        for attempt in range(tries):
            if not pending:
                break
            if attempt:
                time.sleep(delay)
                delay *= 2
            resp = sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": k, "MessageBody": message_body(b, stamp)} for k, b in pending.items()])
            pending = {f["Id"]: pending[f["Id"]] for f in resp.get("Failed") or []
                       if f.get("Id") in pending}
        for b in pending.values():
            failed.update(b)
    return failed


def work_queue_url(session: AwsSession, host: str, queue: str, definition: str) -> str:
    name = schema.work_queue_name(host, queue, definition)
    with aws_errors(f"work queue {name}", region=session.region):
        return session.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
