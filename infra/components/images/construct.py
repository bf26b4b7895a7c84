"""Host images: built from their directories as CDK Docker assets in the main region, copied
into the host's ECR repository as ``<repo>:<image name>``, and replicated by ECR to the hubs.
The copy is a custom resource whose Lambda is ``handler.py`` beside this file.

The repositories themselves (scan on push, KMS encryption) are made by each region's compute
stack (``ImageRepository``). The registry's replication configuration is account-wide: no
stack owns it; ``hyper-tui deploy`` merges the host's rule into it before the stacks
(``hyper_tui.aws.account_settings``), and the control stack, deployed after every compute
stack, copies the first image once each hub's repository exists.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hyper_tui.aws.infra.components.code import RUNTIME
from hyper_tui.aws.infra.nag import suppress
from hyper_tui.model import Image

# The copier's own asset: this folder, of which its Lambda runs handler.py only.
COPY_CODE = Path(__file__).resolve().parent
COPY_LEFT_OUT = ["__pycache__", "__init__.py", "construct.py"]


class ImageRepository(Construct):
    """The host's ECR repository in one region."""

    def __init__(self, scope: Construct, id: str, *, name: str) -> None:
        super().__init__(scope, id)
        self.repository = ecr.Repository(
            self, "Repository", repository_name=name,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,  # retried after a rollback
            image_scan_on_push=True,
            encryption=ecr.RepositoryEncryption.KMS,
            image_tag_mutability=ecr.TagMutability.MUTABLE,
            lifecycle_rules=[ecr.LifecycleRule(
                description="drop untagged images after 14 days",
                tag_status=ecr.TagStatus.UNTAGGED, max_image_age=Duration.days(14))],
        )


class Images(Construct):
    """``assets[name]`` (the Docker asset) and ``copies[name]`` (the copy into the repo)."""

    def __init__(self, scope: Construct, id: str, *, images: dict[str, Image],
                 directories: dict[str, Path], repository_name: str,
                 retention: logs.RetentionDays, platforms: dict[str, str] | None = None) -> None:
        """``platforms[name]``: ``linux/arm64`` for an image of Graviton clusters
        (``plan.image_platform``); default ``linux/amd64``."""
        super().__init__(scope, id)
        repository = ecr.Repository.from_repository_name(self, "Repository", repository_name)
        self.role = iam.Role(self, "CopyRole",
                             assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description="hyper-tui: copy built images into the host repository")
        log_group = logs.LogGroup(self, "CopyLogs", retention=retention)
        log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self, "CopyFunction", runtime=RUNTIME, architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(COPY_CODE), exclude=COPY_LEFT_OUT),
            handler="handler.handler", memory_size=1024, timeout=Duration.minutes(15),
            role=self.role, log_group=log_group)
        repository.grant_push(self.role)
        repository.grant(self.role, "ecr:BatchGetImage")
        self.assets: dict[str, ecr_assets.DockerImageAsset] = {}
        self.copies: dict[str, CustomResource] = {}
        for name, image in sorted(images.items()):
            asset = ecr_assets.DockerImageAsset(
                self, f"Asset-{name}", directory=str(directories[name]),
                build_args=dict(image.build_args) or None,
                platform=ecr_assets.Platform.custom((platforms or {}).get(name, "linux/amd64")))
            asset.repository.grant_pull(self.role)
            self.assets[name] = asset
            self.copies[name] = CustomResource(
                self, f"Copy-{name}", service_token=self.function.function_arn,
                resource_type="Custom::HyperImageCopy",
                properties={"SourceRepository": asset.repository.repository_name,
                            "SourceTag": asset.image_tag,
                            "DestRepository": repository_name, "DestTag": name})
        suppress(self.role, "AwsSolutions-IAM5",
                 "ecr:GetAuthorizationToken supports no resource ARN (Resource *); every other "
                 "statement names the CDK assets repository or the host repository.",
                 ["Resource::*"])
