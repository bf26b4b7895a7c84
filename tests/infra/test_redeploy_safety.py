"""Deploy again after anything: data that must survive is retained on update and delete but
not when its own creation rolls back (so a failed first deploy can be retried: the fixed name
is free again); resources CloudFormation may replace have generated names; no stack exports a
value that would pin a replaceable resource."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from hyper_tui.aws import schema
from tests.infra.conftest import COMPUTE, CONTROL, HOST, MAIN, PEERING

KEEP = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}


def test_jobs_table_and_job_logs_survive_but_not_a_failed_creation(synthesized):
    t = synthesized.template(CONTROL)
    t.has_resource("AWS::DynamoDB::Table", {
        **KEEP, "Properties": Match.object_like({"TableName": schema.jobs_table_name(HOST)})})
    t.has_resource("AWS::Logs::LogGroup", {
        **KEEP, "Properties": Match.object_like({"LogGroupName": schema.log_group_name(HOST)})})


@pytest.mark.parametrize("region", sorted(COMPUTE))
def test_repositories_and_worker_logs_survive_but_not_a_failed_creation(synthesized, region):
    t = synthesized.template(COMPUTE[region])
    t.has_resource("AWS::ECR::Repository", {**KEEP, "Properties": Match.object_like(
        {"RepositoryName": schema.ecr_repository_name(HOST)})})
    t.has_resource("AWS::Logs::LogGroup", {**KEEP, "Properties": Match.object_like(
        {"LogGroupName": schema.worker_log_group_name(HOST)})})


def test_every_fixed_name_is_on_a_resource_that_is_never_left_behind_by_a_rollback(synthesized):
    """A resource with a fixed name and plain Retain would survive its own failed creation and
    block every retry with 'already exists'."""
    names = ("TableName", "LogGroupName", "RepositoryName")
    for stack, template in synthesized.templates.items():
        for logical, res in template["Resources"].items():
            if any(n in res.get("Properties", {}) for n in names):
                assert res.get("DeletionPolicy") in (None, "Delete", "RetainExceptOnCreate"), \
                    (stack, logical, res.get("DeletionPolicy"))


@pytest.mark.parametrize("region", sorted(COMPUTE))
def test_compute_environments_have_generated_names(synthesized, region):
    t = synthesized.template(COMPUTE[region])
    envs = t.find_resources("AWS::Batch::ComputeEnvironment")
    assert envs and all("ComputeEnvironmentName" not in e["Properties"] for e in envs.values())
    # job queues keep their names (the scaler submits by name; no property change of ours
    # replaces a job queue), and list their compute environments by reference
    for queue in t.find_resources("AWS::Batch::JobQueue").values():
        assert queue["Properties"]["JobQueueName"].startswith(schema.stack_prefix(HOST)) or \
            queue["Properties"]["JobQueueName"]
        for order in queue["Properties"]["ComputeEnvironmentOrder"]:
            assert list(order["ComputeEnvironment"]) == ["Fn::GetAtt"]


def test_no_stack_exports_or_imports_anything(synthesized):
    for stack, template in synthesized.templates.items():
        text = json.dumps(template)
        assert "Fn::ImportValue" not in text, stack
        assert not [k for k, v in template.get("Outputs", {}).items() if "Export" in v], stack


def test_peering_routes_read_the_main_route_tables_from_ssm(synthesized):
    t = synthesized.template(PEERING)
    parameters = t.to_json().get("Parameters", {})
    tables = [k for k, v in parameters.items()
              if v["Type"] == "AWS::SSM::Parameter::Value<String>"
              and "/route-table-" in v["Default"]]
    routes = t.find_resources("AWS::EC2::Route")
    assert len(tables) == 3 and len(routes) == 3  # one per main worker subnet (3 zones)
    assert sorted(r["Properties"]["RouteTableId"]["Ref"] for r in routes.values()) == sorted(tables)
    main = synthesized.template(COMPUTE[MAIN])
    for i in range(3):
        main.has_resource_properties("AWS::SSM::Parameter", {
            "Name": schema.network_parameter_name(HOST, MAIN, f"route-table-{i}"),
            "Value": {"Ref": Match.string_like_regexp("RouteTable")}})
