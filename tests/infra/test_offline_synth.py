"""A new aws host synthesizes offline: no credentials and no look-ups. Synth guesses what is
harmless to guess (zones, auto weights), says so in one line, and deploy refuses the guesses;
imported VPCs and AMIs by name still need the look-ups."""

from __future__ import annotations

import json

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws.synth import PLACEHOLDERS_FILE, placeholders_of, synth_app
from hyper_tui.config import parse_config
from hyper_tui.core.errors import ValidationError

NEW_HOST = """
host: {name: fresh, kind: aws, account: "123456789012", main_region: us-east-1}
regions:
  us-east-1: {main: true, vpc_cidr: 10.0.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}
  eu-west-1: {vpc_cidr: 10.1.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}
clusters:
  c1: {type: ON_DEMAND, instance_types: [optimal], max_vcpus: 16}
queues:
  q1: {cluster: c1, weights: {us-east-1: auto, eu-west-1: auto}}
definitions:
  d1: {image_uri: public.ecr.aws/docker/library/python:3.12-slim, has_agent: true}
"""


def test_new_host_synthesizes_without_lookups(no_aws_credentials, tmp_path):
    cfg = parse_config(NEW_HOST, "fresh.yaml")
    out = tmp_path / "cdk.out"
    result = synth_app(cfg, out, lookups=None)
    assert {p.name for p in result.templates} == {
        "hyper-fresh-compute-us-east-1.template.json",
        "hyper-fresh-compute-eu-west-1.template.json",
        "hyper-fresh-control-us-east-1.template.json"}
    assert result.placeholders.zones == ("eu-west-1", "us-east-1")
    assert result.placeholders.weights == ("q1",)
    warning = result.warning()
    assert warning is not None and "\n" not in warning
    assert "hyper-tui lookups" in warning and "availability zones" in warning
    assert "weights of queue q1" in warning
    # the placeholder zones are the ones the subnets use
    compute = json.loads((out / "hyper-fresh-compute-eu-west-1.template.json").read_text())
    zones = sorted(r["Properties"]["AvailabilityZone"] for r in compute["Resources"].values()
                   if r["Type"] == "AWS::EC2::Subnet")
    assert zones == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    # ... and the assembly remembers them, so that deploy refuses it in one line
    assert placeholders_of(out) == result.placeholders
    with pytest.raises(ValidationError) as err:
        d.refuse_placeholders(cfg, None, out)
    assert "placeholders" in str(err.value) and "hyper-tui lookups" in str(err.value)
    assert "\n" not in str(err.value)


def test_deploy_refuses_placeholders_before_running_anything(no_aws_credentials, home, tmp_path):
    cfg = parse_config(NEW_HOST, "fresh.yaml")
    ran = []
    with pytest.raises(ValidationError, match="placeholders"):
        d.deploy(cfg, lookups={}, which=lambda name: ran.append(name) or None)
    assert ran == []  # not even looking for the CDK CLI


def test_looked_up_synth_has_no_placeholders(no_aws_credentials, tmp_path):
    cfg = parse_config(NEW_HOST, "fresh.yaml")
    out = tmp_path / "cdk.out"
    synth_app(cfg, out, lookups=None)  # leaves a marker, which the next synth removes
    lookups = {"availability_zones": {"us-east-1": ["us-east-1a", "us-east-1d"],
                                      "eu-west-1": ["eu-west-1b", "eu-west-1c"]},
               "weights": {"q1": {"us-east-1": 2, "eu-west-1": 0}}}
    result = synth_app(cfg, out, lookups=lookups)
    assert not result.placeholders and result.warning() is None
    assert not (out / PLACEHOLDERS_FILE).exists()
    d.refuse_placeholders(cfg, None, out)  # nothing to refuse
    d.refuse_placeholders(cfg, lookups, None)


@pytest.mark.parametrize(("extra", "needs"), [
    ("regions.eu-west-1", "imported VPC"),
    ("clusters.c1", "AMI"),
])
def test_imported_vpc_and_ami_name_still_need_lookups(no_aws_credentials, tmp_path, extra, needs):
    text = NEW_HOST
    if extra.startswith("regions"):
        text = text.replace('eu-west-1: {vpc_cidr: 10.1.0.0/16, subnet_config: PUBLIC, '
                            'vpc_endpoints: "OFF"}', "eu-west-1: {vpc_id: vpc-0123456789abcdef0}")
    else:
        text = text.replace("max_vcpus: 16}", "max_vcpus: 16, ami_name: my-ami}")
    cfg = parse_config(text, "fresh.yaml")
    with pytest.raises(ValidationError) as err:
        synth_app(cfg, tmp_path / "out", lookups=None)
    assert needs in str(err.value) and "hyper-tui lookups" in str(err.value)
