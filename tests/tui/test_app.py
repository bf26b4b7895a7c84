"""The frame: hosts, navigation, help, command palette, themes, and failures that must be
visible but never fatal (missing host, missing deploy support)."""

from __future__ import annotations

import json
import sys

from hyper_tui.app import HyperCommands, make_app
from hyper_tui.hosts import registry
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.help_modal import HelpModal
from hyper_tui.screens.wizard_modal import WizardModal
from hyper_tui.ui_settings import UiSettings
from hyper_tui.widgets.host_header import status_text
from tests.tui.conftest import settle
from tests.tui.helpers import fill, notifications


async def test_hosts_create_select_delete(live_home) -> None:
    app = make_app(start="hosts", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await fill(pilot, {"name": "lab", "kind": "aws"})
        assert "account" in wizard.errors.get("__model__", "")  # an aws host needs an account
        await fill(pilot, {"kind": "local"})
        assert wizard.result is not None
        wizard.action_create()
        await settle(pilot, until=lambda: "lab" in [h.name for h in registry.list_hosts()])
        await settle(pilot, until=lambda: app.screen.query_one("#hosts").row_count == 2)
        table = app.screen.query_one("#hosts")
        table.move_cursor(row=table.get_row_index("lab"))
        await pilot.press("enter")
        await settle(pilot, until=lambda: app.host_state[0] == "lab" and app.client is not None)
        assert registry.selected_name() == "lab"
        await pilot.press("d")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#yes")
        await settle(pilot, until=lambda: "lab" not in [h.name for h in registry.list_hosts()])
        await settle(pilot, until=lambda: app.host_state[0] == "local")


async def test_missing_host_is_a_notification_and_the_app_keeps_working(live_home) -> None:
    app = make_app(host="nope", start="jobs", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: notifications(app))
        assert any("no host named 'nope'" in n for n in notifications(app))
        assert app.client is None
        await pilot.press("1")
        await settle(pilot, until=lambda: app.screen.query_one("#hosts").row_count == 1)
        await pilot.press("r")  # refresh works without a client
        await pilot.press("7", "r")
        await settle(pilot)
        assert any("no host is connected" in n for n in notifications(app))


async def test_navigation_help_and_palette(live_home) -> None:
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None)
        for key, mode in (("1", "hosts"), ("4", "queues"), ("8", "dashboard"), ("9", "deployments"),
                          ("7", "jobs")):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
        await pilot.click("NavBar", offset=(5, 2))  # the sidebar: "3 Clusters"
        await pilot.pause()
        assert app.current_mode == "clusters"
        await pilot.press("question_mark")
        await settle(pilot, until=lambda: isinstance(app.screen, HelpModal))
        await pilot.press("escape")
        provider = HyperCommands(app.screen)
        titles = [t for t, _, _ in provider._commands()]
        for wanted in ("Go to Jobs", "Jobs: submit jobs", "Queues: add queue", "Theme: hyper-light",
                       "Deployments: synth and deploy (aws)", "Hosts: import an aws deployment"):
            assert wanted in titles
        hits = [h async for h in provider.search("submit")]
        assert hits and "submit" in str(hits[0].match_display).lower()
        # A palette command runs the action on its screen.
        app.run_on_screen("queues", "add")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))


async def test_theme_switch_is_remembered(live_home) -> None:
    app = make_app(theme="hyper-dark", start="jobs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None)
        assert app.theme == "hyper-dark"
        await pilot.press("t")
        await settle(pilot)
        assert app.theme == "hyper-light"
    assert json.loads(UiSettings.path().read_text())["theme"] == "hyper-light"
    assert make_app().theme == "hyper-light"


async def test_dead_daemon_is_a_notification(live_home) -> None:
    from hyper_tui.local.daemon_control import ensure_daemon, stop_daemon

    ensure_daemon("local", wait=True)
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: getattr(app.host_state[2], "state", None) == "running")
        stop_daemon("local")
        app.poll_status()
        await settle(pilot, until=lambda: any("daemon of host local stopped" in n
                                              for n in notifications(app)))
        assert "daemon stopped" in status_text(*app.host_state[:3], "Jobs").plain


def test_header_text() -> None:
    from hyper_tui.local.client import daemon_host_status

    running = daemon_host_status("h", {"daemon": "running", "pid": 7, "log": ""})
    assert "daemon running (pid 7)" in status_text("h", "local", running, "Jobs").plain
    assert "no host" in status_text(None, None, None, "Jobs", "boom").plain


def _aws_host() -> None:
    from hyper_tui.hosts import registry

    registry.create_aws_host("cloud", "123456789012", "us-east-1", select=False)


async def test_deploy_without_deploy_support_is_a_notification(live_home, monkeypatch) -> None:
    _aws_host()
    monkeypatch.setitem(sys.modules, "hyper_tui.aws.deploy", None)
    app = make_app(host="cloud", start="deployments", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.host_state[0] == "cloud")
        await pilot.press("D")
        await settle(pilot, until=lambda: any("deploying needs" in n for n in notifications(app)))
        await pilot.press("7")  # the app keeps working
        await pilot.pause()
        assert app.current_mode == "jobs"
