"""cdk-nag AwsSolutions on every stack, and cfn-lint on every synthesized template."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match

from hyper_tui.aws.infra import nag

# cfn-lint warnings accepted, and why:
#   W3010  "Avoid hardcoding availability zones": the zones are looked up before synth and
#          passed in as CDK context, precisely so that synth makes no AWS call.
#   W3005  "dependency already enforced by a GetAtt": CDK adds an explicit DependsOn from each
#          Lambda function to its role's policy (so the policy exists before the function
#          runs); redundant for CloudFormation, harmless.
ACCEPTED_WARNINGS = {"W3010", "W3005"}


def test_no_unsuppressed_nag_error_in_any_stack(synthesized):
    stacks = [c for c in synthesized.app.node.children if isinstance(c, cdk.Stack)]
    assert len(stacks) == 5
    for stack in stacks:
        errors = Annotations.from_stack(stack).find_error(
            "*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [], f"{stack.stack_name}: {errors}"


def test_nag_check_reports_a_finding_without_suppression():
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Bare")
    sqs.Queue(stack, "Open")  # no TLS-only policy, no DLQ
    fine = sqs.Queue(stack, "Dlq", enforce_ssl=True)
    nag.suppress(fine, "AwsSolutions-SQS3", "this queue is itself a dead-letter queue here")
    nag.check(app)
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    texts = [e.entry.data for e in errors]
    assert any(t.startswith("AwsSolutions-SQS4") for t in texts)
    assert any(t.startswith("AwsSolutions-SQS3") for t in texts)  # the open queue's
    assert sum(t.startswith("AwsSolutions-SQS3") for t in texts) == 1  # not the suppressed one


def test_a_suppression_needs_a_reason():
    app = cdk.App(builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Bare")
    with pytest.raises(ValueError, match="real reason"):
        nag.suppress(stack, "AwsSolutions-IAM5", "ok")


def test_every_acknowledgment_in_the_templates_has_a_reason(synthesized):
    count = 0
    for template in synthesized.templates.values():
        for res in template["Resources"].values():
            for rule in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(rule["reason"]) >= 20, rule
                count += 1
    assert count > 0


def test_cfn_lint_finds_no_error(synthesized):
    problems = []
    found: dict[str, int] = {}
    assert set(synthesized.lint) == {"us-east-1", "eu-west-1", "ap-southeast-1"}
    for region, proc in synthesized.lint.items():
        out, err = proc.communicate(timeout=240)
        try:  # exit status is a bit mask of the levels found; the JSON says which
            matches = json.loads(out)
        except ValueError:
            pytest.fail(f"cfn-lint crashed on the {region} templates: {err[-2000:]}")
        for match in matches:
            rule = match["Rule"]["Id"]
            found[rule] = found.get(rule, 0) + 1
            if rule.startswith("E") or (rule.startswith("W") and rule not in ACCEPTED_WARNINGS):
                problems.append(f"{match['Filename']}: {rule} {match['Message']}")
    print(f"\nCFN-LINT {len(synthesized.templates)} templates: by rule {dict(sorted(found.items()))}")
    assert problems == []


def test_templates_are_json_with_descriptions(synthesized):
    for name, template in synthesized.templates.items():
        assert template["Description"].startswith("hyper-tui demo"), name
        json.dumps(template)
