"""The jobs screen counts in English: "1 job", "2 jobs", also in the select-all confirm."""

from __future__ import annotations

from textual.widgets import Static

from hyper_tui.app import make_app
from hyper_tui.core.jobs import Submission
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.widgets.fmt import counted
from tests.tui.conftest import settle


def test_counted():
    assert counted(1, "job") == "1 job"
    assert counted(0, "job") == "0 jobs"
    assert counted(12_345, "job") == "12,345 jobs"


async def test_one_job_is_one_job(live_home) -> None:
    from hyper_tui.hosts.registry import client_for

    client = client_for("local")
    client.submit([Submission(queue="default", definition="default", name="only",
                              command="true", hold=True)])
    client.close()
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None and app.screen.loaded_once)

        def title() -> str:
            return str(app.screen.query_one("#jobs-title", Static).render())

        await settle(pilot, until=lambda: "1 job " in title())
        assert "1 jobs" not in title()
        await pilot.press("a", "x")  # select every match, then cancel
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert app.screen.title_text == "Cancel 1 job", app.screen.title_text
        await pilot.press("n")
