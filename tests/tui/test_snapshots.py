"""Snapshots of every screen at 120x40 in both themes, and of every modal (and the jobs screen)
at 80x24, from a frozen store (no daemon, fixed clock, UTC, no cursor blink). Update with
``pytest tests/tui --snapshot-update`` after looking at what changed."""

from __future__ import annotations

import pytest

from hyper_tui.app import make_app
from tests.tui.conftest import FIXED_NOW, no_blink, settle

THEMES = ("hyper-dark", "hyper-light")

# name: (start section, keys pressed once the data is in)
VIEWS = {
    "hosts": ("hosts", []),
    "regions": ("regions", []),
    "clusters": ("clusters", []),
    "queues": ("queues", []),
    "images": ("images", []),
    "definitions": ("definitions", []),
    "jobs": ("jobs", []),
    "dashboard": ("dashboard", []),
    "deployments": ("deployments", []),
    "help": ("jobs", ["question_mark"]),
    "wizard": ("queues", ["a", *"gpu", "ctrl+n"]),
    "wizard_review": ("queues", ["u", "ctrl+n", "ctrl+n", *"20", "ctrl+n"]),
    "delete_refused": ("clusters", ["down", "d"]),
    "delete_confirm": ("queues", ["down", "d"]),
    "wizard_local_cluster": ("clusters", ["a", *"gpu", "ctrl+n"]),
    "wizard_discard": ("queues", ["a", *"gpu", "escape"]),
    "submit": ("jobs", ["s"]),
    "job_details": ("jobs", ["home", "down", "down", "down", "down", "down", "down", "down", "enter"]),
    "job_log": ("jobs", ["l"]),
}

# At 80x24: every modal, and a screen with the sidebar folded.
SMALL = ("jobs", "help", "wizard", "wizard_review", "wizard_local_cluster", "wizard_discard",
         "delete_refused", "delete_confirm", "submit", "job_details")


@pytest.fixture(autouse=True)
def four_cores(monkeypatch) -> None:
    """A local cluster's default vCPUs are this machine's cores: four in every snapshot."""
    from hyper_tui.widgets import model_form

    monkeypatch.setitem(model_form.LOCAL_DEFAULTS, "cpu_count", lambda: 4)


def _prepare(keys: list[str]):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot, until=lambda: app.client is not None and not app.screen.busy)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
            await settle(pilot, until=lambda: not getattr(app.screen, "busy", False))
        await settle(pilot)
        no_blink(app)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("view", list(VIEWS))
def test_screen(snap_home, snap_compare, view: str, theme: str) -> None:
    start, keys = VIEWS[view]
    app = make_app(theme=theme, clock=lambda: FIXED_NOW, live=False, start=start, remember=False)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_prepare(keys))


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("view", SMALL)
def test_small(snap_home, snap_compare, view: str, theme: str) -> None:
    start, keys = VIEWS[view]
    app = make_app(theme=theme, clock=lambda: FIXED_NOW, live=False, start=start, remember=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_prepare(keys))
