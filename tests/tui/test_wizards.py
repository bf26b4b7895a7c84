"""Each resource wizard through a valid path (the config gets the resource) and an invalid
path (the field says why, Create stays out of reach, the config is unchanged)."""

from __future__ import annotations

import pytest

from hyper_tui import config
from hyper_tui.app import make_app
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.wizard_modal import WizardModal
from hyper_tui.widgets.model_form import FieldEditor
from tests.tui.conftest import settle
from tests.tui.helpers import fill

VALID = {
    "regions": {"name": "pool2", "worker_slots": "4"},
    "clusters": {"name": "c2", "max_vcpus": "16"},  # a local host: no spot, no compute envs
    "queues": {"name": "q2", "cluster": "default", "max_running": "5", "weights": "local=2"},
    "images": {"name": "img", "directory": "./img", "build_args": "PY=3.12, DEBUG=1"},
    "definitions": {"name": "d2", "vcpus": "2", "memory_mib": "2048", "retry_exit_codes": "3, 4"},
}

# kind: (values, field that says why, words of its message)
INVALID = {
    "regions": ({"name": "pool3", "worker_slots": "0"}, "worker_slots", "must be at least 1"),
    "clusters": ({"name": "c3", "max_vcpus": "2000000"}, "max_vcpus", "must be at most 1000000"),
    "queues": ({"name": "9lives", "cluster": "default"}, "name", "not a valid name"),
    "images": ({"name": "img2", "directory": "x", "build_args": "novalue"}, "build_args", "key=value"),
    "definitions": ({"name": "d3", "vcpus": "0"}, "vcpus", "must be at least 1"),
}


async def _open_wizard(pilot, kind: str) -> WizardModal:
    app = pilot.app
    await settle(pilot, until=lambda: app.client is not None)
    await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
    await pilot.press("a")
    await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
    return app.screen


@pytest.mark.parametrize("kind", list(VALID))
async def test_wizard_invalid_then_valid_path(live_home, kind: str) -> None:
    """Invalid: the field says why, Next stops there, Create does nothing, the config is
    unchanged. Valid: Next to the review (a diff of fields), Create, the resource is saved
    and listed."""
    values, field, words = INVALID[kind]
    before = config.load("local").to_yaml()
    app = make_app(start=kind, live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        wizard = await _open_wizard(pilot, kind)
        await fill(pilot, values)
        editor = wizard.query_one(f"#field-{field}", FieldEditor)
        assert editor.has_class("-invalid")
        assert words in str(editor.query_one(".field-error").render())
        assert wizard.result is None
        for _ in range(len(wizard.steps)):
            await pilot.press("ctrl+n")
            await pilot.pause()
        assert field in [s.name for s in wizard.steps[wizard.index][1]]
        wizard.action_create()
        await pilot.pause()
        assert app.screen is wizard
        await pilot.press("escape")  # a changed wizard asks before it is left
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, until=lambda: not isinstance(app.screen, (WizardModal, ConfirmModal)))
        assert config.load("local").to_yaml() == before

        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await fill(pilot, VALID[kind])
        assert not wizard.errors, wizard.errors
        while not wizard.query_one("#create").display:
            await pilot.press("ctrl+n")
            await pilot.pause()
        assert ("name", None, VALID[kind]["name"]) in wizard.review_rows
        await pilot.click("#create")
        name = VALID[kind]["name"]
        await settle(pilot, until=lambda: name in config.load("local").of_kind(kind))
        await settle(pilot, until=lambda: name in str(app.screen.query_one("#resources").get_row(name)))


async def test_cross_resource_rule_shown_in_wizard(live_home) -> None:
    app = make_app(start="queues", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        wizard = await _open_wizard(pilot, "queues")
        await fill(pilot, {"name": "q9", "cluster": "default", "weights": "nowhere=1"})
        assert "no region named 'nowhere'" in str(wizard.query_one("#wizard-model-error").render())
        assert wizard.result is None
        await pilot.press("escape")
    assert "q9" not in config.load("local").queues


async def test_update_wizard_shows_diff_and_saves(live_home) -> None:
    app = make_app(start="queues", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None)
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("u")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        assert wizard.query_one("#in-name").disabled
        await fill(pilot, {"max_running": "7"})
        while not wizard.query_one("#create").display:
            await pilot.press("ctrl+n")
        await pilot.pause()
        assert wizard.review_rows == [("max_running", None, 7)]
        await pilot.click("#create")
        await settle(pilot, until=lambda: config.load("local").queues["default"].max_running == 7)


async def test_delete_refused_while_referenced_then_allowed(live_home) -> None:
    from hyper_tui.screens.confirm_modal import ConfirmModal

    app = make_app(start="clusters", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("d")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        modal = app.screen
        assert modal.refuse and "queue default" in str(modal.body)
        await pilot.press("y")  # refused: y does nothing
        assert app.screen is modal
        await pilot.press("escape")
        # Add an unreferenced cluster, then delete it with confirmation.
        wizard = None
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await fill(pilot, {"name": "spare"})
        wizard.action_create()
        await settle(pilot, until=lambda: "spare" in config.load("local").clusters)
        await settle(pilot, until=lambda: app.screen.query_one("#resources").row_count == 2)
        table = app.screen.query_one("#resources")
        table.move_cursor(row=table.get_row_index("spare"))
        await pilot.press("d")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert not app.screen.refuse
        await pilot.click("#yes")
        await settle(pilot, until=lambda: "spare" not in config.load("local").clusters)
