"""The aws deployments screenshots, made for real: a moto server on localhost (started here),
a 3-region aws host synthesized and deployed by the app's own Deployments screen through the
npm ``cdk`` CLI, shot mid-deploy (per-stack progress from the CLI's events), then the diff
dialog of a change before its deploy.

    .venv/bin/python scripts/make_screenshots.py --moto [--only deployments-aws,...]

What is not the app's: moto's server gets the patches ``tests/aws/cfn_adapter.MOTO_SERVER``
names (change sets, custom resources, cross-region peering), plus one of this module: a Batch
compute environment without ``ServiceRole`` uses Batch's service-linked role, as AWS does
(moto refuses it), instead of the adapter's added role, which would show in every diff. The
synthesized templates pass through the adapter's other rewrites (moto's gaps): none adds or
removes a resource; one rewrites a Ref to a type moto skips (an API key's id becomes
"moto-skipped-..." in an output), seen only in the lines of a first diff that the shots do not
reach (the make_screenshots run checks no shot says "moto").
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "prod"
ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1", "ap-northeast-1")
CONFIG = f"""
host: {{name: {HOST}, kind: aws, account: "{ACCOUNT}", main_region: {REGIONS[0]}}}
regions:
  {REGIONS[0]}: {{main: true, vpc_cidr: 10.0.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}}
  {REGIONS[1]}: {{vpc_cidr: 10.1.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}}
  {REGIONS[2]}: {{vpc_cidr: 10.2.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}}
clusters:
  cpu: {{type: ON_DEMAND, instance_types: [optimal], max_vcpus: 256, compute_envs: 1}}
queues:
  default: {{cluster: cpu}}
definitions:
  py: {{image_uri: public.ecr.aws/docker/library/python:3.12-slim, has_agent: true}}
"""
# The change whose diff is shot: a bigger cluster and a second queue.
CHANGED = CONFIG.replace("max_vcpus: 256", "max_vcpus: 1024").replace(
    "  default: {cluster: cpu}\n", "  default: {cluster: cpu}\n  urgent: {cluster: cpu}\n")
CLI_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true"}

# AWS Batch creates a compute environment without ServiceRole with its service-linked role;
# moto raises KeyError('ServiceRole'). Put before tests/aws/cfn_adapter.MOTO_SERVER.
BATCH_SERVICE_LINKED_ROLE = """
from moto.batch import models as _batch
from moto.iam.models import iam_backends as _iam_backends

_ce_create = _batch.ComputeEnvironment.create_from_cloudformation_json.__func__


def _ce(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    props = cloudformation_json["Properties"]
    if "ServiceRole" not in props:
        iam = _iam_backends[account_id]["aws"]
        role = next((r for r in iam.roles.values()
                     if r.path == "/aws-service-role/batch.amazonaws.com/"), None) \
            or iam.create_service_linked_role("batch.amazonaws.com", "", "")
        cloudformation_json = {**cloudformation_json,
                               "Properties": {**props, "ServiceRole": role.arn}}
    return _ce_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


_batch.ComputeEnvironment.create_from_cloudformation_json = classmethod(_ce)
"""


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    """moto's server on localhost (S3 template URLs are read path-style only there), with
    Batch's Docker use off; returns the process and its URL."""
    from tests.aws.cfn_adapter import start_moto_server

    try:
        proc, url = start_moto_server(log, prelude=BATCH_SERVICE_LINKED_ROLE)
    except RuntimeError as err:
        raise SystemExit(str(err)) from None
    urllib.request.urlopen(urllib.request.Request(
        url + "/moto-api/config", data=json.dumps({"batch": {"use_docker": False}}).encode(),
        method="POST", headers={"Content-Type": "application/json"}), timeout=30).read()
    return proc, url


def cloud_env(url: str, home: str) -> None:
    """This process's environment: the temporary home, fake credentials, every AWS call and
    the CDK CLI (found on PATH, as a user has it) pointed at ``url``."""
    from hyper_tui.aws.session import ENDPOINT_ENV

    cli = ROOT / ".venv" / "cdk-cli" / "node_modules" / ".bin"
    if not (cli / "cdk").exists():
        raise SystemExit(f"no cdk CLI at {cli}: run scripts/test.sh once (it installs the npm "
                         "aws-cdk CLI there)")
    os.environ.update({
        "HYPER_HOME": home, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGIONS[0], "AWS_REGION": REGIONS[0],
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": url, ENDPOINT_ENV: url,
        "PATH": f"{cli}{os.pathsep}{os.environ['PATH']}", **CLI_ENV})
    for key in ("AWS_PROFILE", "HYPER_HOST"):
        os.environ.pop(key, None)


def save_host(text: str, *, new: bool = True) -> None:
    """The host's configuration saved and applied (registered the first time)."""
    from hyper_tui import config
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    cfg = config.parse_config(text, f"{HOST}.yaml")
    config.save(cfg)
    if new:
        registry.register(HOST, "aws", select=True)
    apply_config(cfg)


def adapt_synth(work: Path) -> None:
    """The deploy path's synth followed by the adapter's rewrites for moto's gaps, except its
    added Batch role (the server above does what AWS does instead)."""
    from hyper_tui.aws import synth as synth_mod
    from tests.aws import cfn_adapter

    real = synth_mod.synth
    rewrites = [f for f in cfn_adapter.REWRITES if f is not cfn_adapter.batch_service_role]

    def synth(cfg: Any, out_dir: Any, *, lookups: Any) -> list[Path]:
        raw = work / f"synth-{len(list(work.iterdir()))}"
        real(cfg, raw, lookups=lookups)
        cfn_adapter.shutil.copytree(raw, out_dir, dirs_exist_ok=True)
        for path in sorted(Path(out_dir).glob("*.template.json")):
            template = json.loads(path.read_text())
            for rewrite in rewrites:
                rewrite(template)
            path.write_text(json.dumps(template, indent=1))
        return sorted(Path(out_dir).glob("*.template.json"))

    synth_mod.synth = synth


def mid_deploy(screen: Any) -> bool:
    """The moment worth a picture: a stack deployed, the next under way, others publishing.
    (moto's CloudFormation creates a stack's resources within one call, so a stack's bar
    jumps from its first resource event to the end; cdk deploys the stacks in turn.)"""
    outcomes = [p.outcome for p in screen.stacks.values()]
    return "done" in outcomes and outcomes.count("running") >= 2


async def _until(pilot: Any, ok: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)


async def _shot(app: Any, pilot: Any, out: Path, name: str, size: tuple[int, int],
                only: set[str]) -> None:
    if only and name not in only:
        return
    if app.size != size:
        await pilot.resize_terminal(*size)
    for _ in range(3):
        await pilot.pause(0.1)
    path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
    text = path.read_text(encoding="utf-8").replace("&#160;", " ")
    for word in ("moto", "unreachable", "localhost"):  # the set-up must not show
        if word in text.lower():
            raise SystemExit(f"{path} shows {word!r}: fix its cause before using the shot")
    print(f"  {path}")


async def deploy_and_shoot(out: Path, only: set[str], big: tuple[int, int],
                           small: tuple[int, int]) -> None:
    """Deploy the host from its Deployments screen (D, then y), shot mid-deploy; then the
    diff dialog of CHANGED (D; not deployed)."""
    from hyper_tui.app import make_app
    from hyper_tui.messages import DeployFinished
    from hyper_tui.screens.confirm_modal import ConfirmModal
    from hyper_tui.screens.deployments_screen import DeploymentsScreen

    seen: list[Any] = []

    def finished() -> Any:
        return next((m for m in seen if isinstance(m, DeployFinished)), None)

    app = make_app(host=HOST, start="deployments", theme="hyper-dark", live=False, remember=False)
    async with app.run_test(size=big, message_hook=seen.append) as pilot:
        await _until(pilot, lambda: app.host_state[0] == HOST and app.screen.loaded_once, 120,
                     "the host")
        screen = app.screen
        await pilot.press("D")
        print("  cdk diff of the new host ...")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmModal), 900, "the diff")
        await pilot.press("y")
        print("  cdk bootstrap and deploy ...")
        await _until(pilot, lambda: mid_deploy(screen) or finished(), 1800,
                     "the middle of the deploy")
        if finished():
            raise SystemExit(f"the deploy ended before a picture: {finished()}")
        await _shot(app, pilot, out, "deployments-aws", big, only)
        await _shot(app, pilot, out, "deployments-aws-80x24", small, only)
        await pilot.resize_terminal(*big)
        await _until(pilot, finished, 1800, "the end of the deploy")
        end = finished()
        if not end.ok:
            raise SystemExit(f"the deploy failed: {end.message} (log {end.log})")
        print(f"  deployed: {end.stacks}")
    save_host(CHANGED, new=False)
    app = make_app(host=HOST, start="deployments", theme="hyper-dark", live=False, remember=False)
    async with app.run_test(size=big) as pilot:
        await _until(pilot, lambda: isinstance(app.screen, DeploymentsScreen)
                     and app.host_state[0] == HOST and app.screen.loaded_once
                     and app.host_state[2] is not None, 120, "the host")
        await pilot.press("D")
        print("  cdk diff of a change ...")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmModal), 900, "the diff")
        await _shot(app, pilot, out, "deployments-aws-diff", big, only)
        await _shot(app, pilot, out, "deployments-aws-diff-80x24", small, only)
        await pilot.press("n")  # not now: the diff stays on the screen
        await _until(pilot, lambda: isinstance(app.screen, DeploymentsScreen), 30, "the screen")
        await _shot(app, pilot, out, "deployments-aws-diff-review", big, only)


SHOTS = ("deployments-aws", "deployments-aws-80x24", "deployments-aws-diff",
         "deployments-aws-diff-80x24", "deployments-aws-diff-review")


def main(out: Path, only: set[str], big: tuple[int, int], small: tuple[int, int]) -> None:
    import asyncio
    import shutil

    work = Path(tempfile.mkdtemp(prefix="hyper-shots-aws-"))
    proc, url = start_moto(work / "moto.log")
    try:
        cloud_env(url, str(work / "home"))
        (work / "cdk").mkdir()
        adapt_synth(work / "cdk")
        save_host(CONFIG)
        asyncio.run(deploy_and_shoot(out, only, big, small))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
