"""The deployments table fills its width however the screen is reached: opened from another
section at 80x24 (the sidebar folds after the first layout, widening the table without a
screen resize), its last column takes what the others leave."""

from __future__ import annotations

from textual.widgets import DataTable

from hyper_tui.app import make_app
from tests.tui.conftest import settle


async def test_the_table_fills_80x24_when_reached_from_another_section(live_home) -> None:
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: app.client is not None and app.screen.loaded_once)
        await pilot.press("9")
        await settle(pilot, until=lambda: app.screen.SECTION == "deployments"
                     and app.screen.loaded_once)
        await settle(pilot)
        table = app.screen.query_one("#deploy-resources", DataTable)
        width = table.scrollable_content_region.width
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert width - 3 <= used <= width, (used, width, [c.width for c in table.columns.values()])
        header = [str(c.label) for c in table.columns.values()]
        assert header[-1] == "last log line"


def test_the_table_shows_a_resources_last_dated_entry():
    from hyper_tui.screens.deployments_screen import summary_line

    log = ("2026-12-07 17:33:38 declared; run hyper-tui deploy to create it\n"
           "2026-12-07 17:34:01 deploy ACTIVE\n✅  hyper-prod-compute-us-east-1\n\n")
    assert summary_line(log) == "2026-12-07 17:34:01 deploy ACTIVE"
    assert summary_line("✅  only a cli line\n") == "✅  only a cli line"
    assert summary_line("") == ""
