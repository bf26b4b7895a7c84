"""A second, single-region host: private API, isolated subnets with every endpoint, a host image,
a BEST_FIT spot cluster and no dashboard (synth takes about a second)."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from hyper_tui.aws import schema
from hyper_tui.config import parse_config

CONFIG = """
host: {name: solo, kind: aws, account: "123456789012", main_region: us-west-2,
       settings: {enable_dashboard: false, private_api: true, job_retention_days: 7}}
regions:
  us-west-2: {main: true, vpc_cidr: 10.8.0.0/24, subnet_config: PRIVATE_ISOLATED,
              vpc_endpoints: FOR_PRIVATE_VPC}
clusters:
  bulk: {type: SPOT, allocation_strategy: BEST_FIT, max_vcpus: 10, compute_envs: 3}
queues:
  q: {cluster: bulk}
images:
  tools: {directory: DIR, build_args: {PYVER: "3.11"}}
definitions:
  d: {image: tools, gpus: 1}
"""
CONTROL = schema.control_stack_name("solo", "us-west-2")
COMPUTE = schema.compute_stack_name("solo", "us-west-2")


@pytest.fixture(scope="module")
def solo(tmp_path_factory):
    from hyper_tui.aws.synth import synth_app

    tmp = tmp_path_factory.mktemp("solo")
    build = tmp / "tools"
    build.mkdir()
    (build / "Dockerfile").write_text("FROM python:3.11-slim\n")
    cfg = parse_config(CONFIG.replace("DIR", str(build)), "solo.yaml")
    lookups = {"availability_zones": {"us-west-2": ["us-west-2a", "us-west-2b"]}}
    result = synth_app(cfg, tmp / "cdk.out", lookups=lookups)
    return result


def template(result, name):
    return Template.from_json(result.assembly.get_stack_artifact(name).template)


def test_only_control_and_one_compute_stack(solo):
    assert {s.stack_name for s in solo.assembly.stacks} == {CONTROL, COMPUTE}


def test_public_layout_in_a_bare_stack(tmp_path):
    from hyper_tui.aws.infra.components.logs.construct import retention
    from hyper_tui.aws.infra.components.network.construct import Network
    from hyper_tui.model import Region

    app = cdk.App(outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Net", env=cdk.Environment(account="123456789012",
                                                       region="us-west-2"))
    net = Network(stack, "Network", region=Region(name="us-west-2", vpc_cidr="10.9.0.0/24",
                                                  subnet_config="PUBLIC"),
                  zones=["us-west-2a", "us-west-2b"], imported=None, retention=retention(7))
    t = Template.from_json(app.synth().get_stack_artifact("Net").template)
    t.resource_count_is("AWS::EC2::NatGateway", 0)
    t.resource_count_is("AWS::EC2::Subnet", 2)
    t.has_resource_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True})
    assert len(net.worker_subnet_ids) == 2 and net.endpoints == {}


def test_private_api_only_through_the_vpc_endpoint(solo):
    control, compute = template(solo, CONTROL), template(solo, COMPUTE)
    policy = control.find_resources("AWS::ApiGateway::RestApi")
    props = next(iter(policy.values()))["Properties"]
    assert props["EndpointConfiguration"] == {"Types": ["PRIVATE"]}
    deny = [s for s in props["Policy"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and "aws:SourceVpce" in deny[0]["Condition"]["StringNotEquals"]
    compute.has_resource_properties("AWS::EC2::VPCEndpoint", {
        "ServiceName": "com.amazonaws.us-west-2.execute-api", "PrivateDnsEnabled": True})
    compute.has_resource_properties("AWS::SSM::Parameter", {
        "Name": schema.network_parameter_name("solo", "us-west-2", "api-endpoint-id")})
    control.resource_count_is("AWS::ApiGateway::Method", 3)


def test_host_image_is_built_and_copied_into_the_repository(solo):
    control = template(solo, CONTROL)
    control.has_resource_properties("Custom::HyperImageCopy", {
        "DestRepository": schema.ecr_repository_name("solo"), "DestTag": "tools"})
    control.resource_count_is("AWS::ECR::ReplicationConfiguration", 0)  # no hubs
    control.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    assets = json.loads((solo.templates[0].parent / f"{CONTROL}.assets.json").read_text())
    assert [d["source"]["dockerBuildArgs"] for d in assets["dockerImages"].values()] == [
        {"PYVER": "3.11"}]
    compute = template(solo, COMPUTE)
    compute.has_resource_properties("AWS::Batch::JobDefinition", {"ContainerProperties": Match.object_like({
        "Image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/hyper-solo:tools",
        "ResourceRequirements": Match.array_with([{"Type": "GPU", "Value": "1"}])})})


def test_isolated_subnets_and_best_fit_spot(solo):
    compute = template(solo, COMPUTE)
    compute.resource_count_is("AWS::EC2::NatGateway", 0)
    compute.resource_count_is("AWS::EC2::InternetGateway", 0)
    compute.resource_count_is("AWS::EC2::Subnet", 2)
    compute.resource_count_is("AWS::EC2::VPCEndpoint", 13)  # 12 + execute-api
    compute.has_resource_properties("AWS::Batch::ComputeEnvironment", {
        "ReplaceComputeEnvironment": True,
        "ComputeResources": Match.object_like({
            "AllocationStrategy": "BEST_FIT", "MaxvCpus": 4,  # ceil(10 / 3)
            "SpotIamFleetRole": {"Fn::GetAtt": [Match.any_value(), "Arn"]}})})


def test_no_unsuppressed_nag_error(solo):
    for stack in solo.app.node.children:
        if isinstance(stack, cdk.Stack):
            assert Annotations.from_stack(stack).find_error(
                "*", Match.string_like_regexp("AwsSolutions-.*")) == []


def test_cfn_lint_finds_no_error(solo):
    from cfnlint.api import ManualArgs, lint_file

    from tests.infra.test_nag_and_lint import ACCEPTED_WARNINGS

    problems = [f"{path.name}: {m.rule.id} {m.message}"
                for path in solo.templates
                for m in lint_file(path, config=ManualArgs(regions=["us-west-2"]))
                if m.rule.id.startswith("E") or (m.rule.id.startswith("W")
                                                 and m.rule.id not in ACCEPTED_WARNINGS)]
    assert problems == []
