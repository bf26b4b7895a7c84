"""The command grammar: every group and command, original spellings, output, exit codes."""

import json

import pytest

from hyper_tui.cli.main import main
from hyper_tui.hosts import registry


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_first_use_creates_default_local_host(home, capsys):
    code, out, _ = cli(capsys, "queues", "list-queues", "-o", "json")
    assert code == 0
    queues = json.loads(out)
    assert [q["name"] for q in queues] == ["default"]
    assert queues[0]["status"] == "ACTIVE"
    code, out, _ = cli(capsys, "-o", "json", "clusters", "list-clusters")
    cluster = json.loads(out)[0]
    import os
    assert cluster["max_vcpus"] == os.cpu_count()
    code, out, _ = cli(capsys, "definitions", "list-definitions")
    assert "default" in out and "ACTIVE" in out
    assert registry.selected_name() == "local"


def test_hosts_commands(home, capsys):
    assert cli(capsys, "hosts", "create-host", "--name", "lab")[0] == 0
    assert cli(capsys, "hosts", "create-host", "--name", "lab")[0] == 5
    code, out, _ = cli(capsys, "hosts", "list-hosts")
    assert "* " in out and "lab" in out
    code, _, err = cli(capsys, "hosts", "create-host", "--name", "cloud", "--kind", "aws",
                       "--region", "us-east-1")
    assert code == 2 and "--account" in err
    code, _, err = cli(capsys, "hosts", "create-host", "--name", "cloud", "--account", "12",
                       "--region", "us-east-1")
    assert code == 3 and "12 digits" in err
    assert cli(capsys, "hosts", "create-host", "--name", "cloud", "--account", "123456789012",
               "--region", "us-east-1", "--vpc", "10.9.0.0/16", "--no-select")[0] == 0
    assert registry.selected_name() == "lab"
    code, out, _ = cli(capsys, "--host", "cloud", "regions", "list-regions", "-o", "json")
    region = json.loads(out)[0]
    assert region["status"] == "CREATING" and region["vpc_cidr"] == "10.9.0.0/16"
    assert cli(capsys, "hosts", "select-host", "cloud")[0] == 0
    assert registry.selected_name() == "cloud"
    code, _, err = cli(capsys, "hosts", "select-host", "nope")
    assert code == 4 and "no host named 'nope'" in err
    assert cli(capsys, "hosts", "delete-host", "cloud")[0] == 0
    assert registry.selected_name() == "lab"
    assert [h.name for h in registry.list_hosts()] == ["lab"]


def test_short_command_names_work_too(home, capsys):
    """add/create, update/set, delete/rm, list/ls, and hosts' select/use/status/stop/start."""
    assert cli(capsys, "queues", "create", "--name", "q2", "--cluster", "default")[0] == 0
    assert cli(capsys, "queues", "set", "--name", "q2", "--max-running", "3")[0] == 0
    code, out, _ = cli(capsys, "queues", "ls", "-o", "json")
    assert code == 0 and {q["name"]: q["max_running"] for q in json.loads(out)}["q2"] == 3
    assert cli(capsys, "queues", "rm", "q2")[0] == 0
    assert cli(capsys, "hosts", "add", "lab", "--empty")[0] == 0
    assert cli(capsys, "hosts", "use", "lab")[0] == 0 and registry.selected_name() == "lab"
    code, out, _ = cli(capsys, "hosts", "ls")
    assert code == 0 and "*  lab" in out


def test_host_override_by_env(home, capsys, monkeypatch):
    cli(capsys, "hosts", "create-host", "a")
    cli(capsys, "hosts", "create-host", "b", "--empty")
    monkeypatch.setenv("HYPER_HOST", "a")
    code, out, _ = cli(capsys, "queues", "list-queues")
    assert "default" in out
    code, out, _ = cli(capsys, "--host", "b", "queues", "list-queues")
    assert "no queues yet" in out
    monkeypatch.setenv("HYPER_HOST", "zzz")
    code, _, err = cli(capsys, "queues", "list-queues")
    assert code == 4


def test_original_cluster_queue_definition_commands(home, capsys):
    # The original's documented commands, as typed.
    assert cli(capsys, "clusters", "add-cluster", "--name", "sample-cluster-1", "--instance-list",
               '["m4.2xlarge","m4.4xlarge"]', "--max-vCPUs", "1000", "--compute-envs", "3",
               "--type", "SPOT", "--bid-percentage", "100", "--allocation-strategy",
               "SPOT_CAPACITY_OPTIMIZED", "--iam-policies", "[]", "--compute-resources-tags",
               "Environment", "Production", "--main-region-image-name", "")[0] == 0
    assert cli(capsys, "queues", "add-queue", "--name", "sample-queue-1", "--compute-environment",
               "sample-cluster-1", "--automate-region-weights", "False", "-rw", "local", "3")[0] == 0
    assert cli(capsys, "definitions", "add-definition", "--name", "sample-def-1",
               "--use-cyclone-image", "False", "--image-uri", "python:3.11", "--jobs-to-workers-ratio",
               "10", "--vcpus", "2", "--memory-limit-mib", "2048", "--environment", '{"A": "1"}',
               "--privileged", "False", "--timeout_minutes", "30", "--enable-qlog", "True",
               "--log-driver", "JSON_FILE", "--ulimits",
               '[{"UlimitName": "nofile", "soft_limit": 1024, "hard_limit": 4096}]')[0] == 0
    code, out, _ = cli(capsys, "clusters", "list-clusters", "--name", "sample-cluster-1", "-o", "json")
    c = json.loads(out)
    assert c["tags"] == {"Environment": "Production"} and c["max_vcpus"] == 1000
    assert c["instance_types"] == ["m4.2xlarge", "m4.4xlarge"] and c["ami_name"] is None
    code, out, _ = cli(capsys, "queues", "list-queues", "-n", "sample-queue-1", "-o", "json")
    assert json.loads(out)["weights"] == {"local": 3}
    code, out, _ = cli(capsys, "definitions", "list-definitions", "-n", "sample-def-1", "-o", "json")
    d = json.loads(out)
    assert (d["jobs_to_workers_ratio"], d["memory_mib"], d["timeout_minutes"], d["log_driver"]) == \
        (10, 2048, 30, "json-file")
    assert d["ulimits"][0]["name"] == "nofile"
    # update and delete
    assert cli(capsys, "clusters", "update-cluster", "--name", "sample-cluster-1", "--max-vCPUs", "64")[0] == 0
    code, _, err = cli(capsys, "clusters", "delete-cluster", "--name", "sample-cluster-1")
    assert code == 5 and "queue sample-queue-1" in err
    assert cli(capsys, "queues", "delete-queue", "--name", "sample-queue-1")[0] == 0
    assert cli(capsys, "clusters", "delete-cluster", "sample-cluster-1")[0] == 0


@pytest.mark.parametrize("args,code,text", [
    (["clusters", "add-cluster", "--name", "x", "--max-vCPUs", "many"], 3, "--max-vcpus"),
    (["clusters", "add-cluster", "--name", "x", "--instance-list", "[oops"], 3, "not valid JSON"),
    (["clusters", "add-cluster"], 2, "--name is required"),
    (["clusters", "add-cluster", "--name", "x", "--nope", "1"], 2, "unrecognized arguments"),
    (["clusters", "update-cluster", "--name", "ghost", "--max-vcpus", "2"], 4, "no cluster named 'ghost'"),
    (["clusters", "update-cluster", "--name", "default"], 2, "nothing to change"),
    (["queues", "add-queue", "--name", "q", "--cluster", "ghost"], 3, "no cluster named 'ghost'"),
    (["queues", "add-queue", "--name", "q", "--cluster", "default", "-rw", "mars", "1"], 3, "mars"),
    (["definitions", "add-definition", "--name", "d", "--image", "ghost"], 3, "no image named 'ghost'"),
    (["images", "add-image", "--name", "i", "--directory", "/nonexistent"], 3, "not a directory"),
    (["regions", "add-region", "--name", "r2", "--main", "True"], 3, "2 main regions"),
    (["regions", "delete-region", "local"], 5, "queue"),
    (["bogus"], 2, "unknown command 'bogus'; commands: hosts, regions"),
    (["queus", "ls"], 2, "unknown command 'queus'; did you mean 'queues'?"),
    (["queues", "lst"], 2, "did you mean 'list'? commands: add-queue, update-queue"),
    (["definitions", "add-definition", "--name", "d", "--vcpu", "2"], 2, "did you mean --vcpus?"),
    (["queues"], 2, ""),
])
def test_errors_are_one_line_with_exit_codes(home, capsys, args, code, text):
    cli(capsys, "hosts", "list-hosts")  # first use
    if args[:2] == ["regions", "delete-region"]:
        cli(capsys, "queues", "update-queue", "--name", "default", "-rw", "local", "1")
    got, out, err = cli(capsys, *args)
    assert got == code, err
    assert text in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_images_and_regions(home, capsys, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM python:3.11-slim\n")
    assert cli(capsys, "images", "add-image", "--name", "worker", "--local-build-directory", str(ctx),
               "--build-args", '{"V": "1"}')[0] == 0
    assert cli(capsys, "definitions", "add-definition", "--name", "d", "--cyclone-image-name", "worker")[0] == 0
    assert cli(capsys, "regions", "add-region", "--name", "gpu-pool", "--worker-slots", "2")[0] == 0
    code, out, _ = cli(capsys, "regions", "list-regions")
    assert "gpu-pool" in out and "local" in out
    assert cli(capsys, "regions", "init-main-region", "--vpc-endpoints", "DATA_OPTIMISED")[0] == 0
    code, out, _ = cli(capsys, "regions", "list-regions", "-n", "local", "-o", "json")
    assert json.loads(out)["vpc_endpoints"] == "DATA_OPTIMISED"


def test_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes" in out and "4 not found" in out


@pytest.mark.parametrize("body, says", [
    ("{not json", "Expecting property name"),
    ("[]", "not a JSON object"),
    ('{"hosts": []}', '"hosts" is not an object of host objects'),
    ('{"hosts": {"local": {"kind": "local"}}, "selected": 5}', '"selected" is not a host name'),
])
def test_a_broken_host_registry_is_one_line_with_exit_3(home, capsys, body, says):
    assert cli(capsys, "queues", "ls")[0] == 0  # first use writes the registry
    (home / "config" / "hosts.json").write_text(body)
    code, _, err = cli(capsys, "queues", "ls")
    assert code == 3 and says in err and "unreadable host registry" in err
    assert len(err.strip().splitlines()) == 1
