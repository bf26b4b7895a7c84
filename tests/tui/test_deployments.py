"""The deployments screen: a local host needs no deployment (Deploy hidden); an aws host shows
not-deployed resources as such, the diff, a confirm, per-stack progress from the real CDK
events and a failure that stays FAILED; the table fits 80x24.

The moto tests run the screen's own diff and deploy (the real npm ``aws-cdk`` CLI against the
moto server of ``tests/aws/cfn_env``, shared with the other modules that deploy); the
synthesized templates pass through ``tests/aws/cfn_adapter`` (moto's own gaps) on their way to
the CLI, as in ``tests/aws/test_cfn_deploy``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from hyper_tui.app import make_app
from hyper_tui.aws import schema
from hyper_tui.messages import DeployFinished, DeployLines, DiffReady
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.deployments_screen import shown_status
from tests.aws.cfn_env import (  # noqa: F401 - cdk_cli, cfn_server, cloud, host_home: fixtures
    REGION,
    XDIST_GROUP,
    cdk_cli,
    cfn_server,
    cloud,
    host_home,
    host_yaml,
    register,
)
from tests.tui.conftest import settle

# The moto tests deploy into the xdist worker's moto server with the other modules that deploy.
pytestmark = pytest.mark.xdist_group(XDIST_GROUP)


def state_line(app) -> str:
    return str(app.screen.query_one("#deploy-state", Static).render())


def header_line(app) -> str:
    from hyper_tui.widgets.host_header import HostHeader

    return str(app.screen.query_one(HostHeader).render())


def table_statuses(app) -> dict[str, str]:
    table = app.screen.query_one("#deploy-resources", DataTable)
    out = {}
    for key in table.rows:
        kind, name, status, _ = table.get_row(key)
        out[f"{kind}/{name}"] = str(status)
    return out


# ---- without a cloud -----------------------------------------------------------------------


def test_shown_status_says_not_deployed():
    assert shown_status("CREATING", aws=True, running=False) == "NOT DEPLOYED"
    assert shown_status("UPDATING", aws=True, running=False) == "CHANGED"
    assert shown_status("CREATING", aws=True, running=True) == "CREATING"
    assert shown_status("ACTIVE", aws=True, running=False) == "ACTIVE"
    assert shown_status("CREATING", aws=False, running=False) == "CREATING"


async def test_a_local_host_needs_no_deployment_and_hides_deploy(live_home) -> None:
    app = make_app(start="deployments", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: app.client is not None and app.screen.loaded_once)
        title = str(app.screen.query_one("#deploy-title", Static).render())
        assert "needs no deployment" in title
        for action in ("deploy", "diff", "cancel_deploy"):
            assert app.screen.check_action(action, ()) is False
        assert not app.screen.query_one("#stacks").display
        footer = " ".join(str(w.render()) for w in app.screen.query("KeyFooter *"))
        assert "Deploy" not in footer
        await pilot.press("D")
        await pilot.pause()
        assert not app.screen.computing and not app.screen.running


@pytest.fixture
def offline_aws(home, monkeypatch):
    """An aws host whose cloud cannot be reached (a closed local port), never deployed."""
    from hyper_tui import config
    from hyper_tui.aws.session import ENDPOINT_ENV
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
                 "AWS_MAX_ATTEMPTS": "1", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
                 "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
                 ENDPOINT_ENV: "http://127.0.0.1:9", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(k, v)
    cfg = config.parse_config(host_yaml("cloud"), "cloud.yaml")
    config.save(cfg)
    registry.register("cloud", "aws", select=True)
    apply_config(cfg)
    return cfg


async def test_an_undeployed_aws_host_says_not_deployed(offline_aws) -> None:
    app = make_app(host="cloud", start="deployments", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.screen.loaded_once and app.host_state[2] is not None)
        await settle(pilot)
        statuses = table_statuses(app)
        assert statuses["regions/us-east-1"] == "NOT DEPLOYED", statuses
        assert "CREATING" not in statuses.values()
        assert "not deployed from here yet" in state_line(app)
        header = header_line(app)
        assert "deployment unknown" not in header and "not deployed" in header, header
        assert app.screen.check_action("deploy", ()) is True


async def test_the_table_fits_80x24(offline_aws) -> None:
    app = make_app(host="cloud", start="deployments", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: app.screen.loaded_once)
        await settle(pilot)
        table = app.screen.query_one("#deploy-resources", DataTable)
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= table.scrollable_content_region.width, (used, table.size)
        assert table.size.height >= 4  # header and rows visible
        assert app.screen.query_one("#deploy-log").size.height >= 3


# ---- against moto's CloudFormation, through the real CDK CLI ----------------------------------


@pytest.fixture(scope="module")
def moto_cdk(cloud, cdk_cli, host_home):  # noqa: F811
    """The moto cloud and the CDK CLI on PATH (as a user has it)."""
    saved = os.environ["PATH"]
    os.environ["PATH"] = f"{Path(cdk_cli).parent}{os.pathsep}{saved}"
    yield cloud
    os.environ["PATH"] = saved


@pytest.fixture
def adapted_synth(monkeypatch, tmp_path):
    """The deploy path's synth, followed by the moto adapter (moto's own gaps only)."""
    from hyper_tui.aws import synth as synth_mod
    from tests.aws.cfn_adapter import adapt_assembly

    real = synth_mod.synth_app

    def synth(cfg, out_dir, *, lookups):
        raw = tmp_path / f"raw-{len(list(tmp_path.iterdir()))}"
        real(cfg, raw, lookups=lookups)
        adapt_assembly(raw, Path(out_dir))
        return sorted(Path(out_dir).glob("*.template.json"))

    monkeypatch.setattr(synth_mod, "synth", synth)


async def run_deploy(host: str, seen: list, size=(120, 40)):
    """Open the deployments screen of ``host``, press D, confirm, wait for the end."""
    app = make_app(host=host, start="deployments", live=False, remember=False)
    async with app.run_test(size=size, message_hook=seen.append) as pilot:
        await settle(pilot, until=lambda: app.host_state[0] == host and app.screen.loaded_once)
        await pilot.press("D")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal), timeout=240)
        diff = next(m for m in seen if isinstance(m, DiffReady))
        assert diff.error is None and diff.result.differs
        await pilot.press("y")
        await settle(pilot, until=lambda: any(isinstance(m, DeployFinished) for m in seen),
                     timeout=400)
        await settle(pilot)
        screen = app.screen
        return {"app": app, "diff": diff.result,
                "panels": {s: (p.outcome, p.status, p.progress) for s, p in screen.stacks.items()},
                "state": state_line(app), "statuses": table_statuses(app),
                "header": header_line(app),
                "log": list(screen.query_one("#deploy-log").lines),
                "diff_pane": "\n".join(str(x.text) for x in screen.query_one("#deploy-diff").lines)}


async def test_the_screen_deploys_with_per_stack_progress(moto_cdk, adapted_synth) -> None:
    host = "tuiok"
    register(host_yaml(host), host)
    seen: list = []
    got = await run_deploy(host, seen)
    finished = next(m for m in seen if isinstance(m, DeployFinished))
    assert finished.ok, (finished.message, got["log"][-20:])
    compute, control = schema.compute_stack_name(host, REGION), schema.control_stack_name(host, REGION)
    events = [e for m in seen if isinstance(m, DeployLines) for e in m.events]
    for stack in (compute, control):
        mine = [status for s, status, _ in events if s == stack]
        assert "IN_PROGRESS" in mine and "ACTIVE" in mine, mine[-10:]  # the CLI's real events
        assert got["panels"][stack][:2] == ("done", "deployed"), got["panels"]
    assert "[+] AWS::DynamoDB::Table" in got["diff_pane"]
    assert "last deploy ACTIVE" in got["state"]
    assert set(got["statuses"].values()) == {"ACTIVE"}, got["statuses"]
    assert "deployed" in got["header"] and "unknown" not in got["header"], got["header"]


async def test_a_failed_deploy_stays_failed(moto_cdk, adapted_synth) -> None:
    """The workers' log group name is taken: the compute stack cannot be created, the
    control stack is never reached. Everything says FAILED, after the toast too."""
    host = "tuibad"
    register(host_yaml(host), host)
    moto_cdk.session.client("logs").create_log_group(
        logGroupName=schema.worker_log_group_name(host))
    seen: list = []
    got = await run_deploy(host, seen)
    finished = next(m for m in seen if isinstance(m, DeployFinished))
    assert not finished.ok
    compute, control = schema.compute_stack_name(host, REGION), schema.control_stack_name(host, REGION)
    assert got["panels"][compute][0] == "failed" and got["panels"][compute][1].startswith("FAILED")
    assert got["panels"][control][0] == "failed"
    # the state line, not a toast (those go): it stays until the next deploy
    assert "last deploy FAILED" in got["state"], got["state"]
    assert got["statuses"][f"regions/{REGION}"] == "FAILED", got["statuses"]
    assert any(f"❌  {compute} failed" in line for line in got["log"]), got["log"][-20:]
    assert "deploy FAILED" in got["header"] and "unknown" not in got["header"], got["header"]
    assert "20%" not in got["state"]
