"""Security of an aws host's CloudFormation (synth assertions on the infra tests' example host,
synthesized once for this module): every API route requires authentication; no IAM statement
allows ``*`` actions on ``*`` resources without a written reason; data is encrypted at rest
and in transit (TLS-only policies on every queue and bucket); no secret sits in a template."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from hyper_tui.redact import is_secret_name  # noqa: E402
from tests.infra import example  # noqa: E402


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, dict]:
    """stack name -> template of the example host (tests/infra/example.py), synthesized once."""
    from hyper_tui.aws.synth import synth_app

    out = tmp_path_factory.mktemp("cdk.out.security")
    result = synth_app(example.config(), out, lookups=example.lookups())
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text()) for p in result.templates}


def resources(templates: dict[str, dict], kind: str) -> list[tuple[str, str, dict]]:
    """(stack, logical id, resource) of every resource of ``kind``."""
    return [(stack, lid, r) for stack, t in templates.items()
            for lid, r in t.get("Resources", {}).items() if r["Type"] == kind]


def _list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def statements(r: dict) -> list[dict]:
    p = r.get("Properties", {})
    docs = [p["PolicyDocument"]] if "PolicyDocument" in p else []
    docs += [pol["PolicyDocument"] for pol in p.get("Policies", [])]
    return [s for d in docs for s in _list(d.get("Statement", []))]


def nag_reason(r: dict, rule: str) -> str:
    for s in r.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
        if s.get("id") == rule:
            return s.get("reason", "")
    return ""


def test_the_example_has_what_is_checked(templates):
    assert resources(templates, "AWS::ApiGateway::Method")
    assert resources(templates, "AWS::SQS::Queue")
    assert resources(templates, "AWS::DynamoDB::Table")
    assert len(resources(templates, "AWS::IAM::Policy")) + len(resources(templates, "AWS::IAM::Role")) > 5


# ---- authentication -------------------------------------------------------------------------


def test_every_api_route_requires_authentication(templates):
    methods = resources(templates, "AWS::ApiGateway::Method")
    for stack, lid, r in methods:
        p = r["Properties"]
        assert p.get("AuthorizationType") in ("AWS_IAM", "COGNITO_USER_POOLS", "CUSTOM"), (stack, lid, p)
        assert p.get("ApiKeyRequired") is True, (stack, lid)
    assert not resources(templates, "AWS::ApiGatewayV2::Route")  # (HTTP APIs would need their own check)
    for stack, lid, r in resources(templates, "AWS::Lambda::Url"):
        assert r["Properties"].get("AuthType") == "AWS_IAM", (stack, lid)


def test_lambda_invocations_are_scoped(templates):
    for stack, lid, r in resources(templates, "AWS::Lambda::Permission"):
        p = r["Properties"]
        assert p["Principal"] != "*" and "SourceArn" in p, (stack, lid, p)


def test_api_key_value_is_not_in_the_template(templates):
    for stack, lid, r in resources(templates, "AWS::ApiGateway::ApiKey"):
        assert "Value" not in r["Properties"], (stack, lid)


# ---- IAM ---------------------------------------------------------------------------------------

IAM_KINDS = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::SQS::QueuePolicy",
             "AWS::S3::BucketPolicy")


def test_no_wildcard_actions_on_wildcard_resources_without_a_reason(templates):
    found = []
    for kind in IAM_KINDS:
        for stack, lid, r in resources(templates, kind):
            for s in statements(r):
                if s.get("Effect") != "Allow":
                    continue
                actions = [a for a in _list(s.get("Action", [])) if isinstance(a, str)]
                wild_action = any(a == "*" or a.endswith(":*") for a in actions) or "NotAction" in s
                wild_resource = "*" in _list(s.get("Resource", [])) or "NotResource" in s
                if wild_action and wild_resource and len(nag_reason(r, "AwsSolutions-IAM5")) < 20:
                    found.append((stack, lid, s))
    assert not found, found


def test_trust_and_resource_policies_name_their_principals(templates):
    for stack, lid, r in resources(templates, "AWS::IAM::Role"):
        for s in _list(r["Properties"]["AssumeRolePolicyDocument"]["Statement"]):
            principal = s.get("Principal")
            assert principal not in ("*", {"AWS": "*"}), (stack, lid, s)
    for kind in ("AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"):
        for stack, lid, r in resources(templates, kind):
            for s in statements(r):
                if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}):
                    assert s.get("Condition"), (stack, lid, s)


# ---- encryption at rest ------------------------------------------------------------------------


def test_tables_queues_and_repositories_are_encrypted(templates):
    for stack, lid, r in resources(templates, "AWS::DynamoDB::Table"):
        assert r["Properties"].get("SSESpecification", {}).get("SSEEnabled") is True, (stack, lid)
    for stack, lid, r in resources(templates, "AWS::SQS::Queue"):
        p = r["Properties"]
        assert p.get("SqsManagedSseEnabled") is True or p.get("KmsMasterKeyId"), (stack, lid)
    for stack, lid, r in resources(templates, "AWS::ECR::Repository"):
        assert r["Properties"].get("EncryptionConfiguration", {}).get("EncryptionType") in (
            "KMS", "AES256"), (stack, lid)
    for stack, lid, r in resources(templates, "AWS::S3::Bucket"):
        assert r["Properties"].get("BucketEncryption"), (stack, lid)
    for stack, lid, r in resources(templates, "AWS::SNS::Topic"):
        assert r["Properties"].get("KmsMasterKeyId"), (stack, lid)


def _mappings(lt: dict) -> list[dict]:
    return lt["Properties"].get("LaunchTemplateData", {}).get("BlockDeviceMappings", [])


def test_instance_volumes_of_default_clusters_are_encrypted(templates):
    lts = resources(templates, "AWS::EC2::LaunchTemplate")
    with_mappings = [(s, lid, r) for s, lid, r in lts if _mappings(r)]
    assert with_mappings
    for stack, lid, r in with_mappings:
        for m in _mappings(r):
            if "Ebs" in m:
                assert m["Ebs"].get("Encrypted") is True, (stack, lid, m)


def test_every_launch_template_encrypts_its_volumes(templates):
    for stack, lid, r in resources(templates, "AWS::EC2::LaunchTemplate"):
        ebs = [m["Ebs"] for m in _mappings(r) if "Ebs" in m]
        assert ebs and all(e.get("Encrypted") is True for e in ebs), (stack, lid)


# ---- encryption in transit ---------------------------------------------------------------------


def _denies_insecure_transport(s: dict) -> bool:
    return (s.get("Effect") == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
            and s.get("Principal") in ("*", {"AWS": "*"}))


def test_every_queue_and_bucket_is_tls_only(templates):
    for kind, policy_kind, ref_key in (("AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "Queues"),
                                       ("AWS::S3::Bucket", "AWS::S3::BucketPolicy", "Bucket")):
        for stack in templates:
            owned = {lid for s, lid, _ in resources(templates, kind) if s == stack}
            covered = set()
            for s, _lid, r in resources(templates, policy_kind):
                if s != stack or not any(_denies_insecure_transport(x) for x in statements(r)):
                    continue
                for ref in _list(r["Properties"][ref_key]):
                    if isinstance(ref, dict) and "Ref" in ref:
                        covered.add(ref["Ref"])
            assert owned <= covered, (stack, kind, owned - covered)


# ---- secrets in templates ----------------------------------------------------------------------


def _walk(node: Any, path: tuple = ()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))
    else:
        yield path, node


def test_no_literal_secrets_in_environment_variables(templates):
    for stack, t in templates.items():
        for lid, r in t.get("Resources", {}).items():
            p = r.get("Properties", {})
            env = dict((p.get("Environment") or {}).get("Variables", {}))  # Lambda
            env.update({e["Name"]: e.get("Value") for e in
                        p.get("ContainerProperties", {}).get("Environment", [])})  # Batch
            for name, value in env.items():
                if is_secret_name(name):
                    assert not isinstance(value, str), (stack, lid, name)
