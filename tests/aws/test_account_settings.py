"""The account-wide settings no stack owns (``hyper_tui.aws.account_settings``), against the
moto server: API Gateway's CloudWatch Logs role set by bootstrap when the account has none and
kept when it has one; ECR replication merged per host, keeping the other hosts' rules.

The moto server of ``tests/aws/cfn_env`` (AWS managed policies loaded; never reset, shared
with the modules that deploy): each test has a main region of its own, and the role, global,
may have been made by another module's bootstrap. moto refuses a replication configuration
of more than one rule ("This feature is disabled"; AWS takes 10), so the moto tests use hosts
with the same hubs (one rule, a filter per host); the merge with other destinations is proven
on the pure :func:`merged_rules`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyper_tui.aws import account_settings as acct
from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.aws.infra import bootstrap as policies
from hyper_tui.aws.session import AwsSession
from tests.aws.cfn_env import ACCOUNT, XDIST_GROUP

pytestmark = pytest.mark.xdist_group(XDIST_GROUP)  # the worker's cfn moto server
REGION = "us-east-1"  # the default region of the sessions; each host has its own main region
BOUNDARY = policies.policy_arn(ACCOUNT, policies.boundary_name())

HOST = """
host: {name: NAME, kind: aws, account: "123456789012", main_region: MAIN}
regions:
  MAIN: {main: true, vpc_cidr: 10.0.0.0/16}
  HUBS
clusters:
  c1: {type: ON_DEMAND, max_vcpus: 16}
queues:
  q1: {cluster: c1}
IMAGES
definitions:
  d1: {DEFINITION}
"""


def host(name: str, tmp: Path, main: str, *, hubs: tuple[str, ...] = ("eu-west-1",),
         images: bool = True):
    from hyper_tui.config import parse_config

    build = tmp / f"{name}-tools"
    build.mkdir(exist_ok=True)
    (build / "Dockerfile").write_text("FROM python:3.11-slim\n")
    text = (HOST.replace("NAME", name).replace("MAIN", main)
            .replace("HUBS", "\n  ".join(f"{h}: {{vpc_cidr: 10.{i + 1}.0.0/16}}"
                                         for i, h in enumerate(hubs)))
            .replace("IMAGES", f"images:\n  tools: {{directory: {build}}}" if images else "")
            .replace("DEFINITION", "image: tools" if images else
                     "image_uri: public.ecr.aws/docker/library/python:3.12, has_agent: true"))
    return parse_config(text, f"{name}.yaml")


@pytest.fixture
def session(cloud) -> AwsSession:
    return AwsSession(REGION)


def bootstrap_steps(cfg, session) -> tuple[str, list[str]]:
    """What ``run_bootstrap`` does before ``cdk bootstrap``: the policies, then the role."""
    lines: list[str] = []
    d.ensure_bootstrap_policies(cfg, lambda e: lines.append(e.line), session)
    arn = acct.ensure_apigateway_logs_role(cfg, session, lines.append, boundary_arn=BOUNDARY)
    return arn, lines


def test_bootstrap_sets_our_role_when_the_account_has_none(session, tmp_path):
    main = "ap-northeast-1"
    apigw, iam = session.client("apigateway", main), session.client("iam")
    assert not apigw.get_account().get("cloudwatchRoleArn")
    arn, lines = bootstrap_steps(host("one", tmp_path, main), session)
    print("\n" + "\n".join(lines))
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/{acct.APIGW_LOGS_ROLE}"
    assert apigw.get_account()["cloudwatchRoleArn"] == arn
    role = iam.get_role(RoleName=acct.APIGW_LOGS_ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"}
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY
    attached = iam.list_attached_role_policies(RoleName=acct.APIGW_LOGS_ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]
    # (the role is global: another module's bootstrap may have created it before)
    assert lines[-1] in {f"API Gateway CloudWatch Logs role of {main}: {arn} (role {s}, set)"
                         for s in ("created", "exists")}
    # a second host's bootstrap keeps it
    again, lines = bootstrap_steps(host("two", tmp_path, main), session)
    assert again == arn and apigw.get_account()["cloudwatchRoleArn"] == arn
    assert lines[-1] == f"API Gateway CloudWatch Logs role of {main}: {arn} (set already, kept)"


def test_bootstrap_keeps_a_role_the_account_has(session, tmp_path):
    main = "ca-central-1"
    iam, apigw = session.client("iam"), session.client("apigateway", main)
    theirs = iam.create_role(RoleName="their-apigw-logs",
                             AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    apigw.update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": theirs}])
    arn, lines = bootstrap_steps(host("one", tmp_path, main), session)
    assert arn == theirs and apigw.get_account()["cloudwatchRoleArn"] == theirs
    assert lines[-1] == f"API Gateway CloudWatch Logs role of {main}: {theirs} (set already, kept)"


def rules_of(session, region: str) -> list[dict]:
    return session.client("ecr", region).describe_registry().get(
        "replicationConfiguration", {}).get("rules", [])


def test_a_second_host_keeps_the_first_hosts_replication_rule(session, tmp_path):
    main, lines = "ap-southeast-2", []
    first, second = host("one", tmp_path, main), host("two", tmp_path, main)
    assert rules_of(session, main) == []
    acct.ensure_replication(first, session, lines.append)
    hub = [{"region": "eu-west-1", "registryId": ACCOUNT}]
    one = {"filter": schema.ecr_repository_name("one"), "filterType": "PREFIX_MATCH"}
    two = {"filter": schema.ecr_repository_name("two"), "filterType": "PREFIX_MATCH"}
    assert rules_of(session, main) == [{"destinations": hub, "repositoryFilters": [one]}]
    acct.ensure_replication(second, session, lines.append)
    assert rules_of(session, main) == [{"destinations": hub, "repositoryFilters": [one, two]}]
    # idempotent: deploying either again changes nothing (and puts nothing)
    assert acct.ensure_replication(second, session, lines.append) is None
    assert acct.ensure_replication(first, session, lines.append) is None
    assert rules_of(session, main) == [{"destinations": hub, "repositoryFilters": [one, two]}]
    print("\n" + "\n".join(lines))
    assert lines[1] == (f"ECR replication of hyper-two from {main} to eu-west-1: set "
                        "(1 rule(s) in the registry, the others kept)")
    assert lines[-1] == f"ECR replication of hyper-one from {main} to eu-west-1: unchanged"


def test_no_replication_without_hubs_or_images(session, tmp_path):
    main, lines = "sa-east-1", []
    assert acct.ensure_replication(host("solo", tmp_path, main, hubs=()), session,
                                   lines.append) is None
    assert acct.ensure_replication(host("uri", tmp_path, main, images=False), session,
                                   lines.append) is None
    assert rules_of(session, main) == [] and lines == []


def _rule(dests: list[str], *filters: str) -> dict:
    return {"destinations": [{"region": r, "registryId": ACCOUNT} for r in dests],
            "repositoryFilters": [{"filter": f, "filterType": "PREFIX_MATCH"} for f in filters]}


def test_merged_rules_keeps_every_other_rule_and_moves_the_hosts_filter():
    everything = {"destinations": [{"region": "us-west-2", "registryId": "999999999999"}]}
    held = [_rule(["eu-west-1"], "hyper-a", "theirs"), everything, _rule(["ap-south-1"], "hyper-b")]
    # host a now replicates to ap-south-1 and eu-central-1: out of its old rule, into a new one
    got = acct.merged_rules(held, "hyper-a", [("ap-south-1", ACCOUNT), ("eu-central-1", ACCOUNT)])
    assert got == [_rule(["eu-west-1"], "theirs"), everything, _rule(["ap-south-1"], "hyper-b"),
                   _rule(["ap-south-1", "eu-central-1"], "hyper-a")]
    assert acct.merged_rules(got, "hyper-a", [("ap-south-1", ACCOUNT),
                                              ("eu-central-1", ACCOUNT)]) == got
    first = [_rule(["eu-west-1"], "hyper-b", "theirs")]  # held already: nothing moves
    assert acct.merged_rules(first, "hyper-b", [("eu-west-1", ACCOUNT)]) == first
    # host b joins the rule of its destinations; its old rule, left empty, goes
    got = acct.merged_rules(got, "hyper-b", [("eu-west-1", ACCOUNT)])
    assert got == [_rule(["eu-west-1"], "theirs", "hyper-b"), everything,
                   _rule(["ap-south-1", "eu-central-1"], "hyper-a")]
    # no destinations: the host's filter goes, the rule without filters stays untouched
    assert acct.merged_rules(got, "hyper-a", []) == [
        _rule(["eu-west-1"], "theirs", "hyper-b"), everything]
    assert held[0] == _rule(["eu-west-1"], "hyper-a", "theirs")  # the input is not changed
