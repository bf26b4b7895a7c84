"""The scoped policies of ``hyper-tui bootstrap``: what CloudFormation may do for a host, and
the permissions boundary of every role the host's stacks create.

``cdk bootstrap`` gives CloudFormation ``AdministratorAccess`` unless told otherwise. Instead
``hyper-tui bootstrap`` creates two customer managed policies in the account, then runs
``cdk bootstrap --cloudformation-execution-policies <execution policy ARN>
--custom-permissions-boundary <boundary name>``:

* the **execution policy** (:func:`execution_policy`): the actions of the services whose
  resources the stacks declare (:data:`SERVICE_OF_TYPE` maps each CloudFormation type to its
  IAM service prefix; a test checks that every type of the synthesized templates is there).
  IAM is narrower: roles named after hyper-tui's stacks only (``hyper-*``), created only with
  the permissions boundary attached, and never the boundary itself removed or rewritten.
* the **permissions boundary** (:func:`permissions_boundary`): the most any role of a host
  may ever do (the services the scaler, the API, the workers and jobs call), and no IAM write
  at all, so that no role the stacks create can grant itself more. ``synth`` attaches it to
  every role of the app (CDK context ``@aws-cdk/core:permissionsBoundary``), and
  ``--custom-permissions-boundary`` attaches it to the bootstrap's own roles.

Both are per account, not per host: CDK bootstraps an (account, region) once, and every
host deployed there shares its CloudFormation execution role. Pure data: no CDK, no boto3.
``hyper-tui bootstrap --show-policies`` prints both documents.
"""

from __future__ import annotations

from typing import Any

VERSION = "2012-10-17"
PERMISSIONS_BOUNDARY_CONTEXT = "@aws-cdk/core:permissionsBoundary"

# Every CloudFormation resource type the host's stacks may declare, and the IAM service that
# creates it. Custom resources are Lambda-backed: CloudFormation invokes their function.
SERVICE_OF_TYPE: dict[str, str] = {
    "AWS::ApiGateway::ApiKey": "apigateway",
    "AWS::ApiGateway::Deployment": "apigateway",
    "AWS::ApiGateway::Method": "apigateway",
    "AWS::ApiGateway::Model": "apigateway",
    "AWS::ApiGateway::RequestValidator": "apigateway",
    "AWS::ApiGateway::Resource": "apigateway",
    "AWS::ApiGateway::RestApi": "apigateway",
    "AWS::ApiGateway::Stage": "apigateway",
    "AWS::ApiGateway::UsagePlan": "apigateway",
    "AWS::ApiGateway::UsagePlanKey": "apigateway",
    "AWS::ApplicationAutoScaling::ScalableTarget": "application-autoscaling",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "application-autoscaling",
    "AWS::Batch::ComputeEnvironment": "batch",
    "AWS::Batch::JobDefinition": "batch",
    "AWS::Batch::JobQueue": "batch",
    "AWS::CDK::Metadata": "cloudformation",
    "AWS::CloudWatch::Alarm": "cloudwatch",
    "AWS::CloudWatch::Dashboard": "cloudwatch",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::DynamoDB::GlobalTable": "dynamodb",
    "AWS::EC2::EIP": "ec2",
    "AWS::EC2::FlowLog": "ec2",
    "AWS::EC2::InternetGateway": "ec2",
    "AWS::EC2::LaunchTemplate": "ec2",
    "AWS::EC2::NatGateway": "ec2",
    "AWS::EC2::Route": "ec2",
    "AWS::EC2::RouteTable": "ec2",
    "AWS::EC2::SecurityGroup": "ec2",
    "AWS::EC2::SecurityGroupEgress": "ec2",
    "AWS::EC2::SecurityGroupIngress": "ec2",
    "AWS::EC2::Subnet": "ec2",
    "AWS::EC2::SubnetRouteTableAssociation": "ec2",
    "AWS::EC2::VPC": "ec2",
    "AWS::EC2::VPCEndpoint": "ec2",
    "AWS::EC2::VPCGatewayAttachment": "ec2",
    "AWS::EC2::VPCPeeringConnection": "ec2",
    "AWS::ECR::Repository": "ecr",
    "AWS::Events::Rule": "events",
    "AWS::IAM::InstanceProfile": "iam",
    "AWS::IAM::ManagedPolicy": "iam",
    "AWS::IAM::Policy": "iam",
    "AWS::IAM::Role": "iam",
    "AWS::KMS::Alias": "kms",
    "AWS::KMS::Key": "kms",
    "AWS::Lambda::EventSourceMapping": "lambda",
    "AWS::Lambda::Function": "lambda",
    "AWS::Lambda::Permission": "lambda",
    "AWS::Logs::LogGroup": "logs",
    "AWS::Logs::MetricFilter": "logs",
    "AWS::Logs::SubscriptionFilter": "logs",
    "AWS::S3::Bucket": "s3",
    "AWS::S3::BucketPolicy": "s3",
    "AWS::SNS::Topic": "sns",
    "AWS::SQS::Queue": "sqs",
    "AWS::SQS::QueuePolicy": "sqs",
    "AWS::SSM::Parameter": "ssm",
    "Custom::AWS": "lambda",
    "AWS::CloudFormation::CustomResource": "lambda",
}

# Services whose resources the stacks create (their write and read actions): the execution
# policy grants these. IAM is granted separately, narrowly.
_SERVICES_FOR_CLOUDFORMATION = ("apigateway", "application-autoscaling", "batch", "cloudwatch",
                                "dynamodb", "ec2", "ecr", "events", "kms", "lambda", "logs",
                                "s3", "sns", "sqs", "ssm")

# What the host's roles call at run time (scaler, API, reconciler, worker agent, jobs,
# instance role, custom resources): the permissions boundary's ceiling.
_SERVICES_AT_RUN_TIME = ("batch", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "events",
                         "execute-api", "kms", "lambda", "logs", "s3", "sqs", "ssm", "sts",
                         "xray", "autoscaling", "application-autoscaling", "apigateway")


def service_of(resource_type: str) -> str | None:
    """The IAM service that creates ``resource_type`` (any ``Custom::`` type is a
    Lambda-backed custom resource); None when the type is not mapped yet."""
    if resource_type.startswith("Custom::"):
        return "lambda"
    return SERVICE_OF_TYPE.get(resource_type)


PREFIX = "hyper-"  # every stack, and so every generated role name, of every host


def execution_policy_name() -> str:
    return "hyper-tui-cfn-execution"


def boundary_name() -> str:
    return "hyper-tui-boundary"


def policy_arn(account: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:policy/{name}"


def execution_policy(account: str, partition: str = "aws") -> dict[str, Any]:
    """What CloudFormation may do when it deploys hyper-tui stacks in ``account``."""
    prefix = PREFIX
    iam = f"arn:{partition}:iam::{account}"
    roles = [f"{iam}:role/{prefix}*"]
    boundary = policy_arn(account, boundary_name(), partition)
    own = [boundary, policy_arn(account, execution_policy_name(), partition)]
    return {"Version": VERSION, "Statement": [
        {"Sid": "ServicesTheStacksCreate", "Effect": "Allow",
         "Action": [f"{s}:*" for s in _SERVICES_FOR_CLOUDFORMATION], "Resource": "*"},
        {"Sid": "CloudFormationOwnCalls", "Effect": "Allow",
         "Action": ["cloudformation:DescribeStacks", "cloudformation:DescribeStackResource",
                    "cloudformation:DescribeStackResources", "cloudformation:ListExports",
                    "cloudformation:GetTemplate", "sts:GetCallerIdentity"], "Resource": "*"},
        {"Sid": "CreateRolesOnlyWithTheBoundary", "Effect": "Allow",
         "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"], "Resource": roles,
         "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "ManageTheHostsRoles", "Effect": "Allow",
         "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:DeleteRole", "iam:UpdateRole",
                    "iam:UpdateAssumeRolePolicy", "iam:UpdateRoleDescription", "iam:TagRole",
                    "iam:UntagRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies", "iam:ListRoleTags", "iam:PassRole",
                    "iam:ListInstanceProfilesForRole"], "Resource": roles},
        {"Sid": "InstanceProfilesOfTheHost", "Effect": "Allow",
         "Action": ["iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
                    "iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile"],
         "Resource": [f"{iam}:instance-profile/{prefix}*"]},
        {"Sid": "ManagedPoliciesOfTheHost", "Effect": "Allow",
         "Action": ["iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy",
                    "iam:GetPolicyVersion", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
                    "iam:ListPolicyVersions", "iam:TagPolicy"],
         "Resource": [f"{iam}:policy/{prefix}*"]},
        {"Sid": "ServiceLinkedRoles", "Effect": "Allow",
         "Action": ["iam:CreateServiceLinkedRole"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": [
             "batch.amazonaws.com", "spot.amazonaws.com", "spotfleet.amazonaws.com",
             "ecs.amazonaws.com", "autoscaling.amazonaws.com", "ops.apigateway.amazonaws.com"]}}},
        {"Sid": "NeverRemoveOrRewriteTheBoundary", "Effect": "Deny",
         "Action": ["iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion",
                    "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"],
         "Resource": [*own, *roles]},
    ]}


def permissions_boundary(account: str, partition: str = "aws") -> dict[str, Any]:
    """The ceiling of every role hyper-tui's stacks create: the run-time services, and no IAM
    write (``iam:PassRole`` of hyper-tui's own roles only)."""
    iam = f"arn:{partition}:iam::{account}"
    return {"Version": VERSION, "Statement": [
        {"Sid": "RunTimeServices", "Effect": "Allow",
         "Action": [f"{s}:*" for s in _SERVICES_AT_RUN_TIME], "Resource": "*"},
        # Nothing else of IAM: a boundary is a ceiling, so every IAM write is out of reach.
        {"Sid": "PassOnlyTheHostsRoles", "Effect": "Allow",
         "Action": ["iam:PassRole", "iam:GetRole"],
         "Resource": [f"{iam}:role/{PREFIX}*"]},
    ]}


def boundary_context() -> dict[str, Any]:
    """The CDK context that attaches the boundary to every role of the app."""
    return {PERMISSIONS_BOUNDARY_CONTEXT: {"name": boundary_name()}}


def allowed_services(policy: dict[str, Any]) -> set[str]:
    """Service prefixes an Allow statement of ``policy`` grants (any action)."""
    out: set[str] = set()
    for st in policy["Statement"]:
        if st["Effect"] != "Allow":
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        out |= {a.split(":", 1)[0] for a in actions}
    return out
