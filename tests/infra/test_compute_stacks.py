"""The per-region compute stacks (and the main region's peering stack) of the example host."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match

from hyper_tui.aws import schema
from tests.infra.conftest import AP, COMPUTE, EU, HOST, MAIN, PEERING


@pytest.fixture(scope="module")
def main(synthesized):
    return synthesized.template(COMPUTE[MAIN])


@pytest.fixture(scope="module")
def eu(synthesized):
    return synthesized.template(COMPUTE[EU])


@pytest.fixture(scope="module")
def ap(synthesized):
    return synthesized.template(COMPUTE[AP])


def test_stacks_regions_and_order(synthesized):
    by_name = {s.stack_name: s for s in synthesized.assembly.stacks}
    assert set(by_name) == {*COMPUTE.values(), PEERING, schema.control_stack_name(HOST, MAIN)}
    assert by_name[COMPUTE[EU]].environment.region == EU
    assert by_name[COMPUTE[AP]].environment.account == "123456789012"
    deps = {name: {d.id for d in s.dependencies} for name, s in by_name.items()}
    assert COMPUTE[MAIN] in deps[COMPUTE[EU]]
    assert COMPUTE[EU] in deps[PEERING]
    assert set(COMPUTE.values()) <= deps[schema.control_stack_name(HOST, MAIN)]


def test_main_vpc_created_with_nat_and_flow_logs(main):
    main.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16",
                                                    "EnableDnsHostnames": True})
    main.resource_count_is("AWS::EC2::NatGateway", 1)
    main.resource_count_is("AWS::EC2::Subnet", 6)  # public + private in 3 zones
    azs = {s["Properties"]["AvailabilityZone"]
           for s in main.find_resources("AWS::EC2::Subnet").values()}
    assert azs == {"us-east-1a", "us-east-1b", "us-east-1c"}  # from the look-ups' context
    main.resource_count_is("AWS::EC2::FlowLog", 1)


def test_data_optimised_endpoints(main):
    names = [json.dumps(e["Properties"]["ServiceName"])
             for e in main.find_resources("AWS::EC2::VPCEndpoint").values()]
    assert len(names) == 6
    for service in ("s3", "dynamodb", "ecr.api", "ecr.dkr", "sqs", "logs"):
        assert any(f".{service}" in n for n in names), service
    main.has_resource_properties("AWS::EC2::VPCEndpoint", {
        "VpcEndpointType": "Gateway",
        "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".dynamodb"]]}})
    main.has_resource_properties("AWS::EC2::VPCEndpoint", {
        "VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
        "ServiceName": "com.amazonaws.us-east-1.sqs"})


def test_private_vpc_endpoints_in_hub(eu):
    services = {e["Properties"]["ServiceName"] if isinstance(e["Properties"]["ServiceName"], str)
                else "gateway" for e in eu.find_resources("AWS::EC2::VPCEndpoint").values()}
    for service in ("ecs", "ecs-agent", "ecs-telemetry", "monitoring", "ssm", "sts", "ecr.api"):
        assert f"com.amazonaws.eu-west-1.{service}" in services
    eu.resource_count_is("AWS::EC2::VPCEndpoint", 12)
    eu.resource_count_is("AWS::EC2::NatGateway", 1)


def test_imported_vpc_uses_looked_up_subnets(ap):
    ap.resource_count_is("AWS::EC2::VPC", 0)
    ap.resource_count_is("AWS::EC2::Subnet", 0)
    ap.has_resource_properties("AWS::EC2::SecurityGroup", {"VpcId": "vpc-0a1b2c3d4e5f60789"})
    ap.has_resource_properties("AWS::Batch::ComputeEnvironment", {"ComputeResources": Match.object_like({
        "Subnets": ["subnet-0a1a1a1a1a1a1a1a1", "subnet-0b2b2b2b2b2b2b2b2"]})})


@pytest.mark.parametrize("region", [MAIN, EU, AP])
def test_compute_environments_split_max_vcpus(synthesized, region):
    t = synthesized.template(COMPUTE[region])
    envs = t.find_resources("AWS::Batch::ComputeEnvironment")
    assert len(envs) == 5  # spot: 3, steady: 2
    by_cluster: dict[str, list[dict]] = {}
    for e in envs.values():
        # generated names, so that CloudFormation can replace one (see test_redeploy_safety)
        assert "ComputeEnvironmentName" not in e["Properties"]
        by_cluster.setdefault(e["Properties"]["Tags"]["hyper:cluster"], []).append(
            e["Properties"]["ComputeResources"])
    assert len(by_cluster["spot"]) == 3 and len(by_cluster["steady"]) == 2
    for res in by_cluster["spot"]:
        assert res["MaxvCpus"] == 334 and res["MinvCpus"] == 0  # ceil(1000 / 3)
    for res in by_cluster["steady"]:
        assert res["MaxvCpus"] == 50


def test_spot_settings(main):
    main.has_resource_properties("AWS::Batch::ComputeEnvironment", {
        "ComputeEnvironmentName": Match.absent(),
        "Tags": Match.object_like({"hyper:cluster": "spot"}),
        "Type": "MANAGED", "State": "ENABLED", "ReplaceComputeEnvironment": False,
        "ComputeResources": Match.object_like({
            "Type": "SPOT", "AllocationStrategy": "SPOT_CAPACITY_OPTIMIZED",
            "BidPercentage": 80, "InstanceTypes": ["optimal"],
            "Tags": {"hyper:host": HOST, "hyper:cluster": "spot", "team": "research"},
            "LaunchTemplate": {"LaunchTemplateId": Match.any_value(), "Version": Match.any_value()},
            "Ec2Configuration": Match.array_with([{"ImageType": "ECS_AL2023"}]),
            "UpdateToLatestImageVersion": True,
        })})


def test_on_demand_with_instance_types_and_looked_up_ami(eu):
    eu.has_resource_properties("AWS::Batch::ComputeEnvironment", {
        "ComputeEnvironmentName": Match.absent(),
        "Tags": Match.object_like({"hyper:cluster": "steady"}),
        "ComputeResources": Match.object_like({
            "Type": "EC2", "AllocationStrategy": "BEST_FIT_PROGRESSIVE",
            "InstanceTypes": ["c6i.large", "c6i.xlarge"],
            "BidPercentage": Match.absent(),
            "Ec2Configuration": [{"ImageType": "ECS_AL2023",
                                  "ImageIdOverride": "ami-0bbbbbbbbbbbbbbb2"}],
        })})


def test_launch_template_imdsv2_and_encrypted_root(main):
    main.has_resource_properties("AWS::EC2::LaunchTemplate", {"LaunchTemplateData": Match.object_like({
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": Match.object_like({
            "Encrypted": True, "VolumeType": "gp3"})}]})})


def test_custom_ami_root_volume_is_mapped_again_encrypted(main):
    """The steady cluster's AMI has a 50 GiB root on /dev/sda1 in us-east-1 (example look-ups):
    that device is mapped, encrypted, at the AMI's size (not smaller than 30 GiB)."""
    main.has_resource_properties("AWS::EC2::LaunchTemplate", {"LaunchTemplateData": Match.object_like({
        "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": Match.object_like({
            "Encrypted": True, "VolumeSize": 50, "VolumeType": "gp3"})}]})})


def test_job_queue_orders_its_compute_environments(main):
    order = Capture()
    main.has_resource_properties("AWS::Batch::JobQueue", {
        "JobQueueName": schema.batch_job_queue_name(HOST, "spot"), "Priority": 1,
        "ComputeEnvironmentOrder": order})
    assert [o["Order"] for o in order.as_array()] == [1, 2, 3]


def test_job_definition_properties(eu):
    env = Capture()
    eu.has_resource_properties("AWS::Batch::JobDefinition", {
        "JobDefinitionName": schema.batch_job_definition_name(HOST, "sim"),
        "Type": "container", "PlatformCapabilities": ["EC2"],
        "Timeout": {"AttemptDurationSeconds": 7200},
        "ContainerProperties": Match.object_like({
            "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sim:latest",
            "Command": ["/start.sh"],
            "ResourceRequirements": [{"Type": "VCPU", "Value": "2"},
                                     {"Type": "MEMORY", "Value": "4096"}],
            "MountPoints": [{"ContainerPath": "/data", "SourceVolume": "scratch",
                             "ReadOnly": True}],
            "Volumes": [{"Name": "scratch", "Host": {"SourcePath": "/scratch"}}],
            "Ulimits": [{"Name": "nofile", "SoftLimit": 4096, "HardLimit": 8192}],
            "LinuxParameters": {"InitProcessEnabled": True, "SharedMemorySize": 256},
            "Privileged": True, "User": "worker",
            "LogConfiguration": {"LogDriver": "json-file", "Options": {"max-size": "10m"}},
            "JobRoleArn": Match.any_value(),
            "Environment": env,
        })})
    variables = {e["Name"]: e["Value"] for e in env.as_array()}
    assert variables["MODE"] == "fast"
    assert variables["HYPER_REGION"] == EU and variables["HYPER_MAIN_REGION"] == MAIN
    assert variables["HYPER_JOBS_TABLE"] == schema.jobs_table_name(HOST)
    assert variables["HYPER_LOG_GROUP"] == schema.log_group_name(HOST)
    assert variables["HYPER_DEFINITION"] == "sim" and variables["HYPER_HOST"] == HOST
    # HYPER_QUEUE and HYPER_WORK_QUEUE_URL depend on the queue: the scaler sets them.
    assert set(schema.WORKER_ENV) - set(variables) == {"HYPER_QUEUE", "HYPER_WORK_QUEUE_URL"}


def test_default_log_driver_is_awslogs_to_the_worker_group(main):
    main.has_resource_properties("AWS::Batch::JobDefinition", {
        "JobDefinitionName": schema.batch_job_definition_name(HOST, "plain"),
        "ContainerProperties": Match.object_like({
            "Image": "public.ecr.aws/docker/library/python:3.11-slim",
            "LogConfiguration": {"LogDriver": "awslogs", "Options": {
                "awslogs-group": {"Ref": Match.any_value()}, "awslogs-region": MAIN,
                "awslogs-stream-prefix": "plain"}}})})
    main.has_resource_properties("AWS::Logs::LogGroup", {
        "LogGroupName": schema.worker_log_group_name(HOST)})


def test_job_role_least_privilege(ap):
    policies = ap.find_resources("AWS::IAM::Policy")
    sim = next(p for k, p in policies.items() if "Rolesim" in k)
    statements = {s["Sid"]: s for s in sim["Properties"]["PolicyDocument"]["Statement"]}
    # no Metrics: workers publish none (the scaler does, from the counters)
    assert set(statements) == {"WorkQueues", "ControlQueue", "JobItems", "JobLogs", "JobRole"}
    # Its control queue: create, read, touch and delete its own kind only ({host}-ctl-*).
    ctl = json.dumps(statements["ControlQueue"]["Resource"])
    assert f":{schema.control_queue_prefix(HOST)}*" in ctl and ":us-east-1:" in ctl
    assert set(statements["ControlQueue"]["Action"]) == {
        "sqs:CreateQueue", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:DeleteQueue",
        "sqs:SetQueueAttributes"}
    job = next(k for k in ap.find_resources("AWS::IAM::Role") if "JobRolesim" in k)
    assert statements["JobRole"]["Action"] == "sts:AssumeRole"
    assert statements["JobRole"]["Resource"] == {"Fn::GetAtt": [job, "Arn"]}
    queues = json.dumps(statements["WorkQueues"]["Resource"])
    assert schema.work_queue_name(HOST, "fast", "sim") in queues
    assert schema.work_queue_name(HOST, "cheap", "sim") in queues
    assert "plain" not in queues  # only its own definition's queues
    assert ":us-east-1:" in queues  # the queues live in the main region
    items = json.dumps(statements["JobItems"]["Resource"])
    assert f"table/{schema.jobs_table_name(HOST)}" in items and "index/by_queue" in items
    assert "dynamodb:DeleteItem" not in statements["JobItems"]["Action"]
    assert "dynamodb:Scan" not in statements["JobItems"]["Action"]
    logs = json.dumps(statements["JobLogs"]["Resource"])
    assert f"log-group:{schema.log_group_name(HOST)}:*" in logs
    trust = Capture()
    ap.has_resource_properties("AWS::IAM::Role", {"AssumeRolePolicyDocument": {"Statement": [
        Match.object_like({"Principal": {"Service": "ecs-tasks.amazonaws.com"},
                           "Condition": trust})]}})
    assert trust.as_object() == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_jobs_get_a_role_of_their_own(ap):
    """The definition's Batch job role is the agent's; its jobs' role trusts the agent role
    only, carries the definition's iam_policies and nothing of the host, and the job
    definition names it (HYPER_JOB_ROLE_ARN) for the agent to assume."""
    roles = ap.find_resources("AWS::IAM::Role")
    agent = next(k for k in roles if "Rolesim" in k and "JobRole" not in k)
    job = next(k for k in roles if "JobRolesim" in k)
    props = roles[job]["Properties"]
    assert props["AssumeRolePolicyDocument"]["Statement"] == [{
        "Action": "sts:AssumeRole", "Effect": "Allow",
        "Principal": {"AWS": {"Fn::GetAtt": [agent, "Arn"]}}}]
    assert props["MaxSessionDuration"] == 3600
    assert json.dumps(props["ManagedPolicyArns"]).count("policy/sim-data-read") == 1
    assert "ManagedPolicyArns" not in roles[agent]["Properties"]  # iam_policies: jobs only
    attached = [p for p in ap.find_resources("AWS::IAM::Policy").values()
                if {"Ref": job} in p["Properties"]["Roles"]]
    assert attached == []  # no inline grant: no jobs table, no work queue
    definition = next(d for d in ap.find_resources("AWS::Batch::JobDefinition").values()
                      if d["Properties"]["JobDefinitionName"].endswith("sim"))
    container = definition["Properties"]["ContainerProperties"]
    assert container["JobRoleArn"] == {"Fn::GetAtt": [agent, "Arn"]}
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env[schema.JOB_ROLE_ENV] == {"Fn::GetAtt": [job, "Arn"]}


def test_ecr_repository_scans_and_encrypts(synthesized):
    for stack in COMPUTE.values():
        synthesized.template(stack).has_resource_properties("AWS::ECR::Repository", {
            "RepositoryName": schema.ecr_repository_name(HOST),
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "EncryptionConfiguration": {"EncryptionType": "KMS"}})


def test_hub_peers_with_main_and_routes_to_it(eu):
    eu.has_resource_properties("AWS::EC2::VPCPeeringConnection", {
        "PeerRegion": MAIN, "PeerOwnerId": "123456789012",
        "PeerVpcId": {"Fn::GetAtt": [Match.string_like_regexp("MainVpcId"), "Parameter.Value"]}})
    to_main = [r for r in eu.find_resources("AWS::EC2::Route").values()
               if r["Properties"].get("DestinationCidrBlock") == "10.0.0.0/16"]
    assert len(to_main) == 2  # one per private subnet's route table (2 zones)
    assert all(r["Properties"]["VpcPeeringConnectionId"] == {"Ref": Match.any_value()} or
               "Ref" in r["Properties"]["VpcPeeringConnectionId"] for r in to_main)
    eu.has_resource_properties("AWS::SSM::Parameter", {
        "Name": schema.network_parameter_name(HOST, EU, "peering-id")})
    eu.has_resource_properties("Custom::AWS", {"Create": Match.string_like_regexp(
        f'"region":"{MAIN}"')})


def test_main_publishes_its_vpc_and_routes_back(synthesized, main):
    main.has_resource_properties("AWS::SSM::Parameter", {
        "Name": schema.network_parameter_name(HOST, MAIN, "vpc-id"), "Value": {"Ref": Match.any_value()}})
    peering = synthesized.template(PEERING)
    peering.resource_count_is("AWS::EC2::Route", 3)  # the main VPC's 3 private route tables
    peering.has_resource_properties("AWS::EC2::Route", {
        "DestinationCidrBlock": "10.1.0.0/16",
        "RouteTableId": {"Ref": Match.string_like_regexp("SsmParameterValue")},  # not an export
        "VpcPeeringConnectionId": {"Fn::GetAtt": [Match.any_value(), "Parameter.Value"]}})


def test_unpeered_import_has_no_peering(ap):
    ap.resource_count_is("AWS::EC2::VPCPeeringConnection", 0)
    ap.resource_count_is("AWS::EC2::Route", 0)
