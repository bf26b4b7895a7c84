"""Scoped IAM policies for the principals outside the stacks, as managed policies of the control
stack whose ARNs are stack outputs (attach them to users, groups or roles):

* ``Submitters``: what ``qsub``/``qstat``/``qdel``/``qlog`` of the aws host client call, directly
  (jobs table items, work queues, job logs, metrics) or through the submit API.
* ``ReadOnly``: what ``qstat``/``qlog`` and the dashboard read, and nothing that writes: no job
  item write, no work-queue message, no ``POST`` to the submit API.
* ``OnPremWorkers``: what a worker agent outside AWS (``hyper-tui worker`` with the aws transport)
  calls: the same statements as a Batch worker agent's role (:func:`worker_statements`).

Every resource is this host's, named by schema.py in the main region.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra.nag import suppress

ITEM_READS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
ITEM_WRITES = ["dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem",
               "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
LOG_READS = ["logs:FilterLogEvents", "logs:GetLogEvents"]


def host_arn(host_region: str, service: str, resource: str) -> str:
    """An ARN of the host's main region in this stack's account and partition."""
    return f"arn:{Aws.PARTITION}:{service}:{host_region}:{Aws.ACCOUNT_ID}:{resource}"


def table_arns(host: str, region: str) -> list[str]:
    table = host_arn(region, "dynamodb", f"table/{schema.jobs_table_name(host)}")
    return [table] + [f"{table}/index/{i}" for i, *_ in schema.INDEXES]


def control_queues_arn(host: str, region: str) -> str:
    """Every control queue of the host (hyper_tui.aws.control): ``{host}-ctl-*``."""
    return host_arn(region, "sqs", f"{schema.control_queue_prefix(host)}*")


CONTROL_QUEUE_WORKER = ["sqs:CreateQueue", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                        "sqs:DeleteQueue", "sqs:SetQueueAttributes"]
CONTROL_QUEUE_NOTIFY = ["sqs:SendMessage", "sqs:GetQueueUrl"]


def worker_statements(host: str, region: str, work_queue_arns: list[str]
                      ) -> list[iam.PolicyStatement]:
    """A worker agent's: its work queues, its control queue (created, read, touched and
    deleted by itself: ``{host}-ctl-*`` only), jobs-table items (not Scan, not DeleteItem),
    its log streams in the job log group. (No metrics: the scaler publishes them from the
    counters.)"""
    logs = host_arn(region, "logs", f"log-group:{schema.log_group_name(host)}")
    queues = [iam.PolicyStatement(
        sid="WorkQueues",
        actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                 "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
        resources=work_queue_arns)] if work_queue_arns else []  # a host with no pair yet
    return queues + [
        iam.PolicyStatement(sid="ControlQueue", actions=CONTROL_QUEUE_WORKER,
                            resources=[control_queues_arn(host, region)]),
        iam.PolicyStatement(
            sid="JobItems",
            actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                     "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"],
            resources=table_arns(host, region)),
        iam.PolicyStatement(
            sid="JobLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:GetLogEvents"],
            resources=[f"{logs}:*"]),
    ]


class AccessPolicies(Construct):
    """``policies[kind]`` (kind: Submitters, ReadOnly, OnPremWorkers) and their outputs
    ``<kind>PolicyArn``."""

    def __init__(self, scope: Construct, id: str, *, host: str, work_queue_arns: list[str],
                 api: apigw.RestApi, api_key_id: str) -> None:
        super().__init__(scope, id)
        region = Stack.of(self).region
        logs = host_arn(region, "logs", f"log-group:{schema.log_group_name(host)}")
        discovery = host_arn(region, "ssm", f"parameter{schema.ssm_prefix(host)}*")
        stage = api.deployment_stage.stage_name

        def reading(invoke: list[str]) -> list[iam.PolicyStatement]:
            return [
                iam.PolicyStatement(sid="ReadJobs", actions=ITEM_READS,
                                    resources=table_arns(host, region)),
                iam.PolicyStatement(sid="ReadLogs", actions=LOG_READS,
                                    resources=[logs, f"{logs}:*"]),
                iam.PolicyStatement(sid="ReadMetrics", actions=["cloudwatch:GetMetricData"],
                                    resources=["*"]),
                iam.PolicyStatement(sid="Discovery", actions=["ssm:GetParameter"],
                                    resources=[discovery]),
                iam.PolicyStatement(
                    sid="ApiKey", actions=["apigateway:GET"],
                    resources=[f"arn:{Aws.PARTITION}:apigateway:{region}::/apikeys/{api_key_id}"]),
                iam.PolicyStatement(sid="Api", actions=["execute-api:Invoke"],
                                    resources=[api.arn_for_execute_api(m, p, stage)
                                               for m, p in invoke]),
            ]

        gets = [("GET", "/jobs"), ("GET", "/jobs/*")]
        statements = {
            "Submitters": reading([("POST", "/jobs"), *gets]) + [
                iam.PolicyStatement(sid="WriteJobs", actions=ITEM_WRITES,
                                    resources=table_arns(host, region)[:1]),
                iam.PolicyStatement(sid="NotifyWorkers", actions=CONTROL_QUEUE_NOTIFY,
                                    resources=[control_queues_arn(host, region)])] + ([
                iam.PolicyStatement(
                    sid="SendWork",
                    actions=["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                    resources=work_queue_arns)] if work_queue_arns else []),
            "ReadOnly": reading(gets),
            "OnPremWorkers": worker_statements(host, region, work_queue_arns),
        }
        self.policies: dict[str, iam.ManagedPolicy] = {}
        for kind, docs in statements.items():
            policy = iam.ManagedPolicy(
                self, kind, managed_policy_name=f"{schema.stack_prefix(host)}-{kind}",
                description=f"hyper-tui {host}: {kind} (scoped to this host)",
                statements=docs)
            self.policies[kind] = policy
            out = CfnOutput(self, f"{kind}PolicyArn", value=policy.managed_policy_arn,
                            description=f"hyper-tui {host}: the {kind} IAM policy")
            out.override_logical_id(f"{kind}PolicyArn")
            suppress(policy, "AwsSolutions-IAM5",
                     "Index ARNs (table/index/*) of the jobs table, the log streams of the job "
                     "log group (log-group:<name>:*), the host's discovery parameters "
                     "(/hyper/<host>/*), the API's GET /jobs/* route and the workers' control "
                     "queues (<host>-ctl-*, one per worker, named after it); GetMetricData has no "
                     "resource ARN.",
                     ["Resource::*", r"re:.*/index/\*$", r"re:.*log-group:.*:\*$",
                      r"re:.*parameter/hyper/.*\*$", r"re:.*/jobs/\*$", r"re:.*-ctl-\*$"])
