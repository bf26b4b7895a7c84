"""The submit and query API: a REST API whose every method needs IAM auth and an API key.

Three explicit routes, no proxy catch-all: ``POST /jobs``, ``GET /jobs``, ``GET /jobs/{id}``.
The runtime code is ``infra/components/api/handler.py``.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITable
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra.components.code import RUNTIME
from hyper_tui.aws.infra.nag import INDEX_ARNS, suppress
from hyper_tui.model import Definition

SUBMIT_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    type=apigw.JsonSchemaType.OBJECT,
    required=["jobs"],
    properties={"jobs": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, min_items=1,
                                         max_items=schema.MAX_BATCH,
                                         items=apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT))},
)


class JobsApi(Construct):
    def __init__(self, scope: Construct, id: str, *, host: str, code: lambda_.Code,
                 table: ITable, work_queues: dict[tuple[str, str], sqs.IQueue],
                 queues: list[str], definitions: dict[str, Definition],
                 retention: logs.RetentionDays, job_retention_days: float = 30,
                 private_endpoint_id: str | None = None) -> None:
        """``private_endpoint_id``: make the API private, reachable only through this
        execute-api VPC endpoint (host setting private_api)."""
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(self, "FunctionLogs", retention=retention)
        self.role = iam.Role(self, "Role",
                             assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description="hyper-tui submit/query API function")
        self.log_group.grant_write(self.role)
        config = {"queues": sorted(queues),
                  "definitions": {d.name: {"retries": d.retries, "timeout": d.job_timeout_s,
                                           "retry_exit_codes": d.retry_exit_codes}
                                  for d in definitions.values()},
                  "retention_days": job_retention_days}
        self.function = lambda_.Function(
            self, "Function",
            runtime=RUNTIME, architecture=lambda_.Architecture.ARM_64,
            code=code, handler="hyper_tui.aws.infra.components.api.handler.handler",
            memory_size=1024, timeout=Duration.seconds(29), role=self.role,
            log_group=self.log_group,
            environment={"HYPER_HOST": host, "HYPER_JOBS_TABLE": table.table_name,
                         "HYPER_MAIN_REGION": stack.region,
                         "HYPER_API_CONFIG": json.dumps(config, separators=(",", ":"))},
        )
        # DeleteItem: the API closes its outbox entry (hyper_tui.aws.outbox) after sending.
        # BatchGetItem: a listing reads the items its (keys-only) index page names.
        table.grant(self.role, "dynamodb:BatchWriteItem", "dynamodb:PutItem",
                    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                    "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        # One statement for every work queue (not one per queue): the policy grows by an ARN
        # per pair, so 100 pairs stay within a role's policy size.
        if work_queues:
            self.role.add_to_policy(iam.PolicyStatement(
                sid="SendWork",
                actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                resources=[q.queue_arn for _, q in sorted(work_queues.items())]))

        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=retention)
        self.api = apigw.RestApi(
            self, "Api",
            rest_api_name=f"{schema.stack_prefix(host)}-api",
            description="hyper-tui job submission and query",
            endpoint_types=[apigw.EndpointType.PRIVATE if private_endpoint_id
                            else apigw.EndpointType.REGIONAL],
            policy=self._private_policy(private_endpoint_id) if private_endpoint_id else None,
            # API Gateway's CloudWatch role is an account setting: hyper-tui bootstrap keeps or
            # sets it (hyper_tui.aws.account_settings), no stack owns it.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                throttling_rate_limit=10_000, throttling_burst_limit=5_000,
            ),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM, api_key_required=True),
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True)
        submit_model = self.api.add_model("SubmitModel", content_type="application/json",
                                          schema=SUBMIT_SCHEMA, model_name="SubmitJobs")
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        jobs = self.api.root.add_resource("jobs")
        jobs.add_method("POST", integration, request_validator=validator,
                        request_models={"application/json": submit_model})
        jobs.add_method("GET", integration, request_validator=validator)
        jobs.add_resource("{id}").add_method(
            "GET", integration, request_validator=validator,
            request_parameters={"method.request.path.id": True})

        self.api_key = self.api.add_api_key("ApiKey", description=f"hyper-tui {host} API key")
        plan = self.api.add_usage_plan(
            "UsagePlan", throttle=apigw.ThrottleSettings(rate_limit=10_000, burst_limit=5_000))
        plan.add_api_key(self.api_key)
        plan.add_api_stage(stage=self.api.deployment_stage)

        self.private = private_endpoint_id is not None
        suppress(self.role, "AwsSolutions-IAM5",
                 "DynamoDB index ARNs (table/index/*) are needed to Query the GSIs of "
                 "the jobs table; every other resource is named.",
                 [INDEX_ARNS])
        suppress(self.api, "AwsSolutions-IAM4",
                 "API Gateway's account-level CloudWatch role uses the AWS-managed "
                 "AmazonAPIGatewayPushToCloudWatchLogs policy, the documented way to enable "
                 "execution logs.",
                 ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                  "AmazonAPIGatewayPushToCloudWatchLogs"])
        suppress(self.api, "AwsSolutions-COG4",
                 "Every method uses IAM (SigV4) authorization plus an API key; callers are "
                 "IAM principals of the account, not Cognito users.")
        suppress(self.api, "AwsSolutions-APIG3",
                 "No WAF: the API is IAM-authenticated and key-throttled by its usage plan; "
                 "a web ACL adds cost without protecting signed requests further.")

    @staticmethod
    def _private_policy(endpoint_id: str) -> iam.PolicyDocument:
        """Callers of this account only, and only through the VPC endpoint (IAM auth still
        applies to every method)."""
        invoke = {"actions": ["execute-api:Invoke"], "resources": ["execute-api:/*"]}
        return iam.PolicyDocument(statements=[
            iam.PolicyStatement(principals=[iam.AccountRootPrincipal()], **invoke),
            iam.PolicyStatement(effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
                                conditions={"StringNotEquals": {"aws:SourceVpce": endpoint_id}},
                                **invoke),
        ])
