"""AWS Batch in one region: each cluster's compute environments and job queue, and a job
definition (with its least-privilege job role) per host definition."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from hyper_tui.aws import schema
from hyper_tui.aws.infra import plan
from hyper_tui.aws.infra.components.access.construct import worker_statements
from hyper_tui.aws.infra.nag import suppress
from hyper_tui.model import AllocationStrategy, CapacityType, Cluster, Definition

CE = batch.CfnComputeEnvironment
JD = batch.CfnJobDefinition


ROOT_VOLUME_GIB = 30  # the workers' root volume (an AMI's own larger size is kept)


class ClusterCompute(Construct):
    """One cluster in one region: ``instance_role``, ``launch_template``,
    ``compute_environments`` (``compute_envs`` of them, max vCPUs split evenly, rounded up)
    and the ``job_queue`` that orders them."""

    def __init__(self, scope: Construct, id: str, *, host: str, cluster: Cluster,
                 subnet_ids: list[str], security_group: ec2.ISecurityGroup,
                 ami_id: str | None, ami_root: tuple[str, int] | None = None) -> None:
        """``ami_root`` is the (device name, GiB) of ``ami_id``'s root volume: it is mapped
        again, encrypted, so no worker's disk depends on how the AMI or the account encrypt."""
        super().__init__(scope, id)
        self.instance_role = iam.Role(
            self, "InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"hyper-tui {host}: ECS instances of cluster {cluster.name}",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AmazonEC2ContainerServiceforEC2Role")]
            + [iam.ManagedPolicy.from_managed_policy_name(self, f"Policy{i}", p)
               for i, p in enumerate(cluster.iam_policies)])
        self.instance_profile = iam.CfnInstanceProfile(
            self, "InstanceProfile", roles=[self.instance_role.role_name])
        device, size = ami_root if ami_id and ami_root else ("/dev/xvda", 0)
        block_devices = [ec2.BlockDevice(
            device_name=device,
            volume=ec2.BlockDeviceVolume.ebs(max(ROOT_VOLUME_GIB, size), encrypted=True,
                                             volume_type=ec2.EbsDeviceVolumeType.GP3))]
        # IMDSv2 with a hop limit of 1: the ECS agent (host network) reaches the instance
        # metadata, a job's container (one hop further) does not, so no job falls back to the
        # instance role's credentials; jobs and the worker agent use their job role.
        self.launch_template = ec2.LaunchTemplate(
            self, "LaunchTemplate", require_imdsv2=True, http_put_response_hop_limit=1,
            block_devices=block_devices)
        spot = cluster.type is CapacityType.SPOT
        fleet_role = None
        if spot and cluster.allocation_strategy is AllocationStrategy.BEST_FIT:
            fleet_role = iam.Role(
                self, "SpotFleetRole", assumed_by=iam.ServicePrincipal("spotfleet.amazonaws.com"),
                managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonEC2SpotFleetTaggingRole")])
            suppress(fleet_role, "AwsSolutions-IAM4",
                     "AWS Batch needs the AWS-managed AmazonEC2SpotFleetTaggingRole policy on "
                     "the Spot Fleet role of a BEST_FIT spot compute environment.",
                     ["re:AmazonEC2SpotFleetTaggingRole$"])
        tags = {"hyper:host": host, "hyper:cluster": cluster.name, **cluster.tags}
        ec2_config = [CE.Ec2ConfigurationObjectProperty(image_type="ECS_AL2023",
                                                        image_id_override=ami_id)]
        if not ami_id:
            ec2_config.append(CE.Ec2ConfigurationObjectProperty(image_type="ECS_AL2023_NVIDIA"))
        self.compute_environments: list[CE] = []
        for i, vcpus in enumerate(plan.split_vcpus(cluster.max_vcpus, cluster.compute_envs), 1):
            resources = CE.ComputeResourcesProperty(
                type="SPOT" if spot else "EC2",
                allocation_strategy=cluster.allocation_strategy.value,
                minv_cpus=0, maxv_cpus=vcpus,
                instance_types=list(cluster.instance_types),
                subnets=subnet_ids, security_group_ids=[security_group.security_group_id],
                instance_role=self.instance_profile.attr_arn,
                bid_percentage=cluster.bid_percentage if spot else None,
                spot_iam_fleet_role=fleet_role.role_arn if fleet_role else None,
                launch_template=CE.LaunchTemplateSpecificationProperty(
                    launch_template_id=self.launch_template.launch_template_id,
                    version=self.launch_template.latest_version_number),
                ec2_configuration=ec2_config,
                update_to_latest_image_version=ami_id is None,
                tags=tags)
            self.compute_environments.append(CE(
                # No name: CloudFormation generates one, so that a replacing update (SPOT to
                # ON_DEMAND, another allocation strategy) can create the new one first.
                # emergency-stop finds them through the job queue.
                self, f"Env{i}", type="MANAGED", state="ENABLED",
                replace_compute_environment=cluster.allocation_strategy
                is AllocationStrategy.BEST_FIT,
                compute_resources=resources, tags=tags))
        self.job_queue = batch.CfnJobQueue(
            self, "JobQueue", job_queue_name=schema.batch_job_queue_name(host, cluster.name),
            priority=1, state="ENABLED",
            compute_environment_order=[
                batch.CfnJobQueue.ComputeEnvironmentOrderProperty(
                    order=i, compute_environment=ce.attr_compute_environment_arn)
                for i, ce in enumerate(self.compute_environments, 1)],
            job_state_time_limit_actions=[
                batch.CfnJobQueue.JobStateTimeLimitActionProperty(
                    action="CANCEL", max_time_seconds=600, reason=reason, state="RUNNABLE")
                for reason in ("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
                               "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT")],
            tags=tags)
        suppress(self.instance_role, "AwsSolutions-IAM4",
                 "ECS container instances of AWS Batch use the AWS-managed "
                 "AmazonEC2ContainerServiceforEC2Role (ECS agent, image pulls, awslogs); the "
                 "jobs themselves run with their own least-privilege job role.",
                 ["re:AmazonEC2ContainerServiceforEC2Role$"])


class JobDefinitions(Construct):
    """``roles[name]`` (the worker agent's), ``job_roles[name]`` (its jobs') and
    ``definitions[name]`` for each host definition in this region.

    The definition's Batch job role is the *agent's*: it may only use its own definition's
    work queues (one per queue), read and write jobs-table items (and query its indexes),
    write its job logs, put metrics in the host's namespace and assume its jobs' role.
    Everything lives in the main region, named by schema.py.

    The jobs get a role of their own (``JobRole-<name>``), carrying the definition's
    ``iam_policies`` and nothing of the host: it trusts the agent role only; the agent assumes
    it and serves the job its temporary credentials (``worker/job_credentials.py``), so job code
    can neither write the jobs table nor read the work queues."""

    def __init__(self, scope: Construct, id: str, *, host: str, main_region: str,
                 queues: list[str], definitions: dict[str, Definition],
                 images: dict[str, str], environments: dict[str, dict[str, str]],
                 worker_log_group: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        account = stack.account

        def arn(service: str, resource: str) -> str:
            return f"arn:{Aws.PARTITION}:{service}:{main_region}:{account}:{resource}"

        self.roles: dict[str, iam.Role] = {}
        self.job_roles: dict[str, iam.Role] = {}
        self.definitions: dict[str, JD] = {}
        for name, d in sorted(definitions.items()):
            role = iam.Role(
                self, f"Role-{name}",
                assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com", conditions={
                    "StringEquals": {"aws:SourceAccount": account}}),
                description=f"hyper-tui {host}: worker agents of definition {name}")
            job_role = iam.Role(
                self, f"JobRole-{name}", assumed_by=iam.ArnPrincipal(role.role_arn),
                description=f"hyper-tui {host}: jobs of definition {name} (assumed by its "
                            "worker agent only)",
                max_session_duration=Duration.hours(1),  # role chaining: 1 hour at most
                managed_policies=[iam.ManagedPolicy.from_managed_policy_name(
                    self, f"Policy-{name}-{i}", p) for i, p in enumerate(d.iam_policies)] or None)
            role.add_to_policy(iam.PolicyStatement(sid="JobRole", actions=["sts:AssumeRole"],
                                                   resources=[job_role.role_arn]))
            self.job_roles[name] = job_role
            for statement in worker_statements(host, main_region, [
                    arn("sqs", schema.work_queue_name(host, q, name)) for q in queues]):
                role.add_to_policy(statement)
            suppress(role, "AwsSolutions-IAM5",
                     "A worker writes its own log stream (named after the worker, created at "
                     "start) into the host's job log group (log-group:<name>:*), its control "
                     "queue is one of <host>-ctl-* (named after the worker, created at its first "
                     "job).",
                     [r"re:log-group:.*:\*$", r"re:.*-ctl-\*$"])
            self.roles[name] = role
            self.definitions[name] = JD(
                self, f"Def-{name}", type="container",
                job_definition_name=schema.batch_job_definition_name(host, name),
                platform_capabilities=["EC2"], propagate_tags=True,
                retry_strategy=JD.RetryStrategyProperty(attempts=1),
                timeout=(JD.TimeoutProperty(attempt_duration_seconds=d.timeout_minutes * 60)
                         if d.timeout_minutes else None),
                container_properties=self._container(d, images[name], {
                    **environments[name], schema.JOB_ROLE_ENV: job_role.role_arn},
                                                     role.role_arn, worker_log_group,
                                                     stack.region),
                tags={"hyper:host": host, "hyper:definition": name})

    @staticmethod
    def _container(d: Definition, image: str, env: dict[str, str], role_arn: str,
                   log_group: str, region: str) -> JD.ContainerPropertiesProperty:
        resources = [JD.ResourceRequirementProperty(type="VCPU", value=str(d.vcpus)),
                     JD.ResourceRequirementProperty(type="MEMORY", value=str(d.memory_mib))]
        if d.gpus:
            resources.append(JD.ResourceRequirementProperty(type="GPU", value=str(d.gpus)))
        if d.log_driver is None or d.log_driver.value == "awslogs":
            log = JD.LogConfigurationProperty(log_driver="awslogs", options={
                "awslogs-group": log_group, "awslogs-region": region,
                "awslogs-stream-prefix": d.name, **d.log_options})
        else:
            log = JD.LogConfigurationProperty(log_driver=d.log_driver.value,
                                              options=dict(d.log_options) or None)
        lp = d.linux_parameters
        return JD.ContainerPropertiesProperty(
            image=image, command=["/start.sh"], job_role_arn=role_arn,
            resource_requirements=resources,
            environment=[JD.EnvironmentProperty(name=k, value=v) for k, v in sorted(env.items())],
            mount_points=[JD.MountPointsProperty(container_path=m.container_path,
                                                source_volume=m.source_volume,
                                                read_only=m.read_only)
                          for m in d.mount_points] or None,
            volumes=[JD.VolumesProperty(name=v.name,
                                        host=JD.VolumesHostProperty(source_path=v.source_path))
                     for v in d.host_volumes] or None,
            ulimits=[JD.UlimitProperty(name=u.name, soft_limit=u.soft_limit,
                                       hard_limit=u.hard_limit) for u in d.ulimits] or None,
            linux_parameters=JD.LinuxParametersProperty(
                init_process_enabled=lp.init_process_enabled,
                shared_memory_size=lp.shared_memory_size, max_swap=lp.max_swap,
                swappiness=lp.swappiness) if lp else None,
            privileged=d.privileged, user=d.user, log_configuration=log,
            readonly_root_filesystem=False)


def security_group(scope: Construct, id: str, vpc: ec2.IVpc) -> ec2.SecurityGroup:
    """Workers' security group: no inbound rule, all outbound (SQS, DynamoDB, ECR...)."""
    return ec2.SecurityGroup(scope, id, vpc=vpc, allow_all_outbound=True,
                             description="hyper-tui workers: outbound only")

