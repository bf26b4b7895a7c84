"""The counters Lambda: the jobs table's stream (old and new images) into the counter items
of ``hyper_tui.aws.counters`` (per queue, per state and per definition, ``COUNTER_SHARDS``
items a queue).

The event source takes up to ``BATCH_SIZE`` records a call, waiting up to ``WINDOW_S`` to fill
a batch: one transaction (the counter item and the batch's mark) per queue per call, so at
10,000 jobs/s (30,000 records/s) the counters take ~30 transactions a second in all (0.004
write units a job) and the Lambda ~30 calls. A failing batch is retried whole, from the same
first record, and dropped after ``RETRIES`` tries with a record of it in the on-failure queue
(a stuck record must not stop every count behind it; ``counters.rebuild`` recounts). It is
not split in two on an error (``bisect_batch_on_error``): its errors are the table's
(throttling, access), which a smaller batch does not mend, and a half starting mid-batch
would miss the batch's mark and count again what the failed call had counted.

Its role may update and read the counter and batch-mark items (``count#...``) of the table
and read the stream: not the jobs.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITable
from aws_cdk.aws_lambda_event_sources import DynamoEventSource, SqsDlq
from constructs import Construct

from hyper_tui.aws.counters import COUNTER_PREFIX
from hyper_tui.aws.infra.components.code import RUNTIME
from hyper_tui.aws.infra.nag import suppress

BATCH_SIZE = 1000
WINDOW_S = 1
RETRIES = 10


class Counters(Construct):
    def __init__(self, scope: Construct, id: str, *, host: str, table: ITable,
                 code: lambda_.Code, retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(self, "FunctionLogs", retention=retention)
        self.role = iam.Role(self, "Role",
                             assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description="hyper-tui counters: job counts from the table's stream")
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self, "Function", runtime=RUNTIME, architecture=lambda_.Architecture.ARM_64,
            code=code, handler="hyper_tui.aws.infra.components.counters.handler.handler",
            memory_size=128, timeout=Duration.seconds(60), role=self.role,
            log_group=self.log_group,
            environment={"HYPER_HOST": host, "HYPER_JOBS_TABLE": table.table_name,
                         "HYPER_MAIN_REGION": stack.region})
        self.failed = sqs.Queue(self, "FailedBatches", retention_period=Duration.days(14),
                                enforce_ssl=True, encryption=sqs.QueueEncryption.SQS_MANAGED)
        self.function.add_event_source(DynamoEventSource(
            table, starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=BATCH_SIZE, max_batching_window=Duration.seconds(WINDOW_S),
            bisect_batch_on_error=False, retry_attempts=RETRIES,
            on_failure=SqsDlq(self.failed)))
        # The counter and mark items only: UpdateItem (in a transaction) on keys starting
        # count#, and GetItem of a batch's mark when its transaction is refused.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="UpdateCounters", actions=["dynamodb:UpdateItem", "dynamodb:GetItem"],
            resources=[table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{COUNTER_PREFIX}*"]}}))
        suppress(self.role, "AwsSolutions-IAM5",
                 "dynamodb:ListStreams supports no resource ARN (the stream event source "
                 "needs it with Resource *); the stream itself is granted by its ARN.",
                 ["Resource::*"])
        suppress(self.failed, "AwsSolutions-SQS3",
                 "This queue is itself the on-failure destination of the stream event source "
                 "(records of batches given up on); nothing consumes it to redrive.")
