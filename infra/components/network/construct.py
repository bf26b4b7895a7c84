"""A region's network: its VPC (created, or imported from looked-up ids) and VPC endpoints."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyper_tui.aws.infra.lookups import ImportedVpc
from hyper_tui.aws.infra.nag import suppress
from hyper_tui.model import Region, SubnetConfig, VpcEndpoints

GATEWAY = {"S3": ec2.GatewayVpcEndpointAwsService.S3,
           "DynamoDb": ec2.GatewayVpcEndpointAwsService.DYNAMODB}
DATA_INTERFACES = {"EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
                   "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
                   "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
                   "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS}
PRIVATE_INTERFACES = {"Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,
                      "EcsAgent": ec2.InterfaceVpcEndpointAwsService.ECS_AGENT,
                      "EcsTelemetry": ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
                      "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
                      "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
                      "Sts": ec2.InterfaceVpcEndpointAwsService.STS}

_SUBNETS = {
    SubnetConfig.PUBLIC: [ec2.SubnetConfiguration(name="Public", cidr_mask=20,
                                                  subnet_type=ec2.SubnetType.PUBLIC)],
    SubnetConfig.PRIVATE_ISOLATED: [ec2.SubnetConfiguration(
        name="Isolated", cidr_mask=20, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    SubnetConfig.PRIVATE_WITH_NAT: [
        ec2.SubnetConfiguration(name="Public", cidr_mask=24, subnet_type=ec2.SubnetType.PUBLIC),
        ec2.SubnetConfiguration(name="Private", cidr_mask=20,
                                subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
}
_WORKER_TYPE = {SubnetConfig.PUBLIC: ec2.SubnetType.PUBLIC,
                SubnetConfig.PRIVATE_ISOLATED: ec2.SubnetType.PRIVATE_ISOLATED,
                SubnetConfig.PRIVATE_WITH_NAT: ec2.SubnetType.PRIVATE_WITH_EGRESS}


def _mask(cidr: str, wanted: int, subnets: int) -> int:
    """A subnet mask that fits ``subnets`` subnets in ``cidr`` (wanted, or smaller)."""
    prefix = int(cidr.split("/")[1])
    room = max(prefix + (subnets - 1).bit_length(), wanted)
    return min(room, 28)


class Network(Construct):
    """``vpc``, ``cidr``, ``worker_subnet_ids`` and ``worker_route_table_ids`` (where the
    Batch instances run), ``endpoints`` by name."""

    def __init__(self, scope: Construct, id: str, *, region: Region, zones: list[str],
                 imported: ImportedVpc | None, retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        self.endpoints: dict[str, ec2.IVpcEndpoint] = {}
        self.created = imported is None
        if imported is not None:
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=imported.vpc_id, vpc_cidr_block=imported.cidr,
                availability_zones=list(imported.availability_zones),
                private_subnet_ids=list(imported.private_subnet_ids) or None,
                private_subnet_route_table_ids=list(imported.private_route_table_ids) or None,
                isolated_subnet_ids=list(imported.isolated_subnet_ids) or None,
                isolated_subnet_route_table_ids=list(imported.isolated_route_table_ids) or None,
                public_subnet_ids=list(imported.public_subnet_ids) or None,
                public_subnet_route_table_ids=list(imported.public_route_table_ids) or None)
            self.cidr = imported.cidr
            subnet_ids, tables = imported.worker_subnets()
            self.worker_subnet_ids = list(subnet_ids)
            self.worker_route_table_ids = sorted(set(tables))
            kind = (ec2.SubnetType.PRIVATE_WITH_EGRESS if imported.private_subnet_ids else
                    ec2.SubnetType.PRIVATE_ISOLATED if imported.isolated_subnet_ids else
                    ec2.SubnetType.PUBLIC)
        else:
            assert region.vpc_cidr is not None
            zones = list(zones[:3])
            layout = [ec2.SubnetConfiguration(
                name=c.name, subnet_type=c.subnet_type,
                cidr_mask=_mask(region.vpc_cidr, c.cidr_mask or 24,
                                len(zones) * len(_SUBNETS[region.subnet_config])))
                for c in _SUBNETS[region.subnet_config]]
            flow_logs = logs.LogGroup(self, "FlowLogs", retention=retention)
            self.vpc = ec2.Vpc(
                self, "Vpc", ip_addresses=ec2.IpAddresses.cidr(region.vpc_cidr),
                availability_zones=zones, subnet_configuration=layout,
                nat_gateways=(max(1, region.nat_gateways)
                              if region.subnet_config is SubnetConfig.PRIVATE_WITH_NAT else 0),
                enable_dns_hostnames=True, enable_dns_support=True,
                restrict_default_security_group=False,
                flow_logs={"FlowLog": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.REJECT)})
            self.cidr = region.vpc_cidr
            kind = _WORKER_TYPE[region.subnet_config]
            subnets = self.vpc.select_subnets(subnet_type=kind).subnets
            self.worker_subnet_ids = [s.subnet_id for s in subnets]
            self.worker_route_table_ids = [s.route_table.route_table_id for s in subnets]
        self.worker_subnets = ec2.SubnetSelection(subnet_type=kind)
        self._endpoints(region.vpc_endpoints)

    def add_api_endpoint(self) -> ec2.InterfaceVpcEndpoint:
        """The execute-api endpoint through which a private submit API is reached."""
        endpoint = self.vpc.add_interface_endpoint(
            "ExecuteApi", service=ec2.InterfaceVpcEndpointAwsService.APIGATEWAY,
            subnets=ec2.SubnetSelection(subnet_type=self.worker_subnets.subnet_type,
                                        one_per_az=True),
            private_dns_enabled=True)
        suppress(endpoint, "AwsSolutions-EC23",
                 "The endpoint's security group admits HTTPS only from the VPC's own CIDR "
                 "(a reference to the VPC, which the rule cannot evaluate), never 0.0.0.0/0.")
        self.endpoints["ExecuteApi"] = endpoint
        return endpoint

    def _endpoints(self, which: VpcEndpoints) -> None:
        if which is VpcEndpoints.OFF:
            return
        for name, service in GATEWAY.items():
            self.endpoints[name] = self.vpc.add_gateway_endpoint(
                name, service=service, subnets=[self.worker_subnets])
        interfaces = dict(DATA_INTERFACES)
        if which is VpcEndpoints.FOR_PRIVATE_VPC:
            interfaces.update(PRIVATE_INTERFACES)
        one_per_az = ec2.SubnetSelection(subnet_type=self.worker_subnets.subnet_type,
                                         one_per_az=True)
        for name, service in interfaces.items():
            endpoint = self.vpc.add_interface_endpoint(
                name, service=service, subnets=one_per_az, private_dns_enabled=True)
            suppress(endpoint, "AwsSolutions-EC23",
                     "The endpoint's security group admits HTTPS only from the VPC's own CIDR "
                     "(a reference to the VPC, which the rule cannot evaluate), never 0.0.0.0/0.")
            self.endpoints[name] = endpoint
