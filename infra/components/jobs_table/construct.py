"""The jobs table (schema.py data layout): PITR, encrypted, the GSIs of schema.INDEXES (keys
only: schema.PROJECTION), TTL on ``expires`` (finished jobs go after the host's retention), a
stream of old and new images (the counters Lambda reads it: infra/components/counters).

Capacity (host settings): on demand by default; ``table_capacity: provisioned`` sets
provisioned capacity with application auto scaling (target tracking at 70% utilisation)
on the table and on every index, between ``table_min/max_write_units`` and
``table_min/max_read_units``, for steady loads (100M jobs a day is ~1,160 jobs/s, ~7,000 write
units a second: on demand costs several times more at that rate). ``table_peak_jobs_per_s``
pre-warms a new table (WarmThroughput) for that rate from its first minute: a job writes the
table 3 times (submit, start, report), by_queue once and by_active twice (``WRITES_PER_JOB``).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from hyper_tui.aws import schema

S, N = dynamodb.AttributeType.STRING, dynamodb.AttributeType.NUMBER

# Write units a short job costs each part of the table (schema.py: keys-only indexes). by_queue
# is a single job's figure, the most: a batch's jobs share group items (hyper_tui.aws.groups).
WRITES_PER_JOB = {"table": 3, "by_queue": 1, "by_active": 2, "by_name": 1}
READS_PER_JOB = 1  # the worker's read of the job's item when its message arrives
# DynamoDB's floor for WarmThroughput (what every on-demand table starts with).
MIN_WARM_WRITES, MIN_WARM_READS = 4_000, 12_000
TARGET_UTILIZATION = 70


def warm(peak_jobs_per_s: int, part: str) -> dynamodb.WarmThroughput | None:
    """The WarmThroughput of ``part`` (the table or an index) for a peak of jobs a second."""
    if peak_jobs_per_s <= 0:
        return None
    return dynamodb.WarmThroughput(
        write_units_per_second=max(MIN_WARM_WRITES, WRITES_PER_JOB[part] * peak_jobs_per_s),
        read_units_per_second=max(MIN_WARM_READS, READS_PER_JOB * peak_jobs_per_s))


class JobsTable(Construct):
    def __init__(self, scope: Construct, id: str, *, host: str, settings: object | None = None
                 ) -> None:
        super().__init__(scope, id)
        provisioned = getattr(settings, "table_capacity", "on_demand") == "provisioned"
        peak = int(getattr(settings, "table_peak_jobs_per_s", 0) or 0)
        units = {k: int(getattr(settings, f"table_{k}_units", d)) for k, d in (
            ("min_write", 50), ("max_write", 40_000), ("min_read", 20), ("max_read", 10_000))}
        capacity: dict[str, object] = {"billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST}
        if provisioned:
            capacity = {"billing_mode": dynamodb.BillingMode.PROVISIONED,
                        "read_capacity": units["min_read"], "write_capacity": units["min_write"]}
        self.table = dynamodb.Table(
            self, "Table",
            table_name=schema.jobs_table_name(host),
            partition_key=dynamodb.Attribute(name="id", type=S),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            warm_throughput=warm(peak, "table"),
            # Kept when the stack is deleted or the table replaced, but deleted when its own
            # creation rolls back, so a failed first deploy leaves no name behind.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            **capacity,
        )
        types = {"S": S, "N": N}
        for name, pk, pk_type, sk, sk_type in schema.INDEXES:
            extra: dict[str, object] = {}
            if provisioned:
                extra = {"read_capacity": units["min_read"], "write_capacity": units["min_write"]}
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=pk, type=types[pk_type]),
                sort_key=dynamodb.Attribute(name=sk, type=types[sk_type]),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
                warm_throughput=warm(peak, name),
                **extra,
            )
        if provisioned:
            self._auto_scale(units)

    def _auto_scale(self, units: dict[str, int]) -> None:
        """Target tracking on the table's and every index's reads and writes."""
        t = self.table
        t.auto_scale_write_capacity(
            min_capacity=units["min_write"], max_capacity=units["max_write"]
        ).scale_on_utilization(target_utilization_percent=TARGET_UTILIZATION)
        t.auto_scale_read_capacity(
            min_capacity=units["min_read"], max_capacity=units["max_read"]
        ).scale_on_utilization(target_utilization_percent=TARGET_UTILIZATION)
        for name, *_ in schema.INDEXES:
            t.auto_scale_global_secondary_index_write_capacity(
                name, min_capacity=units["min_write"], max_capacity=units["max_write"]
            ).scale_on_utilization(target_utilization_percent=TARGET_UTILIZATION)
            t.auto_scale_global_secondary_index_read_capacity(
                name, min_capacity=units["min_read"], max_capacity=units["max_read"]
            ).scale_on_utilization(target_utilization_percent=TARGET_UTILIZATION)
