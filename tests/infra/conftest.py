"""Infra tests synthesize the example host once per session (a synth takes seconds and about
a gigabyte) and share the templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Template  # noqa: E402

from hyper_tui.aws import schema  # noqa: E402
from tests.infra import example  # noqa: E402


@dataclass
class Synthesized:
    app: Any
    assembly: Any
    templates: dict[str, dict]   # stack name -> template JSON
    paths: dict[str, Path]
    seconds: float
    lint: dict[str, subprocess.Popen] = field(default_factory=dict)  # region -> cfn-lint run

    def template(self, stack: str) -> Template:
        return Template.from_json(self.templates[stack])

    def stack(self, name: str) -> Any:
        return self.app.node.find_child(name)


HOST = "demo"
MAIN, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"
CONTROL = schema.control_stack_name(HOST, MAIN)
PEERING = schema.peering_stack_name(HOST, MAIN)
COMPUTE = {r: schema.compute_stack_name(HOST, r) for r in (MAIN, EU, AP)}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    from hyper_tui.aws.synth import synth_app

    out = tmp_path_factory.mktemp("cdk.out")
    result = synth_app(example.config(), out, lookups=example.lookups())
    paths = {p.name.removesuffix(".template.json"): p for p in result.templates}
    templates = {name: json.loads(p.read_text()) for name, p in paths.items()}
    done = Synthesized(result.app, result.assembly, templates, paths, result.seconds)
    # cfn-lint takes seconds per template: start it now, one process per region, so it runs
    # on the other core while the assertions run; test_nag_and_lint collects the results.
    by_region: dict[str, list[str]] = {}
    for stack in result.assembly.stacks:
        by_region.setdefault(stack.environment.region, []).append(str(paths[stack.stack_name]))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    for region, files in by_region.items():
        done.lint[region] = subprocess.Popen(
            [str(cfn_lint), "--format", "json", "--regions", region, "--", *files],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield done
    for proc in done.lint.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """No credentials anywhere: an AWS call during synth would fail."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
