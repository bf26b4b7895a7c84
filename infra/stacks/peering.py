"""The main region's peering stack: routes from the main VPC to each peered hub, through the
peering connection each hub's compute stack made (read from the hub's SSM parameter), in the
main VPC's route tables (read from the main compute stack's SSM parameters)."""

from __future__ import annotations

from aws_cdk import Environment, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra.components.peering.construct import (
    CrossRegionParameter,
    MainPeeringRoutes,
    suppress_sdk_provider,
)
from hyper_tui.aws.infra.stacks.compute import ComputeStack, route_table_parameter


class PeeringStack(Stack):
    def __init__(self, scope: Construct, id: str, *, host: str, env: Environment,
                 main: ComputeStack, hubs: dict[str, ComputeStack]) -> None:
        super().__init__(scope, id, env=env, stack_name=id,
                         description=f"hyper-tui {host}: main VPC routes to peered hubs")
        self.routes: dict[str, MainPeeringRoutes] = {}
        # The main VPC's route tables, from the SSM parameters its compute stack publishes
        # (resolved at deploy time; a cross-stack export would pin them).
        tables = [ssm.StringParameter.value_for_string_parameter(
            self, route_table_parameter(host, main.region, i))
            for i in range(len(main.network.worker_route_table_ids))]
        for name, hub in sorted(hubs.items()):
            peering_id = CrossRegionParameter(
                self, f"PeeringId-{name}", region=name,
                name=schema.network_parameter_name(host, name, "peering-id")).value
            self.routes[name] = MainPeeringRoutes(
                self, f"To-{name}", route_table_ids=tables,
                hub_cidr=hub.network.cidr, peering_connection_id=peering_id)
            self.add_stack_dependency(hub, "the hub's peering connection exists")
        suppress_sdk_provider(self)
