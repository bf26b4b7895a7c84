"""One SQS work queue per (queue, definition), each with its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hyper_tui.aws import schema


class WorkQueues(Construct):
    """``queues[(q, d)]`` and ``dead_letter[(q, d)]``: SSE, TLS only, visibility = the lease,
    redrive after schema.MAX_RECEIVES receives."""

    def __init__(self, scope: Construct, id: str, *, host: str,
                 pairs: list[tuple[str, str]]) -> None:
        super().__init__(scope, id)
        self.queues: dict[tuple[str, str], sqs.Queue] = {}
        self.dead_letter: dict[tuple[str, str], sqs.Queue] = {}
        for q, d in pairs:
            dlq = sqs.Queue(
                self, f"Dlq-{q}-{d}",
                queue_name=schema.dead_letter_queue_name(host, q, d),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),
            )
            self.dead_letter[(q, d)] = dlq
            self.queues[(q, d)] = sqs.Queue(
                self, f"Queue-{q}-{d}",
                queue_name=schema.work_queue_name(host, q, d),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=Duration.seconds(schema.LEASE_SECONDS),
                retention_period=Duration.days(14),
                receive_message_wait_time=Duration.seconds(20),
                dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=schema.MAX_RECEIVES,
                                                      queue=dlq),
            )
