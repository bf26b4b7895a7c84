"""Hub <-> main VPC peering (same account, across regions), wired through SSM parameters.

* The main compute stack publishes its VPC id as an SSM parameter in the main region
  (:class:`NetworkParameter`, ``schema.network_parameter_name(host, main, "vpc-id")``).
* A peered hub's compute stack reads it (:class:`CrossRegionParameter`: a custom resource
  calling SSM GetParameter in the main region, at deploy time), owns the peering connection
  (requester: the hub VPC; accepter: the main VPC, accepted by CloudFormation since both are
  in one account) and its routes to the main CIDR, and publishes the connection id in its
  own region.
* The main region's peering stack reads each hub's connection id the same way and adds the
  main VPC's routes back to each hub.

CIDRs need no look-up: they are declared (created VPCs) or looked up before synth (imported
ones). Every construct is created eagerly, so cdk-nag sees all of them; stack dependencies
order the deployment (main compute, then hubs, then the peering stack).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from constructs import Construct

from hyper_tui.aws.infra.nag import suppress


class NetworkParameter(Construct):
    """``parameter``: a network value published in this stack's region."""

    def __init__(self, scope: Construct, id: str, *, name: str, value: str) -> None:
        super().__init__(scope, id)
        self.parameter = ssm.StringParameter(self, "Parameter", parameter_name=name,
                                             string_value=value,
                                             description="hyper-tui network value")


class CrossRegionParameter(Construct):
    """``value``: an SSM parameter of another region, read at deploy time."""

    def __init__(self, scope: Construct, id: str, *, name: str, region: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        arn = stack.format_arn(service="ssm", region=region, resource="parameter",
                               resource_name=name.lstrip("/"))
        call = cr.AwsSdkCall(service="SSM", action="getParameter", parameters={"Name": name},
                             region=region,
                             physical_resource_id=cr.PhysicalResourceId.of(f"{region}:{name}"))
        self.resource = cr.AwsCustomResource(
            self, "Read", on_create=call, on_update=call, install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[arn]))
        self.value = self.resource.get_response_field("Parameter.Value")


def suppress_sdk_provider(stack: Stack) -> None:
    """Reasons for the findings on CDK's shared AwsCustomResource function (one per stack)."""
    provider = stack.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
    if provider is None:
        return
    suppress(provider, "AwsSolutions-IAM4",
             "CDK's AwsCustomResource function uses the AWS-managed "
             "AWSLambdaBasicExecutionRole for its own logs; its other permission is one "
             "ssm:GetParameter on a named parameter.", ["re:AWSLambdaBasicExecutionRole$"])
    suppress(provider, "AwsSolutions-L1",
             "The runtime of CDK's AwsCustomResource function is chosen by aws-cdk-lib "
             "and moves with its releases; it only reads one SSM parameter at deploy time.")


class HubPeering(Construct):
    """``connection`` from the hub VPC to the main VPC, and ``routes`` to the main CIDR."""

    def __init__(self, scope: Construct, id: str, *, vpc_id: str, route_table_ids: list[str],
                 main_vpc_id: str, main_cidr: str, main_region: str, account: str) -> None:
        super().__init__(scope, id)
        self.connection = ec2.CfnVPCPeeringConnection(
            self, "Connection", vpc_id=vpc_id, peer_vpc_id=main_vpc_id,
            peer_region=main_region, peer_owner_id=account)
        self.routes = [
            ec2.CfnRoute(self, f"ToMain{i}", route_table_id=table,
                         destination_cidr_block=main_cidr,
                         vpc_peering_connection_id=self.connection.ref)
            for i, table in enumerate(route_table_ids)]


class MainPeeringRoutes(Construct):
    """Routes from the main VPC's worker subnets to one peered hub's CIDR."""

    def __init__(self, scope: Construct, id: str, *, route_table_ids: list[str], hub_cidr: str,
                 peering_connection_id: str) -> None:
        super().__init__(scope, id)
        self.routes = [
            ec2.CfnRoute(self, f"ToHub{i}", route_table_id=table,
                         destination_cidr_block=hub_cidr,
                         vpc_peering_connection_id=peering_connection_id)
            for i, table in enumerate(route_table_ids)]
