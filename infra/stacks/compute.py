"""A region's compute stack: network, workers' security group and logs, the host's ECR
repository, each cluster's Batch compute environments and job queue, the job definitions,
and (for a peered hub) the peering connection to the main VPC."""

from __future__ import annotations

from aws_cdk import Annotations, Environment, Stack
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra import plan
from hyper_tui.aws.infra.components.batch.construct import ClusterCompute, JobDefinitions, security_group
from hyper_tui.aws.infra.components.images.construct import ImageRepository
from hyper_tui.aws.infra.components.logs.construct import NamedLogGroup, retention
from hyper_tui.aws.infra.components.network.construct import Network
from hyper_tui.aws.infra.components.peering.construct import (
    CrossRegionParameter,
    HubPeering,
    NetworkParameter,
    suppress_sdk_provider,
)
from hyper_tui.aws.infra.lookups import Lookups
from hyper_tui.config import HostConfig
from hyper_tui.model import Region, SubnetConfig


def route_table_parameter(host: str, region: str, index: int) -> str:
    """The SSM parameter holding the id of a worker route table of ``region``'s VPC."""
    return schema.network_parameter_name(host, region, f"route-table-{index}")


class ComputeStack(Stack):
    def __init__(self, scope: Construct, id: str, *, cfg: HostConfig, lookups: Lookups,
                 region: Region, env: Environment) -> None:
        host = cfg.host.name
        super().__init__(scope, id, env=env, stack_name=id,
                         description=f"hyper-tui {host}: compute in {region.name} (VPC, AWS "
                                     "Batch, job definitions, image repository)")
        days = cfg.host.settings.job_retention_days
        imported = lookups.imported_vpc(region.name) if region.vpc_id else None
        self.network = Network(self, "Network", region=region, imported=imported,
                               zones=list(lookups.zones(region.name)), retention=retention(days))
        if not region.main and region.subnet_config is SubnetConfig.PRIVATE_ISOLATED \
                and not region.vpc_id:
            Annotations.of(self).add_warning_v2(
                "hyper:isolated-hub",
                f"{region.name}: workers in PRIVATE_ISOLATED subnets of a hub cannot reach the "
                f"main region's work queues and jobs table ({cfg.host.main_region}); VPC "
                "endpoints serve their own region only. Use PRIVATE_WITH_NAT.")
        self.security_group = security_group(self, "WorkerSecurityGroup", self.network.vpc)
        self.worker_logs = NamedLogGroup(self, "WorkerLogs",
                                         name=schema.worker_log_group_name(host),
                                         days=days).log_group
        self.repository = ImageRepository(self, "Images",
                                          name=schema.ecr_repository_name(host)).repository
        self.clusters = {
            name: ClusterCompute(
                self, f"Cluster-{name}", host=host, cluster=cluster,
                subnet_ids=self.network.worker_subnet_ids, security_group=self.security_group,
                ami_id=lookups.ami(name, region.name, cluster.ami_name)
                if cluster.ami_name else None,
                ami_root=lookups.ami_root(name, region.name) if cluster.ami_name else None)
            for name, cluster in sorted(cfg.clusters.items())}
        for cluster in cfg.clusters.values():
            plan.cluster_architecture(cluster)  # one architecture each (refused otherwise)
        arches = plan.definition_architectures(cfg)
        for name, d in sorted(cfg.definitions.items()):
            if d.image_uri and "arm64" in arches[name]:
                Annotations.of(self).add_warning_v2(
                    "hyper:arm64-image-uri",
                    f"definitions.{name}: runs on arm64 (Graviton) instances; its image_uri "
                    f"{d.image_uri} must have a linux/arm64 variant (docker buildx build "
                    "--platform linux/arm64).")
        self.job_definitions = JobDefinitions(
            self, "JobDefinitions", host=host, main_region=cfg.host.main_region,
            queues=sorted(cfg.queues), definitions=cfg.definitions,
            images={n: plan.definition_image(cfg, d, region.name)
                    for n, d in cfg.definitions.items()},
            environments={n: plan.worker_environment(cfg, d, region.name)
                          for n, d in cfg.definitions.items()},
            worker_log_group=self.worker_logs.log_group_name)
        NetworkParameter(self, "VpcIdParameter", value=self.network.vpc.vpc_id,
                         name=schema.network_parameter_name(host, region.name, "vpc-id"))
        if region.main and any(r.peer_with_main for r in cfg.regions.values()):
            # The peering stack reads these (no cross-stack export, which would pin the route
            # tables and so the main VPC: CloudFormation refuses to replace an exported value).
            for i, table in enumerate(self.network.worker_route_table_ids):
                NetworkParameter(self, f"RouteTableParameter{i}", value=table,
                                 name=route_table_parameter(host, region.name, i))
        if region.main and cfg.host.settings.private_api:
            NetworkParameter(self, "ApiEndpointParameter",
                             value=self.network.add_api_endpoint().vpc_endpoint_id,
                             name=schema.network_parameter_name(host, region.name,
                                                                "api-endpoint-id"))
        self.peering = None
        if region.peer_with_main:
            main = cfg.regions[cfg.host.main_region]
            if main.vpc_id:  # imported: known before synth
                main_vpc_id = main.vpc_id
            else:
                main_vpc_id = CrossRegionParameter(
                    self, "MainVpcId", region=main.name,
                    name=schema.network_parameter_name(host, main.name, "vpc-id")).value
            self.peering = HubPeering(
                self, "Peering", vpc_id=self.network.vpc.vpc_id,
                route_table_ids=self.network.worker_route_table_ids,
                main_vpc_id=main_vpc_id, main_cidr=plan.vpc_cidr(main, lookups),
                main_region=main.name, account=self.account)
            NetworkParameter(self, "PeeringIdParameter", value=self.peering.connection.ref,
                             name=schema.network_parameter_name(host, region.name, "peering-id"))
            suppress_sdk_provider(self)
