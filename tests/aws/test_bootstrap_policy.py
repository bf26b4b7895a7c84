"""The scoped bootstrap policies (``infra/bootstrap.py``) against the synthesized templates:
valid JSON IAM documents, every CloudFormation resource type of two quite different hosts
mapped to a service the execution policy grants, every role carrying the boundary, every
action of every role's policies under the boundary's ceiling, and the CreateRole condition
evaluated by a real IAM evaluator (``@cloud-copilot/iam-simulate``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyper_tui.aws.infra import bootstrap as policies
from tests.infra import example

ACCOUNT = "123456789012"
SOLO = """
host: {name: solo, kind: aws, account: "123456789012", main_region: us-west-2,
       settings: {enable_dashboard: false, private_api: true}}
regions:
  us-west-2: {main: true, vpc_cidr: 10.8.0.0/24, subnet_config: PRIVATE_ISOLATED,
              vpc_endpoints: FOR_PRIVATE_VPC}
clusters:
  bulk: {type: SPOT, allocation_strategy: BEST_FIT, max_vcpus: 10, compute_envs: 3}
queues:
  q: {cluster: bulk}
images:
  tools: {directory: DIR}
definitions:
  d: {image: tools}
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> dict[str, list[dict]]:
    """host name -> its synthesized templates: the 3-region example host (peering, NAT,
    endpoints, dashboard) and a single-region private one (isolated, host image)."""
    from hyper_tui.aws.synth import synth_app
    from hyper_tui.config import parse_config

    out: dict[str, list[dict]] = {}
    tmp = tmp_path_factory.mktemp("policies")
    r = synth_app(example.config(), tmp / "example", lookups=example.lookups())
    out[example.config().host.name] = [json.loads(p.read_text()) for p in r.templates]
    build = tmp / "tools"
    build.mkdir()
    (build / "Dockerfile").write_text("FROM python:3.11-slim\n")
    cfg = parse_config(SOLO.replace("DIR", str(build)), "solo.yaml")
    r = synth_app(cfg, tmp / "solo", lookups={"availability_zones": {
        "us-west-2": ["us-west-2a", "us-west-2b"]}})
    out["solo"] = [json.loads(p.read_text()) for p in r.templates]
    return out


def resource_types(templates: list[dict]) -> set[str]:
    return {r["Type"] for t in templates for r in t["Resources"].values()}


def test_policies_are_valid_iam_json():
    for doc in (policies.execution_policy(ACCOUNT),
                policies.permissions_boundary(ACCOUNT)):
        text = json.dumps(doc)
        assert len(text) <= 6144, len(text)  # a managed policy's size limit
        back = json.loads(text)
        assert back["Version"] == "2012-10-17"
        for st in back["Statement"]:
            assert st["Effect"] in ("Allow", "Deny")
            assert ("Action" in st) != ("NotAction" in st)
            assert st["Resource"] == "*" or all(
                r.startswith("arn:aws:iam::123456789012:") for r in st["Resource"])
            assert all(":" in a for a in st["Action"])


def test_every_resource_type_of_the_templates_is_granted(hosts):
    granted = policies.allowed_services(policies.execution_policy(ACCOUNT))
    for host, templates in hosts.items():
        types = resource_types(templates)
        unknown = {t for t in types if policies.service_of(t) is None}
        assert unknown == set(), f"{host}: map these types in infra/bootstrap.py: {unknown}"
        services = {policies.service_of(t) for t in types} - {"cloudformation"}
        print(f"\nBOOTSTRAP {host}: {len(types)} resource types, services {sorted(services)}")
        assert services <= granted, services - granted


def test_every_role_of_the_stacks_has_the_boundary(hosts):
    for _host, templates in hosts.items():
        roles = [r for t in templates for r in t["Resources"].values()
                 if r["Type"] == "AWS::IAM::Role"]
        assert roles
        for role in roles:
            text = json.dumps(role["Properties"].get("PermissionsBoundary"))
            assert f"policy/{policies.boundary_name()}" in text, role


def test_what_the_roles_may_do_is_under_the_boundary(hosts):
    """Every action in every role's policies (inline and AWS::IAM::Policy) is within the
    boundary's services, so the boundary takes nothing the system uses away."""
    for host, templates in hosts.items():
        ceiling = policies.allowed_services(policies.permissions_boundary(ACCOUNT))
        actions: set[str] = set()
        for t in templates:
            for r in t["Resources"].values():
                docs = []
                if r["Type"] == "AWS::IAM::Policy":
                    docs.append(r["Properties"]["PolicyDocument"])
                if r["Type"] == "AWS::IAM::Role":
                    docs += [p["PolicyDocument"] for p in r["Properties"].get("Policies") or []]
                for doc in docs:
                    for st in doc["Statement"]:
                        if st.get("Effect") == "Allow":
                            a = st["Action"]
                            actions |= set(a if isinstance(a, list) else [a])
        services = {a.split(":")[0] for a in actions}
        print(f"\nBOUNDARY {host}: {len(actions)} actions of {sorted(services)}")
        assert services <= ceiling | {"iam"}, services - ceiling
        iam_actions = {a for a in actions if a.startswith("iam:")}
        assert iam_actions <= {"iam:PassRole", "iam:GetRole"}, iam_actions


def iam_simulator() -> Path:
    from tests.aws.cfn_env import iam_simulator as find

    return find()


def test_cloudformation_may_create_a_role_only_with_the_boundary():
    """A real IAM evaluator: iam:CreateRole of a host role is allowed with the boundary,
    denied without it or with another; the boundary policy cannot be rewritten."""
    from tests.aws.iam_check import Request, simulate

    role = f"arn:aws:iam::{ACCOUNT}:role/hyper-demo-control-us-east-1-ScalerRole-ABC"
    boundary = policies.policy_arn(ACCOUNT, policies.boundary_name())
    requests = {
        Request("iam:CreateRole", role, (("iam:PermissionsBoundary", boundary),)),
        Request("iam:CreateRole", role, ()),
        Request("iam:CreateRole", role, (("iam:PermissionsBoundary",
                                          f"arn:aws:iam::{ACCOUNT}:policy/other"),)),
        Request("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
                (("iam:PermissionsBoundary", boundary),)),
        Request("iam:CreatePolicyVersion", boundary, ()),
        Request("iam:DeleteRolePermissionsBoundary", role, ()),
        Request("dynamodb:CreateTable", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/demo-jobs",
                ()),
        Request("iam:PassRole", role, ()),
    }
    results = simulate(iam_simulator(), f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role",
                       ACCOUNT, [policies.execution_policy(ACCOUNT)], requests)
    verdict = {req: r["result"] for req, r in zip(sorted(requests, key=str), results, strict=True)}
    print("\n" + "\n".join(f"  {v}: {q.action} {q.resource} {dict(q.context)}"
                           for q, v in verdict.items()))
    allowed = {q for q, v in verdict.items() if v == "Allowed"}
    assert allowed == {
        Request("iam:CreateRole", role, (("iam:PermissionsBoundary", boundary),)),
        Request("dynamodb:CreateTable", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/demo-jobs",
                ()),
        Request("iam:PassRole", role, ())}, verdict


def test_the_cli_prints_both_policies(tmp_path):
    """``hyper-tui bootstrap --show-policies``: the documents, as JSON, without any AWS call."""
    import os
    import subprocess
    import sys

    from tests.aws.cfn_env import REPO

    env = {**os.environ, "HYPER_HOME": str(tmp_path / "home")}
    code = ("from hyper_tui import config; from hyper_tui.hosts import registry; "
            "cfg = config.parse_config(open(0).read(), 'p.yaml'); config.save(cfg); "
            "registry.register('p', 'aws', select=True)")
    subprocess.run([sys.executable, "-c", code], input=SOLO.replace("solo", "p").replace(
        "tools: {directory: DIR}", "").replace("d: {image: tools}",
        "d: {image_uri: x.dkr.ecr.us-west-2.amazonaws.com/w:1, has_agent: true}")
        .replace("images:\n", ""), text=True, env=env, check=True, cwd=REPO)
    r = subprocess.run([sys.executable, "-m", "hyper_tui.cli.main", "bootstrap", "--show-policies"],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    docs = json.loads(r.stdout)
    assert docs == {policies.execution_policy_name(): policies.execution_policy(ACCOUNT),
                    policies.boundary_name(): policies.permissions_boundary(ACCOUNT)}
