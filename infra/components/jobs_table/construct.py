"""The jobs table (schema.py data layout): on-demand, PITR, encrypted, the GSIs of schema.INDEXES
(projecting schema.INDEX_ATTRIBUTES), TTL."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from hyper_tui.aws import schema

S, N = dynamodb.AttributeType.STRING, dynamodb.AttributeType.NUMBER


class JobsTable(Construct):
    def __init__(self, scope: Construct, id: str, *, host: str) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self, "Table",
            table_name=schema.jobs_table_name(host),
            partition_key=dynamodb.Attribute(name="id", type=S),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute="expires",
            # Kept when the stack is deleted or the table replaced, but deleted when its own
            # creation rolls back, so a failed first deploy leaves no name behind.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        types = {"S": S, "N": N}
        for name, pk, pk_type, sk, sk_type in schema.INDEXES:
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=pk, type=types[pk_type]),
                sort_key=dynamodb.Attribute(name=sk, type=types[sk_type]),
                projection_type=dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=list(schema.index_attributes(name)),
            )
