"""Snapshots of an aws host's deployments screen at 120x40 and 80x24 in both themes: the diff
and per-stack progress, replayed from what the real CDK CLI printed against moto
(``tests/tui/data/cdk_*_tuiok.txt``, recorded by ``test_deployments``'s moto deploy) through
the same parsers (``hyper_tui.aws.deploy.parse_diff`` and ``Progress``), so the pictures are
deterministic. Update with ``--snapshot-update`` after looking at what changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hyper_tui.app import make_app
from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.messages import DeployLines
from tests.aws.cfn_env import host_yaml
from tests.tui.conftest import FIXED_NOW, no_blink, settle

DATA = Path(__file__).parent / "data"
HOST, REGION = "tuiok", "us-east-1"
STACKS = [schema.compute_stack_name(HOST, REGION), schema.control_stack_name(HOST, REGION)]
THEMES = ("hyper-dark", "hyper-light")


@pytest.fixture(scope="module")
def aws_home(tmp_path_factory):
    """A HYPER_HOME with the aws host of the recording, never deployed, its cloud unreachable."""
    from hyper_tui import config
    from hyper_tui.aws.session import ENDPOINT_ENV
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    home = tmp_path_factory.mktemp("snap-aws") / "home"
    mp = pytest.MonkeyPatch()
    for k, v in {"HYPER_HOME": str(home), "TZ": "UTC", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                 "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
                 "AWS_CONFIG_FILE": "/nonexistent/aws-config",
                 "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
                 ENDPOINT_ENV: "http://127.0.0.1:9", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}.items():
        mp.setenv(k, v)
    mp.delenv("HYPER_HOST", raising=False)
    time.tzset()
    cfg = config.parse_config(host_yaml(HOST), f"{HOST}.yaml")
    config.save(cfg)
    registry.register(HOST, "aws", select=True)
    apply_config(cfg)
    from hyper_tui.local.apply import open_store

    store = open_store(HOST)  # fixed times in the apply log
    try:
        store.write(lambda db: db.execute(
            "UPDATE resources SET log='2025-06-15 15:00:00 declared; run hyper-tui deploy to "
            "create it\n', updated=?", (FIXED_NOW - 3600,)))
    finally:
        store.close()
    yield home
    mp.undo()
    time.tzset()
    os.environ.get("HYPER_HOME")


def recorded_diff() -> d.DiffResult:
    lines = (DATA / "cdk_diff_tuiok.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    return d.DiffResult(Path("cdk.out"), d.parse_diff(lines, STACKS))


def recorded_events(until: str) -> list[tuple[str, str, str]]:
    """The recorded deploy's events up to (and with) the first line containing ``until``."""
    progress = d.Progress(STACKS)
    out = []
    for raw in (DATA / "cdk_deploy_tuiok.txt").read_text(encoding="utf-8").splitlines(keepends=True):
        ev = progress.feed(raw)
        out.append((ev.stack or "-", ev.status, ev.line))
        if until in raw:
            break
    return out


def test_the_recording_parses():
    diff = recorded_diff()
    assert [s.summary() for s in diff.stacks.values()] == [
        "32 to add, 0 to change, 0 to remove", "44 to add, 0 to change, 0 to remove"]
    events = recorded_events(until="✅  hyper-tuiok-control")
    assert {(s, st) for s, st, _ in events if st == d.ACTIVE} == {(s, d.ACTIVE) for s in STACKS}


def _prepare():
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot, until=lambda: app.client is not None and app.screen.loaded_once
                     and app.host_state[2] is not None)
        await settle(pilot)
        screen = app.screen
        screen.show_diff(recorded_diff())
        screen.running = True
        screen._state()
        screen._fill(screen._rows)
        # mid-deploy: the compute stack done, the control stack deploying
        screen.post_message(DeployLines(recorded_events(
            until=f"{STACKS[1]}: deploying... [2/2]")))
        await settle(pilot)
        no_blink(app)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_deployments_with_diff_and_progress(aws_home, snap_compare, theme, size) -> None:
    app = make_app(host=HOST, theme=theme, clock=lambda: FIXED_NOW, live=False,
                   start="deployments", remember=False)
    assert snap_compare(app, terminal_size=size, run_before=_prepare())
