"""Infra tests synthesize the example host once per session (a synth takes seconds and about
a gigabyte) and share the templates."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
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
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from hyper_tui.aws.synth import synth_app

    out = tmp_path_factory.mktemp("cdk.out")
    result = synth_app(example.config(), out, lookups=example.lookups())
    paths = {p.name.removesuffix(".template.json"): p for p in result.templates}
    templates = {name: json.loads(p.read_text()) for name, p in paths.items()}
    return Synthesized(result.app, result.assembly, templates, paths, result.seconds)
