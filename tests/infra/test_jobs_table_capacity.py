"""The jobs table's capacity settings and the counters Lambda, synthesized in a small stack of
their own (the constructs the control stack uses; the whole host's synth is in
test_control_stack.py)."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Stack  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from aws_cdk import aws_logs as logs  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402

from hyper_tui.aws import schema  # noqa: E402
from hyper_tui.aws.infra.components.counters.construct import BATCH_SIZE, Counters  # noqa: E402
from hyper_tui.aws.infra.components.jobs_table.construct import JobsTable  # noqa: E402
from hyper_tui.model import HostSettings  # noqa: E402


def table_template(settings: HostSettings, *, counters: bool = False) -> Template:
    app = App()
    stack = Stack(app, "T", env={"account": "123456789012", "region": "us-east-1"})
    jobs = JobsTable(stack, "Jobs", host="demo", settings=settings)
    if counters:
        Counters(stack, "Counters", host="demo", table=jobs.table,
                 code=lambda_.Code.from_inline("def handler(e, c): pass"),
                 retention=logs.RetentionDays.ONE_MONTH)
    return Template.from_stack(stack)


def test_on_demand_by_default_with_ttl_and_stream() -> None:
    t = table_template(HostSettings())
    t.has_resource_properties("AWS::DynamoDB::Table", {
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True},
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"}})
    props = next(iter(t.find_resources("AWS::DynamoDB::Table").values()))["Properties"]
    assert "WarmThroughput" not in props and "ProvisionedThroughput" not in props
    assert {g["Projection"]["ProjectionType"] for g in props["GlobalSecondaryIndexes"]} == {
        "KEYS_ONLY"}
    t.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_provisioned_capacity_auto_scales_the_table_and_every_index() -> None:
    s = HostSettings(table_capacity="provisioned", table_min_write_units=100,
                     table_max_write_units=20_000, table_min_read_units=30,
                     table_max_read_units=5_000)
    t = table_template(s)
    t.has_resource_properties("AWS::DynamoDB::Table", {
        "ProvisionedThroughput": {"ReadCapacityUnits": 30, "WriteCapacityUnits": 100}})
    props = next(iter(t.find_resources("AWS::DynamoDB::Table").values()))["Properties"]
    assert "BillingMode" not in props or props["BillingMode"] == "PROVISIONED"
    for g in props["GlobalSecondaryIndexes"]:
        assert g["ProvisionedThroughput"] == {"ReadCapacityUnits": 30, "WriteCapacityUnits": 100}
    targets = t.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    # reads and writes of the table and of each index
    assert len(targets) == 2 * (1 + len(schema.INDEXES))
    dims = sorted(r["Properties"]["ScalableDimension"] for r in targets.values())
    assert dims.count("dynamodb:table:WriteCapacityUnits") == 1
    assert dims.count("dynamodb:index:WriteCapacityUnits") == len(schema.INDEXES)
    assert dims.count("dynamodb:index:ReadCapacityUnits") == len(schema.INDEXES)
    writes = [r["Properties"] for r in targets.values()
              if r["Properties"]["ScalableDimension"].endswith("WriteCapacityUnits")]
    assert {(w["MinCapacity"], w["MaxCapacity"]) for w in writes} == {(100, 20_000)}
    t.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": Match.object_like({"TargetValue": 70})})


def test_warm_throughput_for_the_expected_peak() -> None:
    t = table_template(HostSettings(table_peak_jobs_per_s=10_000))
    props = next(iter(t.find_resources("AWS::DynamoDB::Table").values()))["Properties"]
    # A job writes the table 3 times, by_queue once, by_active twice (keys-only indexes).
    assert props["WarmThroughput"] == {"WriteUnitsPerSecond": 30_000, "ReadUnitsPerSecond": 12_000}
    warm = {g["IndexName"]: g["WarmThroughput"] for g in props["GlobalSecondaryIndexes"]}
    assert warm["by_queue"]["WriteUnitsPerSecond"] == 10_000
    assert warm["by_active"]["WriteUnitsPerSecond"] == 20_000
    # A small peak stays at DynamoDB's floor (what every on-demand table starts with).
    small = table_template(HostSettings(table_peak_jobs_per_s=100))
    props = next(iter(small.find_resources("AWS::DynamoDB::Table").values()))["Properties"]
    assert props["WarmThroughput"] == {"WriteUnitsPerSecond": 4_000, "ReadUnitsPerSecond": 12_000}


def test_counters_lambda_reads_the_stream_and_updates_counter_items_only() -> None:
    t = table_template(HostSettings(), counters=True)
    t.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BatchSize": BATCH_SIZE, "StartingPosition": "TRIM_HORIZON",
        "BisectBatchOnFunctionError": False, "MaximumBatchingWindowInSeconds": 1,
        "EventSourceArn": Match.any_value(),
        "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}}})
    t.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "hyper_tui.aws.infra.components.counters.handler.handler",
        "Environment": {"Variables": Match.object_like({"HYPER_JOBS_TABLE": Match.any_value()})}})
    policies = t.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    update = [s for s in statements if s.get("Sid") == "UpdateCounters"]
    assert update and update[0]["Action"] == ["dynamodb:UpdateItem", "dynamodb:GetItem"]
    assert update[0]["Condition"] == {"ForAllValues:StringLike": {
        "dynamodb:LeadingKeys": ["count#*"]}}
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str)
                                               else s["Action"])}
    assert "dynamodb:GetRecords" in actions and "dynamodb:PutItem" not in actions
    assert not any(a.startswith("dynamodb:") and a not in (
        "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
        "dynamodb:DescribeStream", "dynamodb:ListStreams") for a in actions), actions
