"""``hyper-tui diff`` / ``deploy`` as an AWS engineer runs them, against moto's CloudFormation
through the real npm ``aws-cdk`` CLI: the scoped bootstrap, ``cdk diff`` before any deploy
(everything added), after a deploy (no differences), after a config change (only that
change), and the CLI's confirmation (y/N on a terminal, refusal without one, ``--yes``).

The moto server of ``tests/aws/cfn_env`` (shared with the other modules that deploy, each with
hosts of its own names); the templates go through ``tests/aws/cfn_adapter`` (moto's own gaps
only) before the CLI sees them. Synths are shared where the proof is the same: the host is
synthesized twice (the deploy's, then a fresh one that must show no differences, also the
CLI's refusal and --yes), the changed config (max_vcpus 32) once, for its diff and for the
terminal's question (both only need a config that differs from the deployed one).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.aws.account_settings import APIGW_LOGS_ROLE
from hyper_tui.aws.infra import bootstrap as policies
from tests.aws.cfn_adapter import MOTO_BATCH_ROLE
from tests.aws.cfn_env import ACCOUNT, REGION, REPO, XDIST_GROUP, host_yaml, lookups_for, register, synth_adapted

pytestmark = pytest.mark.xdist_group(XDIST_GROUP)  # the worker's moto server (cfn_env)

HOST = "dif"
CONFIG = host_yaml(HOST)
LOOKUPS = lookups_for(REGION)
TIMINGS: dict[str, float] = {}


def synthesized(cfg, out: Path) -> Path:
    """``cfg``'s cloud assembly as moto's CloudFormation takes it."""
    synth_adapted(cfg, out, LOOKUPS)
    return out / "adapted"


@pytest.fixture(scope="module")
def which(cdk_cli):
    return lambda name: cdk_cli if name == "cdk" else None


@pytest.fixture(scope="module")
def host(cloud, host_home, tmp_path_factory):
    cfg = register(CONFIG, HOST)
    from hyper_tui.aws.synth import LOOKUPS_META_KEY
    from hyper_tui.local.apply import open_store

    store = open_store(HOST)
    try:
        store.write(lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                          (LOOKUPS_META_KEY, json.dumps(LOOKUPS))))
    finally:
        store.close()
    return cfg


def with_max_vcpus(n: int):
    """The host's config with cluster c1's max_vcpus changed (not saved)."""
    from hyper_tui import config

    return config.parse_config(host_yaml(HOST, max_vcpus=n), f"{HOST}.yaml")


def timed(name: str, fn, *args, **kwargs):
    start = time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        TIMINGS[name] = time.monotonic() - start
        print(f"\nTIMING {name}: {TIMINGS[name]:.1f} s")


@pytest.fixture(scope="module")
def first(host, which, tmp_path_factory):
    """The diff before anything is deployed, then the scoped bootstrap and the deploy."""
    assembly = synthesized(host, tmp_path_factory.mktemp("first"))
    shown = timed("first diff", d.diff, host, assembly_dir=assembly, which=which)
    events: list[d.DeployEvent] = []
    result = timed("bootstrap + deploy", d.deploy, host, assembly_dir=shown.assembly,
                   on_event=events.append, which=which, approval=d.APPROVED)
    return shown, result, events


@pytest.fixture(scope="module")
def unchanged(first, host, tmp_path_factory) -> Path:
    """A second synth of the deployed host's unchanged config."""
    return synthesized(host, tmp_path_factory.mktemp("same"))


@pytest.fixture(scope="module")
def changed(first, tmp_path_factory) -> Path:
    """The host's config with cluster c1's max_vcpus 32 (deployed: 16), synthesized."""
    return synthesized(with_max_vcpus(32), tmp_path_factory.mktemp("changed"))


def test_the_first_diff_shows_every_resource_added(first):
    shown, _, _ = first
    stacks = d.stack_order(shown.assembly)
    assert list(shown.stacks) == stacks
    for stack in stacks:
        diff = shown.stacks[stack]
        template = json.loads((shown.assembly / f"{stack}.template.json").read_text())
        declared = [k for k, r in template["Resources"].items() if r["Type"] != "AWS::CDK::Metadata"]
        print(f"\nDIFF {stack}: {diff.summary()}")
        assert diff.differs and diff.changed == 0 and diff.removed == 0
        assert diff.added == len(declared), "\n".join(diff.lines)
    assert "[+] AWS::DynamoDB::Table" in shown.text()


def test_bootstrap_is_scoped_and_the_deploy_succeeds(first, cloud):
    _, result, events = first
    assert result.status == d.ACTIVE, (result.failure, [e.line for e in events][-20:])
    lines = [e.line for e in events]
    exec_arn = policies.policy_arn(ACCOUNT, policies.execution_policy_name())
    assert any(f"policy {exec_arn}: " in ln for ln in lines)
    iam = cloud.session.client("iam")
    doc = iam.get_policy_version(PolicyArn=exec_arn, VersionId=iam.get_policy(
        PolicyArn=exec_arn)["Policy"]["DefaultVersionId"])["PolicyVersion"]["Document"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc == policies.execution_policy(ACCOUNT)
    # the bootstrap stack got the scoped policy and the boundary, not AdministratorAccess
    cf = cloud.session.client("cloudformation")
    params = {p["ParameterKey"]: p["ParameterValue"] for p in
              cf.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["Parameters"]}
    # (a CommaDelimitedList: moto shows it as the list's repr)
    assert exec_arn in params["CloudFormationExecutionPolicies"]
    assert "AdministratorAccess" not in params["CloudFormationExecutionPolicies"]
    assert params["InputPermissionsBoundary"] == policies.execution_policy_name()
    # API Gateway's CloudWatch role is the account's (bootstrap keeps or sets it), no stack's
    held = cloud.session.client("apigateway").get_account()["cloudwatchRoleArn"]
    assert any(ln.startswith(f"API Gateway CloudWatch Logs role of {REGION}: {held} (")
               for ln in lines), lines
    assert held == f"arn:aws:iam::{ACCOUNT}:role/{APIGW_LOGS_ROLE}"
    role = iam.get_role(RoleName=f"cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}")["Role"]
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert "AdministratorAccess" not in str(attached)
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == exec_arn
    # every role the stacks created carries the host's boundary
    boundary = policies.policy_arn(ACCOUNT, policies.boundary_name())
    roles = [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    made = [r for r in roles if r["RoleName"].startswith(f"hyper-{HOST}-")
            and MOTO_BATCH_ROLE not in r["RoleName"]]  # that one is the adapter's, not ours
    assert made
    for r in made:
        got = iam.get_role(RoleName=r["RoleName"])["Role"]
        assert got.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn") == boundary, got
    # the deploy ran with --require-approval never only because it was approved
    assert "--require-approval never" in " ".join(d.deploy_command(["cdk"], Path("."), Path("o"),
                                                                   approval=d.APPROVED))
    assert "never" not in d.deploy_command(["cdk"], Path("."), Path("o"))


def test_a_second_diff_without_change_shows_no_differences(unchanged, host, which):
    shown = timed("diff, no change", d.diff, host, assembly_dir=unchanged, which=which)
    assert not shown.differs, shown.text()
    assert all(s.summary() == "no differences" for s in shown.stacks.values())


def test_a_config_change_shows_only_that_change(changed, which):
    shown = timed("diff, one change", d.diff, with_max_vcpus(32), assembly_dir=changed,
                  which=which)
    compute = schema.compute_stack_name(HOST, REGION)
    print("\n" + shown.text())
    assert shown.stacks[compute].changed >= 1
    assert all(s.added == 0 and s.removed == 0 for s in shown.stacks.values()), shown.text()
    changed_types = {ln.split()[1] for s in shown.stacks.values() for ln in s.lines
                     if ln.startswith("[~] ")}
    assert "AWS::Batch::ComputeEnvironment" in changed_types
    assert changed_types <= {"AWS::Batch::ComputeEnvironment", "AWS::Lambda::Function"}, \
        changed_types  # the compute environment, and the scaler whose config names its vCPUs
    assert any("MaxvCpus" in ln for ln in shown.stacks[compute].lines)


# ---- the CLI: diff, the question, --yes ----------------------------------------------------------


def cli(*args: str, stdin=subprocess.DEVNULL, timeout: float = 300,
        host: str = HOST) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(cdk_cli_path()).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "hyper_tui.cli.main", "--host", host, *args],
                          capture_output=True, text=True, stdin=stdin, env=env, timeout=timeout,
                          cwd=REPO)


def cdk_cli_path() -> str:
    return str(REPO / ".venv" / "cdk-cli" / "node_modules" / ".bin" / "cdk")


def test_deploy_without_a_terminal_refuses_unless_yes(unchanged):
    assembly = unchanged
    r = cli("deploy", "--app", str(assembly))
    assert r.returncode == 2, r
    assert r.stderr.strip().count("\n") == 0
    assert "confirmation needed" in r.stderr and "--yes" in r.stderr
    r = cli("diff", "--app", str(assembly))
    assert r.returncode == 0, r.stderr
    assert "no differences" in r.stdout
    r = cli("deploy", "--app", str(assembly), "--yes", "--no-bootstrap")
    assert r.returncode == 0, r.stderr
    assert "no differences, nothing to deploy" in r.stdout


def on_a_terminal(host: str, argv: list[str], answer: bytes,
                  timeout: float = 150) -> tuple[int, str]:
    """Run the CLI with a terminal (pty) as stdin and stdout; answer its [y/N] question."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(cdk_cli_path()).parent}{os.pathsep}{env.get('PATH', '')}"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on a terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "hyper_tui.cli.main", "--host", host,
                                   *argv], env)
    out = b""
    deadline = time.monotonic() + timeout
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"[y/N]" in out:
            os.write(fd, answer + b"\n")
            answered = True
    text = out.decode("utf-8", "replace")
    if time.monotonic() >= deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
        raise AssertionError(f"the CLI did not end within {timeout} s: {text[-3000:]}")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert answered, text[-2000:]
    return os.waitstatus_to_exitcode(status), text


def test_deploy_on_a_terminal_shows_the_diff_and_asks(changed):
    """n: nothing deployed, whatever the diff shows."""
    code, text = on_a_terminal(HOST, ["deploy", "--app", str(changed), "--no-bootstrap"], b"n")
    assert code == 0, text[-2000:]
    assert "[~] AWS::Batch::ComputeEnvironment" in text
    assert "Deploy these changes to 2 stack(s) of host dif? [y/N]" in text
    assert "nothing deployed" in text


def test_y_on_a_terminal_deploys_what_was_shown(first, tmp_path_factory):
    """y: a second host is created (moto's change sets cannot update a stack: cdk then waits
    for ever, so the y path is proven on a creation)."""
    other = "dif2"
    cfg = register(host_yaml(other, vpc_cidr="10.2.0.0/16"), other)
    assembly = synthesized(cfg, tmp_path_factory.mktemp("tty-y"))
    start = time.monotonic()
    code, text = on_a_terminal(other, ["deploy", "--app", str(assembly), "--no-bootstrap"], b"y")
    TIMINGS["CLI deploy of a new host (y)"] = time.monotonic() - start
    print(f"\nTIMING CLI deploy of a new host (y): {TIMINGS['CLI deploy of a new host (y)']:.1f} s")
    assert code == 0, text[-3000:]
    assert "Deploy these changes to 2 stack(s) of host dif2? [y/N]" in text
    for stack in (schema.compute_stack_name(other, REGION), schema.control_stack_name(other, REGION)):
        assert f"{stack}: ACTIVE" in text, text[-3000:]
        assert f"{stack} | IN_PROGRESS |" in text  # the CLI's progress events, per stack
    r = cli("diff", "--app", str(assembly), host=other)
    assert r.returncode == 0 and "no differences" in r.stdout, r.stdout[-2000:]


def test_an_unapproved_deploy_is_refused_by_cdk(first, which, tmp_path_factory, cloud):
    """Without approval cdk keeps its own check (--require-approval broadening): IAM and
    security-group changes are refused, since it has no terminal to ask; nothing is created."""
    other = "dif3"
    cfg = register(host_yaml(other, vpc_cidr="10.3.0.0/16"), other)
    events: list[d.DeployEvent] = []
    result = d.deploy(cfg, assembly_dir=synthesized(cfg, tmp_path_factory.mktemp("unapproved")),
                      on_event=events.append, which=which, bootstrap=False)
    assert result.status == d.FAILED
    assert any("security-sensitive" in e.line and "not attached" in e.line for e in events)
    cf = cloud.session.client("cloudformation")
    mine = [s for page in cf.get_paginator("list_stacks").paginate()
            for s in page["StackSummaries"] if s["StackName"].startswith(f"hyper-{other}-")]
    for stack in mine:  # at most the empty stack a change set starts from
        assert stack["StackStatus"] in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE"), stack
