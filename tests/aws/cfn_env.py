"""moto's CloudFormation and the npm CDK CLI, for the tests that deploy synthesized hosts through
the real deploy path (``test_cfn_deploy``, ``test_iam_principals``, ``test_deploy_diff`` and
``tests/tui/test_deployments``).

One moto server per pytest process (an xdist worker) on ``localhost`` (moto reads S3 template
URLs path-style only for localhost), started on first use and shared by every module that
deploys: the account's bootstrap (the scoped policies and each region's ``CDKToolkit`` stack)
is made once and every module deploys hosts of its own names into it. Those modules carry the
xdist group :data:`XDIST_GROUP`, so they run on one worker and share its server (pytest runs
with ``--dist loadgroup``). The environment points at the server only while a module that
asks for :func:`cloud` runs (the other aws tests use ``tests/aws/moto_env``'s server).

tests/aws/conftest.py makes the fixtures (:func:`cfn_server`, :func:`cloud`, :func:`cdk_cli`,
:func:`host_home`) available under tests/aws; a module elsewhere imports them by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws.session import ENDPOINT_ENV, AwsSession
from tests.aws.cfn_adapter import adapt_assembly, start_moto_server

REGION = "us-east-1"
HUB = "eu-west-1"
ACCOUNT = "123456789012"
CLI_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_DISABLE_CLI_TELEMETRY": "true"}
REPO = Path(__file__).resolve().parents[2]
XDIST_GROUP = "cfn"


def host_yaml(name: str, *, vpc_cidr: str = "10.0.0.0/16", max_vcpus: int = 16,
              compute_envs: int = 1, hub: str | None = None, peered: bool = False,
              lease_seconds: float | None = None, iam_policies: tuple[str, ...] = ()) -> str:
    """The config of aws host ``name``: one cluster, queue and definition in REGION, and with
    ``hub`` a second region (10.1.0.0/16; ``peered``: peered with the main VPC)."""
    settings = "" if lease_seconds is None else f", settings: {{lease_seconds: {lease_seconds}}}"
    peer = ", peer_with_main: true" if peered else ""
    hub_line = "" if hub is None else (f"\n  {hub}: {{vpc_cidr: 10.1.0.0/16, subnet_config: PUBLIC, "
                                       f'vpc_endpoints: "OFF"{peer}}}')
    policies = f", iam_policies: [{', '.join(iam_policies)}]" if iam_policies else ""
    return f"""
host: {{name: {name}, kind: aws, account: "{ACCOUNT}", main_region: {REGION}{settings}}}
regions:
  {REGION}: {{main: true, vpc_cidr: {vpc_cidr}, subnet_config: PUBLIC, vpc_endpoints: "OFF"}}{hub_line}
clusters:
  c1: {{type: ON_DEMAND, instance_types: [optimal], max_vcpus: {max_vcpus}, compute_envs: {compute_envs}}}
queues:
  q1: {{cluster: c1}}
definitions:
  d1: {{image_uri: public.ecr.aws/docker/library/python:3.12-slim, has_agent: true{policies}}}
"""


def lookups_for(*regions: str) -> dict[str, Any]:
    """What synth needs from AWS, offline: two availability zones per region."""
    return {"availability_zones": {r: [f"{r}a", f"{r}b"] for r in regions}}


def synth_adapted(cfg: Any, out: Path, lookups: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Synthesize ``cfg`` into ``out/synth`` and write moto's adapted copy to ``out/adapted``
    (``tests/aws/cfn_adapter``); the adapter's rewrites per template."""
    from hyper_tui.aws.synth import synth_app

    synth_app(cfg, out / "synth", lookups=lookups)
    return adapt_assembly(out / "synth", out / "adapted")


def deploy_approved(cfg: Any, assembly: Path, cdk_cli: str,
                    on_event: Callable[[d.DeployEvent], None] | None = None) -> d.DeployResult:
    """The deploy path of ``hyper-tui deploy --yes`` on a ready cloud assembly, with the npm
    CLI: approved (unapproved, cdk refuses the stacks' IAM changes)."""
    return d.deploy(cfg, assembly_dir=assembly, on_event=on_event or (lambda event: None),
                    which=lambda name: cdk_cli if name == "cdk" else None, approval=d.APPROVED)


def register(text: str, name: str) -> Any:
    """Save the config ``text`` of aws host ``name`` in HYPER_HOME, register and apply it."""
    from hyper_tui import config
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    cfg = config.parse_config(text, f"{name}.yaml")
    config.save(cfg)
    registry.register(name, "aws", select=False)
    apply_config(cfg)
    return cfg


def _post(url: str, body: dict[str, Any]) -> None:
    urllib.request.urlopen(urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"}), timeout=30).read()


@dataclass
class Cloud:
    url: str
    session: AwsSession


@pytest.fixture(scope="session")
def cfn_server(tmp_path_factory) -> Iterator[str]:
    """The moto server of this pytest process's deploying modules (its URL)."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    # AWS managed policies loaded (bootstrap attaches AmazonAPIGatewayPushToCloudWatchLogs);
    # once per server: this one is never reset
    proc, url = start_moto_server(
        log, env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    _post(url + "/moto-api/config", {"batch": {"use_docker": False}})
    try:
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def cloud(cfn_server) -> Iterator[Cloud]:
    """The environment pointing at the shared server (fake credentials) while the module runs;
    restored afterwards."""
    saved = dict(os.environ)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": cfn_server,
        ENDPOINT_ENV: cfn_server, **CLI_ENV})
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield Cloud(cfn_server, AwsSession(REGION))
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def cdk_cli() -> str:
    """The npm aws-cdk CLI: scripts/test.sh installs it into .venv/cdk-cli; otherwise the
    deploy path installs it (npm) into a cache folder, as ``hyper-tui deploy`` does."""
    installed = REPO / ".venv" / "cdk-cli"
    cli = d.find_cdk(installed, which=lambda name: None)
    if cli.needs_install:
        return d.ensure_cdk(installed, lambda event: None, which=lambda name: None)[0]
    return cli.argv[0]


@pytest.fixture(scope="module")
def host_home(tmp_path_factory) -> Iterator[Path]:
    """A HYPER_HOME of the module's own (its hosts' configs and stores)."""
    home = tmp_path_factory.mktemp("home")
    saved = os.environ.get("HYPER_HOME")
    os.environ["HYPER_HOME"] = str(home)
    yield home
    if saved is None:
        os.environ.pop("HYPER_HOME", None)
    else:
        os.environ["HYPER_HOME"] = saved


def iam_simulator() -> Path:
    """node_modules holding @cloud-copilot/iam-simulate (scripts/test.sh installs it)."""
    folder = REPO / ".venv" / "iam-sim"
    modules = folder / "node_modules"
    if not (modules / "@cloud-copilot" / "iam-simulate").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                        "--loglevel", "error", "@cloud-copilot/iam-simulate"], check=True,
                       capture_output=True, timeout=300)
    return modules
