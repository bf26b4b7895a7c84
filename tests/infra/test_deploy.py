"""hyper_tui.aws.deploy: the output parser (on recorded cdk output), the command lines, the
on-demand CLI install decision, and the statuses recorded; only subprocess is faked."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.hosts.registry import apply_config
from hyper_tui.local.apply import open_store
from tests.infra import example

DATA = Path(__file__).parent / "data"
HOST, MAIN, EU, AP = "demo", "us-east-1", "eu-west-1", "ap-southeast-1"
COMPUTE = {r: schema.compute_stack_name(HOST, r) for r in (MAIN, EU, AP)}
CONTROL = schema.control_stack_name(HOST, MAIN)
PEERING = schema.peering_stack_name(HOST, MAIN)
STACKS = [COMPUTE[MAIN], COMPUTE[EU], COMPUTE[AP], PEERING, CONTROL]


def recorded(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8").splitlines(keepends=True)


# ---- parser ------------------------------------------------------------------------------------


def test_parse_successful_run():
    progress = d.Progress(STACKS)
    events = [progress.feed(line) for line in recorded("cdk_deploy_ok.txt")]
    assert progress.final(0) == {s: d.ACTIVE for s in STACKS}
    main = [e.status for e in events if e.stack == COMPUTE[MAIN]]
    assert main[:4] == [d.PUBLISHING] * 4
    assert d.DEPLOYING in main and d.IN_PROGRESS in main and main[-1] == d.ACTIVE
    outputs = [e.line for e in events if e.status == d.OUTPUT]
    assert outputs[0].startswith(f"{CONTROL}.ApiUrl = https://")
    assert progress.failure is None
    # Lines about the whole run have no stack.
    assert any(e.stack is None and "Total time" in e.line for e in events)


def test_parse_failed_run():
    progress = d.Progress(STACKS)
    events = [progress.feed(line) for line in recorded("cdk_deploy_failed.txt")]
    final = progress.final(1)
    assert final[COMPUTE[MAIN]] == d.ACTIVE
    assert final[COMPUTE[EU]] == d.FAILED
    assert final[CONTROL] == d.FAILED and final[PEERING] == d.FAILED  # never reached
    assert progress.failure.startswith(f"❌  {COMPUTE[EU]} failed:")
    failed = [e for e in events if e.status == d.FAILED]
    assert [e.stack for e in failed] == [COMPUTE[EU]]
    create_failed = [e for e in events if "CREATE_FAILED" in e.line]
    assert all(e.stack == COMPUTE[EU] and e.status == d.IN_PROGRESS for e in create_failed)
    assert len(create_failed) == 2  # the event, and the "Failed resources" summary line


@pytest.mark.parametrize("line, expected", [
    (f"{COMPUTE[MAIN]}: deploying... [1/1]", (COMPUTE[MAIN], d.DEPLOYING)),
    (f" ✅  {CONTROL} (no changes)", (CONTROL, d.ACTIVE)),
    (f"{CONTROL}: fail: docker build failed", (CONTROL, d.FAILED)),
    (" ❌ Deployment failed: Error: Stack Deployments Failed", (None, d.FAILED)),
    ("Outputs:", (None, d.LOG)),
    ("other-stack: deploying... [1/1]", (None, d.LOG)),  # not one of ours
    (f"{CONTROL} | 3/57 | 5:06:03 PM | CREATE_IN_PROGRESS | AWS::SQS::Queue | Work/Q",
     (CONTROL, d.IN_PROGRESS)),
])
def test_parse_line(line, expected):
    event = d.parse_line(line, STACKS)
    assert (event.stack, event.status) == expected
    assert event.line == line


def test_parse_strips_colours():
    event = d.parse_line(recorded("cdk_colour_line.txt")[0], STACKS)
    assert event == d.DeployEvent(COMPUTE[MAIN], d.DEPLOYING,
                                  f"{COMPUTE[MAIN]}: deploying... [1/1]")


# ---- command lines and the CLI install decision -----------------------------------------------


def test_deploy_command_line(tmp_path):
    argv = d.deploy_command(["cdk"], tmp_path / "cdk.out", tmp_path / "outputs.json")
    assert argv[:4] == ["cdk", "deploy", "--app", str(tmp_path / "cdk.out")]
    for flag in ("--all", "--no-notices", "--progress", "--require-approval"):
        assert flag in argv
    assert argv[argv.index("--progress") + 1] == "events"
    # cdk's own approval of security-sensitive changes, unless a person approved the diff
    assert argv[argv.index("--require-approval") + 1] == "broadening"
    approved = d.deploy_command(["cdk"], tmp_path, tmp_path / "o.json", approval=d.APPROVED)
    assert approved[approved.index("--require-approval") + 1] == "never"
    assert argv[argv.index("--outputs-file") + 1] == str(tmp_path / "outputs.json")
    named = d.deploy_command(["cdk"], tmp_path, tmp_path / "o.json", stacks=[CONTROL])
    assert CONTROL in named and "--all" not in named


def test_cli_environment_disables_telemetry():
    env = d.cli_env({"PATH": "/bin"})
    assert env["CDK_DISABLE_CLI_TELEMETRY"] == "true"
    assert env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == "20"
    assert env["PATH"] == "/bin"


def test_cdk_on_path_is_used(tmp_path):
    cli = d.find_cdk(tmp_path, which=lambda name: "/usr/local/bin/cdk")
    assert cli == d.CdkCli(["/usr/local/bin/cdk"], False)


def test_cdk_installed_in_cache_is_reused(tmp_path):
    local = tmp_path / "node_modules" / ".bin" / "cdk"
    local.parent.mkdir(parents=True)
    local.write_text("#!/bin/sh\n")
    assert d.find_cdk(tmp_path, which=lambda name: None) == d.CdkCli([str(local)], False)


def test_cdk_missing_is_installed_with_npm(tmp_path):
    cli = d.find_cdk(tmp_path, which=lambda name: None)
    assert cli.needs_install
    assert d.install_command(tmp_path)[:4] == ["npm", "install", "--prefix", str(tmp_path)]
    assert d.install_command(tmp_path)[-1] == "aws-cdk"


def test_cache_dir_follows_hyper_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPER_HOME", str(tmp_path))
    assert d.cache_dir() == tmp_path / "cache" / "cdk-cli"


class FakePopen:
    """Stands in for subprocess.Popen: replays recorded output and records the call."""

    calls: list[dict] = []
    script: dict[str, tuple[list[str], int]] = {}

    def __init__(self, argv, *, cwd, env, **kw):
        FakePopen.calls.append({"argv": argv, "cwd": cwd, "env": env})
        lines, self.code = FakePopen.script[argv[1]]
        if argv[1] == "install":  # npm install creates the CLI
            cache = Path(argv[argv.index("--prefix") + 1])
            (cache / "node_modules" / ".bin").mkdir(parents=True, exist_ok=True)
            (cache / "node_modules" / ".bin" / "cdk").write_text("#!/bin/sh\n")
        if argv[1] == "deploy":
            out = Path(argv[argv.index("--outputs-file") + 1])
            out.write_text(json.dumps({CONTROL: {"ApiUrl": "https://abc/v1/"}}))
        self.stdout = io.StringIO("".join(lines))

    def wait(self):
        return self.code


@pytest.fixture
def fake_cdk(monkeypatch):
    FakePopen.calls = []
    FakePopen.script = {"install": (["added 1 package\n"], 0),
                        "bootstrap": ([" ✅  Environment aws://123456789012/us-east-1 bootstrapped\n"], 0),
                        "deploy": (recorded("cdk_deploy_ok.txt"), 0)}
    monkeypatch.setattr(d.subprocess, "Popen", FakePopen)
    return FakePopen


@pytest.fixture
def assembly(tmp_path) -> Path:
    """A cloud assembly manifest with the example's five stacks and their order."""
    out = tmp_path / "cdk.out"
    out.mkdir()
    deps = {COMPUTE[EU]: [COMPUTE[MAIN]], COMPUTE[AP]: [COMPUTE[MAIN]],
            PEERING: [COMPUTE[EU]], CONTROL: [COMPUTE[MAIN], COMPUTE[EU], COMPUTE[AP]]}
    arts = {s: {"type": "aws:cloudformation:stack", "dependencies": deps.get(s, []),
                "properties": {"stackName": s}} for s in STACKS}
    (out / "manifest.json").write_text(json.dumps({"artifacts": arts}))
    return out


def test_stack_order_puts_dependencies_first(assembly):
    order = d.stack_order(assembly)
    assert order.index(COMPUTE[MAIN]) < order.index(COMPUTE[EU]) < order.index(PEERING)
    assert order[-1] == CONTROL or order.index(CONTROL) > order.index(COMPUTE[AP])


def test_deploy_installs_cli_once_and_records_active(home, fake_cdk, assembly):
    cfg = example.config()
    apply_config(cfg)
    events = []
    # (the scoped bootstrap creates IAM policies: tests/aws/test_deploy_diff runs it in moto)
    result = d.deploy(cfg, assembly_dir=assembly, on_event=events.append, bootstrap=False,
                      which=lambda name: None)
    assert result.status == d.ACTIVE and set(result.stacks.values()) == {d.ACTIVE}
    commands = [c["argv"] for c in fake_cdk.calls]
    assert [c[1] for c in commands] == ["install", "deploy"]
    assert commands[0][0] == "npm"
    assert all(c["env"]["CDK_DISABLE_CLI_TELEMETRY"] == "true" for c in fake_cdk.calls[1:])
    assert any(e.stack == CONTROL and e.status == d.ACTIVE for e in events)
    store = open_store(HOST)
    rows = {(r["kind"], r["name"]): r for r in store.resources()}
    assert {r["status"] for r in rows.values()} == {d.ACTIVE}
    assert "deploy ACTIVE" in rows[("queues", "fast")]["log"]
    assert json.loads(store.get_meta("aws_outputs"))[CONTROL]["ApiUrl"] == "https://abc/v1/"
    store.close()
    assert result.log_path.read_text().count("\n") > 20

    # A second deployment finds the CLI in the cache: no install.
    fake_cdk.calls.clear()
    d.deploy(cfg, assembly_dir=assembly, bootstrap=False, which=lambda name: None)
    assert [c["argv"][1] for c in fake_cdk.calls] == ["deploy"]


def test_deploy_failure_marks_resources_of_failed_stacks(home, fake_cdk, assembly):
    cfg = example.config()
    apply_config(cfg)
    fake_cdk.script["deploy"] = (recorded("cdk_deploy_failed.txt"), 1)
    result = d.deploy(cfg, assembly_dir=assembly, bootstrap=False,
                      which=lambda name: "/usr/bin/cdk")
    assert result.status == d.FAILED and "VPC ID 'vpc-123'" in result.failure
    assert fake_cdk.calls[0]["argv"][0] == "/usr/bin/cdk"
    store = open_store(HOST)
    rows = {(r["kind"], r["name"]): r for r in store.resources()}
    store.close()
    assert rows[("regions", MAIN)]["status"] == d.ACTIVE  # its stack deployed
    assert rows[("regions", EU)]["status"] == d.FAILED
    assert "CREATE_FAILED" in rows[("regions", EU)]["log"]
    assert rows[("queues", "fast")]["status"] == d.FAILED  # control stack never reached
    assert rows[("clusters", "spot")]["status"] == d.FAILED  # lives in every compute stack


def test_resources_map_to_their_stacks():
    cfg = example.config()
    assert d.stacks_of(cfg, "regions", EU) == [COMPUTE[EU], PEERING]
    assert d.stacks_of(cfg, "regions", AP) == [COMPUTE[AP]]
    assert d.stacks_of(cfg, "queues", "fast") == [CONTROL]
    assert set(d.stacks_of(cfg, "definitions", "sim")) == {*COMPUTE.values(), CONTROL}


def test_missing_npm_is_a_clear_error(home, monkeypatch, assembly):
    def no_npm(*a, **kw):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(d.subprocess, "Popen", no_npm)
    cfg = example.config()
    apply_config(cfg)
    with pytest.raises(d.UnavailableError, match="cannot run npm"):
        d.deploy(cfg, assembly_dir=assembly, which=lambda name: None)
    store = open_store(HOST)
    assert {r["status"] for r in store.resources()} == {d.FAILED}
    store.close()
