"""Leaving the Submit form: with nothing typed Escape closes it at once; with something typed
it asks first (as the wizards do), and "Keep editing" keeps what was typed."""

from __future__ import annotations

from textual.widgets import TextArea

from hyper_tui.app import make_app
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.submit_modal import SubmitModal
from tests.tui.conftest import settle


async def _open_submit(pilot) -> SubmitModal:
    app = pilot.app
    await settle(pilot, until=lambda: app.client is not None and app.screen.loaded_once)
    await pilot.press("s")
    await settle(pilot, until=lambda: isinstance(app.screen, SubmitModal))
    return app.screen


async def test_escape_on_an_untouched_form_closes_it(live_home) -> None:
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_submit(pilot)
        await pilot.press("escape")
        await settle(pilot, until=lambda: not isinstance(app.screen, (SubmitModal, ConfirmModal)))
        assert app.screen.SECTION == "jobs"


async def test_escape_on_a_typed_form_asks_and_can_keep_it(live_home) -> None:
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        modal = await _open_submit(pilot)
        await pilot.press(*"echo hi")  # the command has the focus
        assert modal.query_one("#s-command", TextArea).text == "echo hi"
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert "lose what you typed" in str(app.screen.body)
        await pilot.press("n")  # Keep editing
        await settle(pilot, until=lambda: app.screen is modal)
        assert modal.query_one("#s-command", TextArea).text == "echo hi"
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")  # Discard
        await settle(pilot, until=lambda: not isinstance(app.screen, (SubmitModal, ConfirmModal)))
        assert app.screen.SECTION == "jobs"
