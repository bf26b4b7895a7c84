"""The form rules without a terminal: which fields a host kind shows, host-fitted defaults, empty
fields, and messages in the project's words (the wizards and the config loader share them)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError as PydanticValidationError

from hyper_tui.config import plain_message
from hyper_tui.model import Cluster, Definition, Queue, Region
from hyper_tui.widgets.model_form import FormTextError, applies_to, field_specs, from_text, validate


def _names(cls, kind):
    return {s.name for s in field_specs(cls, host_kind=kind)}


def test_a_local_host_sees_no_aws_fields_and_an_aws_host_no_local_ones() -> None:
    aws_only = {"vpc_cidr", "vpc_id", "subnet_config", "nat_gateways", "vpc_endpoints", "peer_with_main"}
    assert not aws_only & _names(Region, "local") and "worker_slots" in _names(Region, "local")
    assert aws_only <= _names(Region, "aws") and "worker_slots" not in _names(Region, "aws")
    assert _names(Cluster, "local") == {"name", "max_vcpus"}
    assert {"type", "allocation_strategy", "bid_percentage"} <= _names(Cluster, "aws")
    assert "optimise_spot_cost" not in _names(Queue, "local")
    assert {"vcpus", "retries", "environment"} <= _names(Definition, "local")
    assert not {"image", "privileged", "log_driver"} & _names(Definition, "local")
    assert _names(Region, None) == set(Region.model_fields)  # no kind: everything
    assert applies_to(Region, "main", "local") and not applies_to(Region, "nat_gateways", "local")


def test_defaults_fit_the_host() -> None:
    local = {s.name: s for s in field_specs(Cluster, host_kind="local")}
    aws = {s.name: s for s in field_specs(Cluster, host_kind="aws")}
    assert local["max_vcpus"].default == (os.cpu_count() or 1)
    assert aws["max_vcpus"].default == 1000
    # A small local cluster is valid with the hidden compute_envs left at its default...
    assert Cluster(name="c", max_vcpus=2).compute_envs == 2
    # ...but an explicit value that cannot work is still refused.
    with pytest.raises(PydanticValidationError, match="cannot exceed max_vcpus"):
        Cluster(name="c", max_vcpus=2, compute_envs=3)


def test_an_empty_field_is_never_a_silent_default() -> None:
    specs = {s.name: s for s in field_specs(Cluster, host_kind="aws")}
    with pytest.raises(FormTextError, match="required"):
        from_text(specs["name"], "  ")
    with pytest.raises(FormTextError, match=r"give a value \(the default is 1000\)"):
        from_text(specs["max_vcpus"], "")
    assert from_text(specs["ami_name"], "") is None  # optional: empty means none
    assert from_text(specs["tags"], "") == {}


@pytest.mark.parametrize("data,field,words", [
    ({"name": "c", "bid_percentage": 150}, "bid_percentage", "must be at most 100"),
    ({"name": "c", "max_vcpus": 0}, "max_vcpus", "must be at least 1"),
    ({"name": "c", "max_vcpus": "lots"}, "max_vcpus", "must be a whole number"),
    ({"name": "c", "type": "CHEAP"}, "type", "must be one of SPOT or ON_DEMAND"),
    ({"name": "c", "tags": [1]}, "tags", "must be a mapping (key: value)"),
])
def test_messages_are_in_the_projects_words(data, field, words) -> None:
    model, errors = validate(Cluster, data)
    assert model is None and errors[field] == words
    try:
        Cluster.model_validate(data)
    except PydanticValidationError as err:
        assert "Input should" not in plain_message(err.errors()[0])


def test_a_validators_own_message_is_kept() -> None:
    _, errors = validate(Queue, {"name": "9lives", "cluster": "c"})
    assert errors["name"].startswith("'9lives' is not a valid name")


def test_cli_help_says_which_hosts_a_field_is_for(tmp_path) -> None:
    env = {**os.environ, "HYPER_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "hyper_tui.cli.main", "regions", "add", "--help"],
                         env=env, capture_output=True, text=True, timeout=60).stdout
    flat = " ".join(out.split())
    assert "NAT gateways for PRIVATE_WITH_NAT subnets. Default: 2. (aws hosts only)" in flat
    assert "(local hosts only)" in flat
    top = subprocess.run([sys.executable, "-m", "hyper_tui.cli.main", "--help"], env=env,
                         capture_output=True, text=True, timeout=60).stdout
    assert "``" not in top and "hyper-tui serve" in top
    images = subprocess.run([sys.executable, "-m", "hyper_tui.cli.main", "images", "--help"], env=env,
                            capture_output=True, text=True, timeout=60).stdout
    assert "add an image" in images
