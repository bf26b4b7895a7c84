"""`hyper-tui synth` from the command line: offline, with the stored look-ups."""

import json

from hyper_tui.aws.lookups_refresh import save_lookups
from hyper_tui.cli.main import main


def test_cli_synth_writes_every_template(home, tmp_path, capsys):
    assert main(["hosts", "create-host", "--name", "prod", "--account", "123456789012",
                 "--region", "us-east-1", "--vpc", "10.0.0.0/16"]) == 0
    assert main(["clusters", "add-cluster", "--name", "c1", "--max-vCPUs", "64"]) == 0
    assert main(["queues", "add-queue", "--name", "q1", "--cluster", "c1"]) == 0
    assert main(["definitions", "add-definition", "--name", "d1", "--image-uri", "python:3.11",
                 "--has-agent", "true"]) == 0
    capsys.readouterr()
    # without look-ups, synth writes templates on placeholders and says, in one line, what
    # replaces them
    assert main(["synth", "--out", str(tmp_path / "none")]) == 0
    captured = capsys.readouterr()
    warning = captured.err.strip().splitlines()
    assert len(warning) == 1 and "availability zones" in warning[0]
    assert "hyper-tui lookups" in warning[0]
    assert any(line.endswith(".template.json") for line in captured.out.splitlines())
    save_lookups("prod", {"availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]}})
    out = tmp_path / "cdk.out"
    assert main(["synth", "--out", str(out)]) == 0
    files = [line for line in capsys.readouterr().out.splitlines() if line.endswith(".template.json")]
    assert len(files) >= 2
    for f in files:
        template = json.loads(open(f).read())
        assert template["Resources"]
    # a local host has nothing to synthesize
    assert main(["--host", "local", "synth"]) in (2, 4)


def test_the_readme_path_synthesizes_a_new_three_region_host(home, tmp_path, capsys,
                                                            no_aws_credentials):
    """What the README tells a newcomer, with no AWS account and no --vpc: create the host,
    add two hubs, a cluster, a queue and a definition, synth. (The main region's VPC was
    once left without a CIDR, and synth said "internal error: AssertionError".)"""
    assert main(["hosts", "create-host", "--name", "prod", "--account", "123456789012",
                 "--region", "us-east-1"]) == 0
    for i, hub in enumerate(("eu-west-1", "ap-northeast-1"), start=1):
        assert main(["regions", "add-region", "--name", hub, "--vpc-cidr", f"10.{i}.0.0/16"]) == 0
    assert main(["clusters", "add-cluster", "--name", "c1", "--max-vCPUs", "64"]) == 0
    assert main(["queues", "add-queue", "--name", "q1", "--cluster", "c1"]) == 0
    assert main(["definitions", "add-definition", "--name", "d1", "--image-uri", "python:3.11",
                 "--has-agent", "true"]) == 0
    capsys.readouterr()
    assert main(["regions", "list-regions", "-o", "json"]) == 0
    regions = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert regions["us-east-1"]["vpc_cidr"] == "10.0.0.0/16"
    assert main(["synth", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(1 for line in out if line.endswith(".template.json")) == 4  # 3 compute + control


def test_synth_refuses_a_vpc_it_cannot_make_or_run_in(home, capsys):
    """One line naming the field and the fix, exit 3, before any CDK work: a region with no
    vpc_cidr and no vpc_id; isolated subnets without the endpoints Batch needs."""
    assert main(["hosts", "create-host", "--name", "prod", "--account", "123456789012",
                 "--region", "us-east-1"]) == 0
    assert main(["regions", "add-region", "--name", "eu-west-1"]) == 0
    capsys.readouterr()
    assert main(["synth"]) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "regions.eu-west-1: neither vpc_cidr" in err
    assert "--vpc-cidr" in err
    assert main(["regions", "update-region", "--name", "eu-west-1", "--vpc-cidr",
                 "10.1.0.0/16"]) == 0
    for endpoints in ("OFF", "DATA_OPTIMISED"):
        assert main(["regions", "update-region", "--name", "us-east-1", "--subnet-config",
                     "PRIVATE_ISOLATED", "--vpc-endpoints", endpoints]) == 0
        capsys.readouterr()
        assert main(["synth"]) == 3
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"regions.us-east-1.vpc_endpoints: {endpoints}" in err
        assert "FOR_PRIVATE_VPC" in err


def test_no_queue_or_host_is_named_like_a_workers_control_queue(home, capsys):
    """Workers may create and delete the queues named <host>-ctl-*: a work queue named so
    (a queue 'ctl') or another host's (a host 'prod-ctl') is refused in one line, exit 3."""
    assert main(["hosts", "create-host", "--name", "prod", "--account", "123456789012",
                 "--region", "us-east-1"]) == 0
    assert main(["clusters", "add-cluster", "--name", "c1", "--max-vCPUs", "8"]) == 0
    assert main(["queues", "add-queue", "--name", "ctl", "--cluster", "c1"]) == 0
    capsys.readouterr()
    assert main(["synth"]) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "queues.ctl: a queue named 'ctl'" in err and "prod-ctl-*" in err
    assert main(["hosts", "create-host", "--name", "prod-ctl", "--account", "123456789012",
                 "--region", "us-east-1"]) == 0
    capsys.readouterr()
    assert main(["--host", "prod-ctl", "synth"]) == 3
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "host 'prod-ctl': a host name with a 'ctl' part" in err
