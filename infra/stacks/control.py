"""The main region's control stack: jobs table, its counters (a Lambda on the table's stream),
work queues, API, scaler, dashboard, images, discovery."""

from __future__ import annotations

from aws_cdk import Environment, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra import plan
from hyper_tui.aws.infra.components.access.construct import AccessPolicies
from hyper_tui.aws.infra.components.api.construct import JobsApi
from hyper_tui.aws.infra.components.counters.construct import Counters
from hyper_tui.aws.infra.components.dashboard.construct import Dashboard
from hyper_tui.aws.infra.components.discovery.construct import Discovery
from hyper_tui.aws.infra.components.images.construct import Images
from hyper_tui.aws.infra.components.jobs_table.construct import JobsTable
from hyper_tui.aws.infra.components.logs.construct import NamedLogGroup, retention
from hyper_tui.aws.infra.components.scaler.construct import Scaler
from hyper_tui.aws.infra.components.work_queues.construct import WorkQueues
from hyper_tui.aws.infra.lookups import Lookups
from hyper_tui.aws.scaler_config import build_scaler_config
from hyper_tui.config import HostConfig


class ControlStack(Stack):
    def __init__(self, scope: Construct, id: str, *, cfg: HostConfig, lookups: Lookups,
                 env: Environment, code: lambda_.Code) -> None:
        host = cfg.host.name
        super().__init__(scope, id, env=env, stack_name=id,
                         description=f"hyper-tui {host}: control plane (jobs table, work "
                                     "queues, submit API, scaler, dashboard)")
        days = cfg.host.settings.job_retention_days
        keep = retention(days)
        self.job_logs = NamedLogGroup(self, "JobLogs", name=schema.log_group_name(host),
                                      days=days).log_group
        self.jobs = JobsTable(self, "Jobs", host=host, settings=cfg.host.settings)
        self.counters = Counters(self, "Counters", host=host, table=self.jobs.table, code=code,
                                 retention=keep)
        pairs = plan.work_pairs(cfg)
        self.work = WorkQueues(self, "Work", host=host, pairs=pairs)
        endpoint = None
        if cfg.host.settings.private_api:  # published by the main compute stack
            endpoint = ssm.StringParameter.value_for_string_parameter(
                self, schema.network_parameter_name(host, cfg.host.main_region,
                                                    "api-endpoint-id"))
        self.api = JobsApi(self, "Api", host=host, code=code, table=self.jobs.table,
                           work_queues=dict(self.work.queues), queues=sorted(cfg.queues),
                           definitions=cfg.definitions, retention=keep,
                           job_retention_days=days, private_endpoint_id=endpoint)

        # Scoped policies for submitters, read-only users and on-prem workers (outputs).
        self.access = AccessPolicies(
            self, "Access", host=host,
            work_queue_arns=[q.queue_arn for _, q in sorted(self.work.queues.items())],
            api=self.api.api, api_key_id=self.api.api_key.key_id)

        scaler_json = build_scaler_config(cfg, lookups.raw).to_json()
        self.scaler = Scaler(
            self, "Scaler", host=host, table=self.jobs.table,
            work_queues=dict(self.work.queues), dead_letter=dict(self.work.dead_letter),
            job_logs=self.job_logs, config_json=scaler_json, regions=sorted(cfg.regions),
            job_queues=[schema.batch_job_queue_name(host, c) for c in sorted(cfg.clusters)],
            job_definitions=[schema.batch_job_definition_name(host, d)
                             for d in sorted(cfg.definitions)],
            retention=keep)

        self.dashboard = None
        if cfg.host.settings.enable_dashboard:
            self.dashboard = Dashboard(
                self, "Dashboard", host=host, queues=sorted(cfg.queues),
                work_queue_names=[schema.work_queue_name(host, q, d) for q, d in pairs],
                dead_letter_names=[schema.dead_letter_queue_name(host, q, d) for q, d in pairs])

        repo = schema.ecr_repository_name(host)
        self.images = None
        if cfg.images:
            self.images = Images(
                self, "Images", images=cfg.images, repository_name=repo, retention=keep,
                platforms={n: plan.image_platform(cfg, i) for n, i in cfg.images.items()},
                directories={n: plan.image_directory(cfg, i) for n, i in cfg.images.items()})

        self.discovery = Discovery(self, "Discovery", host=host, values={
            "ApiUrl": self.api.api.url,
            "JobsTableName": self.jobs.table.table_name,
            "LogGroupName": self.job_logs.log_group_name,
            "ApiKeyId": self.api.api_key.key_id,
            "MetricsNamespace": schema.metrics_namespace(host),
        })
