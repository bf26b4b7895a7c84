"""The scaler: a Lambda run every minute by EventBridge that starts AWS Batch workers.

Its code is ``handler.py`` beside this file, which runs a pass of ``hyper_tui.aws.scaler``
(shared with the rest of the package); its config is ``hyper_tui.aws.scaler_config.ScalerConfig``
as JSON in the file ``scaler_config.CONFIG_FILE`` of its own code asset (the project code plus
that file), named by ``HYPER_SCALER_CONFIG_FILE``: no environment-size limit.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITable
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra.components.code import RUNTIME, code_with
from hyper_tui.aws.infra.nag import INDEX_ARNS, suppress
from hyper_tui.aws.scaler_config import CONFIG_FILE, CONFIG_FILE_ENV


class Scaler(Construct):
    def __init__(self, scope: Construct, id: str, *, host: str, table: ITable,
                 work_queues: dict[tuple[str, str], sqs.IQueue],
                 dead_letter: dict[tuple[str, str], sqs.IQueue], job_logs: logs.ILogGroup,
                 config_json: str, regions: list[str], job_queues: list[str],
                 job_definitions: list[str], retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(self, "FunctionLogs", retention=retention)
        self.role = iam.Role(self, "Role",
                             assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description="hyper-tui scaler: starts Batch workers for the backlog")
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self, "Function",
            runtime=RUNTIME, architecture=lambda_.Architecture.ARM_64,
            code=code_with({CONFIG_FILE: config_json}), handler="hyper_tui.aws.infra.components.scaler.handler.handler",
            # A pass ends before the next one starts (55 s < 1 minute). No reserved
            # concurrency: new accounts (limit 10) cannot reserve any.
            memory_size=512, timeout=Duration.seconds(55), role=self.role,
            log_group=self.log_group,
            environment={"HYPER_HOST": host, "HYPER_JOBS_TABLE": table.table_name,
                         "HYPER_MAIN_REGION": stack.region,
                         "HYPER_LOG_GROUP": schema.log_group_name(host),
                         CONFIG_FILE_ENV: CONFIG_FILE},
        )
        self.rule = events.Rule(
            self, "EveryMinute", schedule=events.Schedule.rate(Duration.minutes(1)),
            description="hyper-tui scaler pass",
            targets=[targets.LambdaFunction(self.function, retry_attempts=0,
                                            max_event_age=Duration.minutes(1))])

        # Jobs: backlog counts, lost-worker requeues, state changes; the reconciler's Query
        # of the by_active index, conditional UpdateItem, outbox and cursor items (the index
        # ARNs are part of this grant). Its new messages use the Requeue statement below.
        table.grant_read_write_data(self.role)
        # One statement per use, listing every queue (not one statement per queue), so that
        # 100 pairs stay within a role's policy size.
        if work_queues:
            self.role.add_to_policy(iam.PolicyStatement(  # requeue the jobs of lost workers
                sid="Requeue", actions=["sqs:SendMessage", "sqs:GetQueueAttributes",
                                        "sqs:GetQueueUrl"],
                resources=[q.queue_arn for _, q in sorted(work_queues.items())]))
            self.role.add_to_policy(iam.PolicyStatement(  # settle dead-lettered messages
                sid="SettleDeadLetters",
                actions=["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
                         "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                resources=[q.queue_arn for _, q in sorted(dead_letter.items())]))
        job_logs.grant_write(self.role)  # SYSTEM events (worker lost, requeued)
        # Control queues (hyper_tui.aws.control): cancel notices to workers, and the sweep
        # of dead workers' queues (ListQueues has no resource ARN).
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ControlQueues", actions=["sqs:SendMessage", "sqs:GetQueueUrl",
                                          "sqs:GetQueueAttributes", "sqs:DeleteQueue"],
            resources=[f"arn:{Aws.PARTITION}:sqs:{stack.region}:{stack.account}:"
                       f"{schema.control_queue_prefix(host)}*"]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ListControlQueues", actions=["sqs:ListQueues"], resources=["*"]))
        def arn(region: str, kind: str, name: str) -> str:
            return f"arn:{Aws.PARTITION}:batch:{region}:{stack.account}:{kind}/{name}"

        self.role.add_to_policy(iam.PolicyStatement(
            sid="SubmitWorkers", actions=["batch:SubmitJob", "batch:TagResource"],
            resources=[arn(r, "job-queue", q) for r in regions for q in job_queues]
                      + [arn(r, "job-definition", name) for r in regions for d in job_definitions
                         for name in (d, f"{d}:*")]))
        # SubmitJob with tags is tag-on-create: Batch authorizes batch:TagResource on the new
        # job's ARN (job/<id>, unknown beforehand), limited here to the host's regions.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="TagWorkersOnCreate", actions=["batch:TagResource"],
            resources=[arn(r, "job", "*") for r in regions]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="CountWorkers", actions=["batch:ListJobs", "batch:DescribeJobs",
                                         "batch:DescribeJobQueues",
                                         "batch:DescribeComputeEnvironments"],
            resources=["*"]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="Metrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": schema.metrics_namespace(host)}}))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="AutoWeights", actions=["ec2:GetSpotPlacementScores"], resources=["*"]))

        suppress(self.role, "AwsSolutions-IAM5",
                 "Batch ListJobs/Describe*, CloudWatch PutMetricData (limited to the host's "
                 "namespace by condition), SQS ListQueues (the control-queue sweep, by name "
                 "prefix) and EC2 GetSpotPlacementScores support no resource "
                 "ARNs, so they need Resource *.", ["Resource::*"])
        suppress(self.role, "AwsSolutions-IAM5",
                 "Job definition ARNs end in :<revision>; <name>:* covers every revision of "
                 "this host's own definitions only. Index ARNs are needed to query the jobs table's "
                 "GSIs; log-stream ARNs are per worker (one stream per worker id), and so are "
                 "control queues (<host>-ctl-*, one per worker id).",
                 [r"re:job-definition/", INDEX_ARNS, r"re:log-group:.*:\*$", r"re:.*-ctl-\*$"])
        suppress(self.role, "AwsSolutions-IAM5",
                 "Tag-on-create of the Batch jobs the scaler submits: a job's ARN (job/<id>) "
                 "exists only once it is submitted, so batch:TagResource needs job/* (of the "
                 "host's regions and account only).", [r"re:batch:.*:job/\*$"])
