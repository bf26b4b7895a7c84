"""Log groups of a host: the job logs (main region) and the worker containers' own output."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyper_tui.aws.infra import plan

_BY_DAYS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention nearest to ``days``."""
    return getattr(logs.RetentionDays, _BY_DAYS[plan.nearest_retention(days)])


class NamedLogGroup(Construct):
    """``log_group``: a log group with a schema.py name, kept when its stack is deleted or it
    is replaced, deleted when its creation rolls back (a failed first deploy can be retried)."""

    def __init__(self, scope: Construct, id: str, *, name: str, days: int) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(self, "LogGroup", log_group_name=name,
                                       retention=retention(days),
                                       removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
