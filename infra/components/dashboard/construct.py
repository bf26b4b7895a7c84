"""The CloudWatch dashboard: jobs by state, throughput, workers and vCPUs per region.

It draws the metrics of schema.METRIC_* in the host's namespace with SEARCH expressions, so
every queue and region appears without the dashboard knowing them in advance.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from hyper_tui.aws import schema


def _search(namespace: str, dims: str, metric: str, stat: str, label: str) -> cw.MathExpression:
    return cw.MathExpression(
        expression=f"SEARCH('{{{namespace},{dims}}} MetricName=\"{metric}\"', '{stat}', 60)",
        label=label, period=Duration.minutes(1), using_metrics={})


class Dashboard(Construct):
    def __init__(self, scope: Construct, id: str, *, host: str, queues: list[str],
                 work_queue_names: list[str], dead_letter_names: list[str]) -> None:
        super().__init__(scope, id)
        ns = schema.metrics_namespace(host)
        self.dashboard = cw.Dashboard(self, "Dashboard",
                                      dashboard_name=f"{schema.stack_prefix(host)}-jobs",
                                      default_interval=Duration.hours(3))
        wide, half = 24, 12
        self.dashboard.add_widgets(
            cw.TextWidget(markdown=f"# hyper-tui host **{host}**: queues {', '.join(queues)}",
                          width=wide, height=1))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Jobs by state (per queue)", width=wide, height=6, stacked=True,
                           left=[_search(ns, "Queue,State", schema.METRIC_JOBS, "Maximum",
                                         "jobs")]))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Throughput: submitted per minute", width=half, height=6,
                           left=[_search(ns, "Queue", schema.METRIC_SUBMITTED, "Sum",
                                         "submitted")]),
            cw.GraphWidget(title="Throughput: finished per minute", width=half, height=6,
                           left=[_search(ns, "Queue", schema.METRIC_FINISHED, "Sum",
                                         "finished")]))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Workers per region", width=half, height=6, stacked=True,
                           left=[_search(ns, "Region", schema.METRIC_WORKERS, "Maximum",
                                         "workers")]),
            cw.GraphWidget(title="vCPUs per region", width=half, height=6, stacked=True,
                           left=[_search(ns, "Region", schema.METRIC_VCPUS, "Maximum",
                                         "vCPUs")]))
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Backlog: queued jobs per definition", width=half, height=6,
                           left=[_search(ns, "Definition", schema.METRIC_BACKLOG, "Maximum",
                                         "queued")]),
            cw.GraphWidget(title="Jobs failed by the dead-letter sweep", width=half, height=6,
                           left=[_search(ns, "Queue", schema.METRIC_DEAD_LETTERED, "Sum",
                                         "dead-lettered")]))
        backlog = [cw.Metric(namespace="AWS/SQS",
                             metric_name="ApproximateNumberOfMessagesVisible",
                             dimensions_map={"QueueName": n}, statistic="Maximum",
                             period=Duration.minutes(1), label=n)
                   for n in work_queue_names[:50]]
        dead = [cw.Metric(namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                          dimensions_map={"QueueName": n}, statistic="Maximum",
                          period=Duration.minutes(5), label=n)
                for n in dead_letter_names[:50]]
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Work queue backlog (messages of up to 10 jobs)", width=half,
                           height=6, left=backlog),
            cw.GraphWidget(title="Dead-letter queues", width=half, height=6, left=dead))
