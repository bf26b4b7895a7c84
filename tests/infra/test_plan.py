"""Pure parts of infra/: look-ups, derived values and the checks made before any synth."""

from __future__ import annotations

import pytest

from hyper_tui.aws import schema
from hyper_tui.aws.infra import plan
from hyper_tui.aws.infra.lookups import Lookups
from hyper_tui.core.errors import ValidationError
from tests.infra import example


def test_lookups_parse_and_explain_what_is_missing():
    found = Lookups.from_dict(example.lookups())
    assert found.zones("us-east-1") == ("us-east-1a", "us-east-1b", "us-east-1c")
    assert found.zones("ap-southeast-1") == ("ap-southeast-1a", "ap-southeast-1b")  # its VPC's
    assert found.ami("steady", "eu-west-1", "hyper-ami") == "ami-0bbbbbbbbbbbbbbb2"
    with pytest.raises(ValidationError, match="no availability zones known for region 'sa-east-1'"):
        found.zones("sa-east-1")
    with pytest.raises(ValidationError, match="no AMI id for cluster 'spot'"):
        found.ami("spot", "us-east-1", "x")
    with pytest.raises(ValidationError, match="not a weight"):
        Lookups.from_dict({"weights": {"q": {"us-east-1": "auto"}}})
    with pytest.raises(ValidationError, match="needs vpc_id and cidr"):
        Lookups.from_dict({"vpcs": {"eu-west-1": {"cidr": "10.0.0.0/16"}}})
    assert Lookups.from_dict({"fetched_at": 1}).raw == {"fetched_at": 1}  # tool's own keys


def test_lookups_know_each_ami_s_root_device():
    found = Lookups.from_dict(example.lookups())
    assert found.ami_root("steady", "us-east-1") == ("/dev/sda1", 50)
    with pytest.raises(ValidationError, match="root device of cluster 'steady'.*not known"):
        Lookups.from_dict({"amis": example.lookups()["amis"]}).ami_root("steady", "us-east-1")
    with pytest.raises(ValidationError, match="is not a root device"):
        Lookups.from_dict({"ami_roots": {"c": {"us-east-1": {"device": "sda", "size_gib": 8}}}})


def test_imported_vpc_worker_subnets_prefer_private():
    vpc = Lookups.from_dict(example.lookups()).imported_vpc("ap-southeast-1")
    subnets, tables = vpc.worker_subnets()
    assert subnets == ("subnet-0a1a1a1a1a1a1a1a1", "subnet-0b2b2b2b2b2b2b2b2")
    assert len(tables) == 2


@pytest.mark.parametrize("days, allowed", [(1, 1), (2, 3), (45, 60), (30, 30), (100, 90),
                                           (3650, 3653), (500, 545)])
def test_nearest_retention(days, allowed):
    assert plan.nearest_retention(days) == allowed


@pytest.mark.parametrize("total, n, each", [(1000, 3, 334), (100, 2, 50), (5, 3, 2), (1, 1, 1)])
def test_split_vcpus_rounds_up(total, n, each):
    assert plan.split_vcpus(total, n) == [each] * n


def test_overlapping_peered_vpcs_are_refused():
    cfg = example.config()
    found = Lookups.from_dict(example.lookups())
    plan.check_peering(cfg, found)  # the example is fine
    cfg.regions["eu-west-1"].vpc_cidr = "10.0.128.0/17"
    with pytest.raises(ValidationError, match="overlaps the VPC of us-east-1"):
        plan.check_peering(cfg, found)


def test_worker_environment_and_image_per_region():
    cfg = example.config()
    sim = cfg.definitions["sim"]
    assert plan.definition_image(cfg, sim, "ap-southeast-1") == (
        "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/sim:latest")
    env = plan.worker_environment(cfg, sim, "eu-west-1")
    assert env["HYPER_REGION"] == "eu-west-1" and env["MODE"] == "fast"
    assert env["HYPER_LOG_GROUP"] == schema.log_group_name("demo")
    sim.image_uri = None
    with pytest.raises(ValidationError, match="needs an image"):
        plan.definition_image(cfg, sim, "eu-west-1")


def test_image_directory_needs_a_dockerfile(tmp_path):
    from hyper_tui.model import Image

    cfg = example.config()
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    assert plan.image_directory(cfg, Image(name="i", directory=str(tmp_path))) == tmp_path
    with pytest.raises(ValidationError, match="no Dockerfile"):
        plan.image_directory(cfg, Image(name="i", directory=str(tmp_path / "nope")))


def test_pairs_are_what_a_cluster_can_run():
    from hyper_tui.config import parse_config

    cfg = parse_config("""
host: {name: p, kind: aws, account: "123456789012", main_region: us-east-1}
regions: {us-east-1: {main: true, vpc_cidr: 10.0.0.0/16}}
clusters:
  small: {instance_types: [optimal], max_vcpus: 16, compute_envs: 2}
  gpu: {instance_types: [g5.xlarge, c6i.large], max_vcpus: 64}
queues: {cpu: {cluster: small}, ml: {cluster: gpu}}
definitions:
  tiny: {image_uri: python:3.12, has_agent: true, vcpus: 8}
  wide: {image_uri: python:3.12, has_agent: true, vcpus: 9}
  train: {image_uri: python:3.12, has_agent: true, vcpus: 4, gpus: 1}
""", "p.yaml")
    # 'wide' needs 9 vCPUs and a compute environment of 'small' has 8; 'train' needs a GPU
    assert plan.work_pairs(cfg) == [("cpu", "tiny"), ("ml", "tiny"), ("ml", "train"),
                                    ("ml", "wide")]
    from hyper_tui.aws.scaler_config import build_scaler_config, why_not_runnable

    assert [(p.queue, p.definition) for p in build_scaler_config(cfg).pairs] == \
        plan.work_pairs(cfg)
    assert "8" in why_not_runnable(cfg.clusters["small"], cfg.definitions["wide"])
    assert "GPU" in why_not_runnable(cfg.clusters["small"], cfg.definitions["train"])


def test_only_aws_hosts_are_built():
    from hyper_tui.aws.infra.app import build_app

    cfg = example.config()
    cfg.host.kind = "local"
    with pytest.raises(ValidationError, match="only aws hosts"):
        build_app(cfg, context={}, outdir="unused")


def test_az_context_key_matches_cdk():
    from hyper_tui.aws.infra.app import az_context_key

    assert az_context_key("123456789012", "eu-west-1") == (
        "availability-zones:account=123456789012:region=eu-west-1")


def test_synth_without_lookups_says_what_is_missing(tmp_path):
    from hyper_tui.aws.synth import synth

    # zones are guessed when not looked up; an imported VPC cannot be
    with pytest.raises(ValidationError, match="imported VPC of 'ap-southeast-1' is not looked up"):
        synth(example.config(), tmp_path, lookups={})
