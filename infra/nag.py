"""cdk-nag AwsSolutions checks on every stack; suppressions always carry a written reason.

cdk-nag 3 reports findings through CDK's validation plugins and acknowledges them with
``Validations.of(c).acknowledge(...)``, one exact finding id at a time (an IAM5 finding id
names the resource's logical id: ``AwsSolutions-IAM5[Resource::<Table1A2B.Arn>/index/*]``).
Components instead declare a suppression with :func:`suppress`: the rule, the reason, and
optionally patterns of the findings it covers. :func:`check` then runs the pack on each stack,
acknowledges on the declaring construct every finding its suppressions cover (with their
reason, written to the template metadata as ``cdk_nag.rules_to_suppress`` for audit), and
turns each finding left over into an error annotation on the stack, so
``Annotations.from_stack(s).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))``
lists exactly the unsuppressed findings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Annotations, Aspects, Stack, Stage, Validations
from cdk_nag import AwsSolutionsChecks, WriteNagSuppressionsToCloudFormationAspect
from constructs import IConstruct

INDEX_ARNS = r"re:^Resource::<[A-Za-z0-9]+\.Arn>/index/\*$"


@dataclass(frozen=True)
class Suppression:
    construct: IConstruct
    rule: str
    reason: str
    patterns: tuple[str, ...]  # literal finding texts, or "re:<regex>"

    def covers(self, finding_id: str) -> bool:
        rule, _, rest = finding_id.partition("[")
        if rule != self.rule:
            return False
        if not self.patterns:
            return True
        finding = rest[:-1] if rest.endswith("]") else rest
        return any(re.search(p[3:], finding) if p.startswith("re:") else p == finding
                   for p in self.patterns)


_REGISTRY: dict[int, list[Suppression]] = {}


def suppress(construct: IConstruct, rule: str, reason: str,
             applies_to: Sequence[str] | None = None) -> None:
    """Suppress ``rule`` on ``construct`` and its children because of ``reason``.

    ``applies_to`` narrows it to the findings listed (literal text of the finding between
    the brackets, or ``re:<regex>``), like cdk-nag 2's ``appliesTo``."""
    if len(reason.strip()) < 20:
        raise ValueError(f"a suppression of {rule} needs a real reason, not {reason!r}")
    key = id(construct.node.root)
    _REGISTRY.setdefault(key, []).append(
        Suppression(construct, rule, reason, tuple(applies_to or ())))


def check(app: Stage) -> list[tuple[str, str, str]]:
    """Run AwsSolutions on every stack of ``app``; acknowledge what is suppressed, annotate
    the rest as errors. Returns the acknowledged findings as (construct path, id, reason)."""
    declared = _REGISTRY.pop(id(app.node.root), [])
    acknowledged: list[tuple[str, str, str]] = []
    pack = AwsSolutionsChecks()
    for stack in [c for c in app.node.find_all() if isinstance(c, Stack)]:
        mine = [s for s in declared if Stack.of(s.construct) is stack]
        report = pack.validate_scope(stack)
        for violation in report.violations:
            for s in mine:
                if s.covers(violation.rule_name):
                    Validations.of(s.construct).acknowledge(
                        Acknowledgment(id=violation.rule_name, reason=s.reason))
                    acknowledged.append((s.construct.node.path, violation.rule_name, s.reason))
        if mine:
            report = pack.validate_scope(stack)
        for violation in report.violations:
            text = f"{violation.rule_name}: {violation.description}"
            if (violation.severity or "error").lower() == "error":
                Annotations.of(stack).add_error(text)
            else:
                Annotations.of(stack).add_warning_v2(violation.rule_name, text)
    Aspects.of(app).add(WriteNagSuppressionsToCloudFormationAspect())
    return acknowledged
