"""The main region's control stack of the example host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Capture, Match

from hyper_tui.aws import schema
from hyper_tui.aws.reconciler import MESSAGE_RETENTION_S
from hyper_tui.aws.scaler_config import (
    CONFIG_FILE,
    CONFIG_FILE_ENV,
    ScalerConfig,
    load_scaler_config,
)
from tests.infra.conftest import CONTROL, HOST, MAIN

PAIRS = [("cheap", "plain"), ("cheap", "sim"), ("fast", "plain"), ("fast", "sim")]


@pytest.fixture(scope="module")
def t(synthesized):
    return synthesized.template(CONTROL)


def resources(template, kind):
    return template.find_resources(kind)


def test_jobs_table_keys_gsis_ttl_pitr_encryption(t):
    t.resource_count_is("AWS::DynamoDB::Table", 1)
    def projection(index):  # keys only: no state, heartbeat or result write rewrites an index
        return {"ProjectionType": "KEYS_ONLY"}

    assert all(schema.index_attributes(i) == () for i, *_ in schema.INDEXES)
    t.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "RetainExceptOnCreate",
                                            "UpdateReplacePolicy": "Retain"})
    t.has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": schema.jobs_table_name(HOST),
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": True},
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},  # the counters' feed
        "GlobalSecondaryIndexes": Match.array_with([
            {"IndexName": "by_queue", "Projection": projection("by_queue"),
             "KeySchema": [{"AttributeName": "queue_shard", "KeyType": "HASH"},
                           {"AttributeName": "id", "KeyType": "RANGE"}]},
            {"IndexName": "by_active", "Projection": projection("by_active"),
             "KeySchema": [{"AttributeName": "active_shard", "KeyType": "HASH"},
                           {"AttributeName": "id", "KeyType": "RANGE"}]},
            {"IndexName": "by_name", "Projection": projection("by_name"),
             "KeySchema": [{"AttributeName": schema.NAME_KEY, "KeyType": "HASH"},
                           {"AttributeName": "id", "KeyType": "RANGE"}]},
        ]),
        "AttributeDefinitions": Match.array_with([
            {"AttributeName": schema.NAME_KEY, "AttributeType": "S"}]),
    })


def test_work_queue_and_dead_letter_queue_per_pair(t):
    t.resource_count_is("AWS::SQS::Queue", 2 * len(PAIRS) + 1)  # + the counters' on-failure
    for q, d in PAIRS:
        dlq_arn = Capture()
        t.has_resource_properties("AWS::SQS::Queue", {
            "QueueName": schema.work_queue_name(HOST, q, d),
            "VisibilityTimeout": schema.LEASE_SECONDS,
            # the reconciler resends a waiting job's message before this drops it
            "MessageRetentionPeriod": MESSAGE_RETENTION_S,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"maxReceiveCount": schema.MAX_RECEIVES,
                              "deadLetterTargetArn": dlq_arn},
        })
        dlq_id = dlq_arn.as_object()["Fn::GetAtt"][0]
        dlq = resources(t, "AWS::SQS::Queue")[dlq_id]
        assert dlq["Properties"]["QueueName"] == schema.dead_letter_queue_name(HOST, q, d)
        assert dlq["Properties"]["SqsManagedSseEnabled"] is True


def test_every_queue_denies_insecure_transport(t):
    policies = resources(t, "AWS::SQS::QueuePolicy")
    queues = resources(t, "AWS::SQS::Queue")
    covered = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and
                   s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)
        covered.update(ref["Ref"] for ref in policy["Properties"]["Queues"])
    assert covered == set(queues)


def test_api_every_method_authenticated_no_proxy(t):
    methods = resources(t, "AWS::ApiGateway::Method")
    assert len(methods) == 3
    for method in methods.values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "AWS_IAM"
        assert props["ApiKeyRequired"] is True
        assert props["HttpMethod"] != "ANY"
    paths = {r["Properties"]["PathPart"] for r in resources(t, "AWS::ApiGateway::Resource").values()}
    assert paths == {"jobs", "{id}"}
    assert not any("proxy" in p for p in paths)
    t.has_resource_properties("AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "RequestValidatorId": Match.any_value(),
        "RequestModels": {"application/json": Match.any_value()},
        "Integration": {"Type": "AWS_PROXY"}})


def test_api_submit_model_caps_the_batch(t):
    model = next(iter(resources(t, "AWS::ApiGateway::Model").values()))
    jobs = model["Properties"]["Schema"]["properties"]["jobs"]
    assert jobs["maxItems"] == schema.MAX_BATCH and jobs["minItems"] == 1


def test_api_stage_logs_and_throttles(t):
    t.has_resource_properties("AWS::ApiGateway::Stage", {
        "StageName": "v1",
        "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
        "MethodSettings": Match.array_with([Match.object_like({
            "LoggingLevel": "ERROR", "ThrottlingRateLimit": 10000, "ThrottlingBurstLimit": 5000})]),
    })
    t.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    t.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)


def test_api_function_env_and_handler(t):
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "hyper_tui.aws.infra.components.api.handler.handler",
        "Environment": {"Variables": Match.object_like({
            "HYPER_HOST": HOST, "HYPER_API_CONFIG": Match.string_like_regexp('"queues"')})},
    })


def scaler_asset(synthesized) -> Path:
    """The folder of the scaler function's code asset (its S3 key is the asset's hash)."""
    function = next(r for r in synthesized.templates[CONTROL]["Resources"].values()
                    if r["Type"] == "AWS::Lambda::Function"
                    and r["Properties"]["Handler"].endswith("scaler.handler.handler"))
    key = function["Properties"]["Code"]["S3Key"]
    assets = json.loads((synthesized.paths[CONTROL].parent / f"{CONTROL}.assets.json").read_text())
    source = assets["files"][key.removesuffix(".zip")]["source"]["path"]
    return synthesized.paths[CONTROL].parent / source


def test_scaler_runs_every_minute_with_its_config(t, synthesized):
    t.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": "rate(1 minute)", "State": "ENABLED",
        "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("Scaler"),
                                                               "Arn"]}})]})
    env = Capture()
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "hyper_tui.aws.infra.components.scaler.handler.handler", "Timeout": 55,
        "Environment": {"Variables": env}})
    variables = env.as_object()
    assert variables["HYPER_HOST"] == HOST
    assert "Ref" in variables["HYPER_JOBS_TABLE"]  # the table's name
    assert variables["HYPER_MAIN_REGION"] == MAIN
    # the config is a file of the function's own asset, not an environment variable
    assert schema.SCALER_CONFIG_ENV not in variables
    assert variables[CONFIG_FILE_ENV] == CONFIG_FILE
    asset = scaler_asset(synthesized)
    config = load_scaler_config({CONFIG_FILE_ENV: CONFIG_FILE, "LAMBDA_TASK_ROOT": str(asset)})
    assert config == ScalerConfig.from_json((asset / CONFIG_FILE).read_text())
    by_pair = {(p.queue, p.definition): p for p in config.pairs}
    assert set(by_pair) == set(PAIRS)
    fast = by_pair[("fast", "sim")]
    assert fast.weights == {"us-east-1": 3, "eu-west-1": 1, "ap-southeast-1": 1}
    assert fast.ratio == 10 and fast.vcpus == 2 and fast.max_vcpus == 1000
    assert fast.batch_job_queue[MAIN] == schema.batch_job_queue_name(HOST, "spot")
    assert fast.batch_job_definition["eu-west-1"] == schema.batch_job_definition_name(HOST, "sim")
    assert fast.work_queue_url.endswith("/" + schema.work_queue_name(HOST, "fast", "sim"))
    # 'auto' weights come from the look-ups, not from AWS at synth time.
    assert by_pair[("cheap", "plain")].weights == {"us-east-1": 5, "eu-west-1": 2,
                                                    "ap-southeast-1": 1}


def test_scaler_settles_dead_letters(t):
    policies = resources(t, "AWS::IAM::Policy")
    scaler = next(p for k, p in policies.items() if k.startswith("ScalerRole"))
    text = json.dumps(scaler["Properties"]["PolicyDocument"])
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                   "sqs:SendMessage", "sqs:GetQueueAttributes", "dynamodb:UpdateItem"):
        assert action in text, action


def test_api_and_scaler_may_open_and_close_outbox_entries(t):
    policies = resources(t, "AWS::IAM::Policy")
    for role in ("ApiRole", "ScalerRole"):
        found = [p for k, p in policies.items() if k.startswith(role)]
        assert found, role
        text = json.dumps(found[0]["Properties"]["PolicyDocument"])
        for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
            assert action in text, (role, action)


def test_scaler_may_submit_only_this_hosts_batch_jobs(t):
    policies = resources(t, "AWS::IAM::Policy")
    scaler = next(p for k, p in policies.items() if k.startswith("ScalerRole"))
    statements = {s.get("Sid"): s for s in scaler["Properties"]["PolicyDocument"]["Statement"]}
    submit = statements["SubmitWorkers"]
    assert submit["Action"] == ["batch:SubmitJob", "batch:TagResource"]
    text = json.dumps(submit["Resource"])
    assert "job-queue/demo-spot" in text and "job-definition/demo-sim:*" in text
    assert statements["Metrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": schema.metrics_namespace(HOST)}}


def test_no_statement_allows_every_action_on_every_resource(synthesized):
    checked = 0
    for name, template in synthesized.templates.items():
        for res in template["Resources"].values():
            props = res.get("Properties", {})
            docs = [props.get("PolicyDocument") or {}]
            docs += [p.get("PolicyDocument") or {} for p in props.get("Policies", [])]
            for doc in docs:
                for s in doc.get("Statement", []):
                    checked += 1
                    actions = s.get("Action")
                    actions = actions if isinstance(actions, list) else [actions]
                    targets = s.get("Resource")
                    targets = targets if isinstance(targets, list) else [targets]
                    assert not (s["Effect"] == "Allow" and "*" in actions and "*" in targets), name
    # (every policy of every stack was read: work-queue grants are one statement per role
    # since they list every queue, so there are fewer statements than queues)
    assert checked > 40


def test_job_log_group_name_and_retention(t):
    # 45 days is not a CloudWatch retention: the nearest allowed one is 30... or 60: 45 ties
    # and the longer wins.
    t.has_resource("AWS::Logs::LogGroup", {
        "Properties": {"LogGroupName": schema.log_group_name(HOST), "RetentionInDays": 60},
        "DeletionPolicy": "RetainExceptOnCreate"})


def test_dashboard_draws_jobs_throughput_workers_vcpus(t):
    body = Capture()
    t.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardBody": body})
    text = json.dumps(body.as_object())
    for metric in (schema.METRIC_JOBS, schema.METRIC_SUBMITTED, schema.METRIC_FINISHED,
                   schema.METRIC_WORKERS, schema.METRIC_VCPUS, schema.METRIC_BACKLOG,
                   schema.METRIC_DEAD_LETTERED):
        assert f'MetricName=\\\\\\"{metric}\\\\\\"' in text, metric
    assert schema.metrics_namespace(HOST) in text
    for title in ("Jobs by state", "Throughput", "Workers per region", "vCPUs per region"):
        assert title in text


def test_outputs_and_ssm_parameters(t):
    outputs = t.to_json()["Outputs"]
    assert set(schema.OUTPUTS) <= set(outputs)
    for key in schema.OUTPUTS:
        t.has_resource_properties("AWS::SSM::Parameter", {
            "Name": schema.ssm_parameter_name(HOST, key), "Type": "String"})
    assert outputs["MetricsNamespace"]["Value"] == schema.metrics_namespace(HOST)


def test_no_account_wide_singleton_in_the_stack(t):
    """ECR's replication configuration and API Gateway's CloudWatch role are one per account
    and region: ``hyper_tui.aws.account_settings`` merges or keeps them, no stack owns them
    (a second host's stack would overwrite them, deleting one would break the others)."""
    t.resource_count_is("AWS::ECR::ReplicationConfiguration", 0)
    t.resource_count_is("AWS::ApiGateway::Account", 0)
    t.resource_count_is("AWS::ApiGateway::RestApi", 1)


def test_lambda_code_asset_holds_only_the_packages(synthesized):
    assets = json.loads((synthesized.paths[CONTROL].parent / f"{CONTROL}.assets.json").read_text())
    dirs = [synthesized.paths[CONTROL].parent / f["source"]["path"]
            for f in assets["files"].values() if f["source"].get("packaging") == "zip"]
    code = next(d for d in dirs if (d / "hyper_tui").is_dir())
    assert (code / "hyper_tui" / "aws" / "schema.py").is_file()
    assert (code / "hyper_tui" / "aws" / "infra" / "components" / "api" / "handler.py").is_file()
    assert (code / "hyper_tui" / "agent" / "transports" / "aws.py").is_file()
    assert (code / "hyper_tui" / "aws" / "dead_letters.py").is_file()  # the scaler's sweep
    assert (code / "hyper_tui" / "aws" / "infra" / "components" / "scaler" / "handler.py").is_file()
    assert not (code / "hyper_tui" / "agent" / "Dockerfile").exists()
    top = {p.name for p in code.iterdir()}
    assert top == {"hyper_tui"}
    assert not (code / "hyper_tui" / "aws" / "infra" / "stacks").exists()
    assert not (code / "hyper_tui" / "aws" / "infra" / "components" / "api" / "construct.py").exists()
    assert not (code / "hyper_tui" / "screens").exists()
    assert not list(code.rglob("__pycache__"))


def test_lambda_handlers_import_from_the_asset_without_the_cdk(synthesized, tmp_path):
    """A Lambda imports its handler's packages: none of them may need aws_cdk or a construct."""
    import subprocess
    import sys

    assets = json.loads((synthesized.paths[CONTROL].parent / f"{CONTROL}.assets.json").read_text())
    code = next(synthesized.paths[CONTROL].parent / f["source"]["path"]
                for f in assets["files"].values() if f["source"].get("packaging") == "zip"
                and (synthesized.paths[CONTROL].parent / f["source"]["path"] / "hyper_tui").is_dir())
    handlers = ["hyper_tui.aws.infra.components.api.handler", "hyper_tui.aws.infra.components.scaler.handler"]
    probe = ("import sys; sys.modules['aws_cdk'] = sys.modules['constructs'] = None; "
             f"sys.path.insert(0, {str(code)!r}); import importlib; "
             f"mods = [importlib.import_module(m) for m in {handlers!r}]; "
             "assert all(m.__file__.startswith(sys.path[0]) for m in mods), [m.__file__ for m in mods]; "
             "print(all(callable(m.handler) for m in mods))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
