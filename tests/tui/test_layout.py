"""Layout from 80x24 up and the keys of every form: each modal fits the terminal with its
buttons in view, shows its own keys in the footer, and Enter / ctrl+s / Escape mean the same
everywhere; the sidebar folds. Run on the frozen snapshot store (no daemon) unless a test
submits jobs (then a live local host)."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widgets import Button, Input

from hyper_tui import config
from hyper_tui.app import make_app
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.help_modal import keys_text
from hyper_tui.screens.submit_modal import SubmitModal
from hyper_tui.screens.wizard_modal import WizardModal
from hyper_tui.widgets.key_footer import KeyFooter
from hyper_tui.widgets.nav_bar import NavBar
from tests.tui.conftest import FIXED_NOW, settle
from tests.tui.helpers import fill, notifications

# name: (start section, keys, words the modal's footer shows)
MODALS = {
    "help": ("jobs", ["question_mark"], ["Close"]),
    "add_queue": ("queues", ["a"], ["Cancel", "Next", "Save"]),
    "add_queue_review": ("queues", ["a", *"gpu", "ctrl+n", "ctrl+n", "ctrl+n"], ["Save"]),
    "update_definition": ("definitions", ["u"], ["Next", "Save"]),
    "delete_confirm": ("queues", ["down", "d"], ["Close", "Yes"]),
    "delete_refused": ("clusters", ["down", "d"], ["Close"]),
    "submit": ("jobs", ["s"], ["Cancel", "Submit"]),
    "job_details": ("jobs", ["enter"], ["Close"]),
    "resource_details": ("queues", ["enter"], ["Close"]),
    "create_host": ("hosts", ["a"], ["Next", "Save"]),
    "import_host": ("hosts", ["i"], ["Next", "Save"]),
    "delete_host": ("hosts", ["d"], ["Close", "Yes"]),
}


def _app(start: str):
    return make_app(theme="hyper-dark", clock=lambda: FIXED_NOW, live=False, start=start, remember=False)


async def _open(pilot, keys: list[str]) -> None:
    app = pilot.app
    await settle(pilot, until=lambda: app.client is not None and not app.screen.busy)
    await settle(pilot)
    await pilot.press(*keys)
    await settle(pilot)


def _inside(inner: Region, outer: Region) -> bool:
    return inner.width > 0 and inner.height > 0 and outer.contains_region(inner)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("name", list(MODALS))
async def test_every_modal_fits_with_buttons_and_its_own_keys(snap_home, name: str, size) -> None:
    start, keys, footer_words = MODALS[name]
    app = _app(start)
    async with app.run_test(size=size) as pilot:
        await _open(pilot, keys)
        modal = app.screen
        assert modal.is_modal, f"{name}: no modal open ({modal!r})"
        screen = Region(0, 0, *size)
        box = modal.query_one(".dialog, #wizard")
        assert _inside(box.region, screen), f"{name}: the dialog {box.region} is larger than {size}"
        for button in modal.query(Button):
            if button.display:
                assert _inside(button.region, box.region), f"{name}: button {button.label} is cut off"
        # Nothing scrolls sideways; nothing is wider than the dialog.
        for w in modal.query("*"):
            assert not w.show_horizontal_scrollbar, f"{name}: {w!r} scrolls sideways"
        footer = modal.query_one(KeyFooter)
        assert footer.region.y == size[1] - 1
        text = str(footer.render())
        for word in footer_words:
            assert word in text, f"{name}: the footer shows {text!r}, not the modal's {word!r}"


async def test_the_sidebar_folds_and_the_choice_holds(snap_home) -> None:
    app = _app("jobs")
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, [])
        assert app.screen.query_one(NavBar).display
        await pilot.press("ctrl+b")
        assert not app.screen.query_one(NavBar).display
        await pilot.press("4")
        await settle(pilot)
        assert not app.screen.query_one(NavBar).display  # every screen
        await pilot.press("ctrl+b")
        assert app.screen.query_one(NavBar).display
    app = _app("jobs")
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, [])
        assert not app.screen.query_one(NavBar).display  # folded below 100 columns
        body = app.screen.query_one("#body")
        assert body.region.width >= 78
        await pilot.press("ctrl+b")
        assert app.screen.query_one(NavBar).display


async def test_wizard_ctrl_s_saves_from_any_step_and_says_what_stops_it(live_home) -> None:
    app = make_app(start="queues", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await pilot.press("ctrl+s")  # nothing filled in: name and cluster are required
        await pilot.pause()
        assert app.screen is wizard
        assert wizard.errors["name"] == "required"
        assert any(n.startswith("fix name") and "required" in n for n in notifications(app))
        await fill(pilot, {"name": "fast2", "cluster": "default"})
        await pilot.press("ctrl+s")  # from step 1: saved without visiting the others
        await settle(pilot, until=lambda: "fast2" in config.load("local").queues)


async def test_wizard_enter_goes_next_then_creates(live_home) -> None:
    app = make_app(start="queues", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await fill(pilot, {"name": "q9", "cluster": "default"})
        wizard.query_one("#in-name", Input).focus()
        while wizard.index < len(wizard.steps) - 1:
            before = wizard.index
            focused = app.focused
            if isinstance(focused, Input):
                await pilot.press("enter")
            else:
                await pilot.press("ctrl+n")
            await pilot.pause()
            assert wizard.index == before + 1
        assert app.focused is wizard.query_one("#create", Button)
        await pilot.press("enter")
        await settle(pilot, until=lambda: "q9" in config.load("local").queues)


async def test_leaving_a_changed_wizard_asks(live_home) -> None:
    app = make_app(start="images", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        await pilot.press("escape")  # nothing typed: leaves at once
        await settle(pilot, until=lambda: not app.screen.is_modal)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await fill(pilot, {"name": "base2"})
        wizard.query_one("#cancel", Button).focus()
        await pilot.press("enter")  # Enter on the focused Cancel: asks, loses nothing yet
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        confirm = app.screen
        assert [str(b.label) for b in confirm.query(Button)] == ["Keep editing", "Discard"]
        await pilot.press("enter")  # the safe button has the focus
        await settle(pilot, until=lambda: app.screen is wizard)
        assert wizard.query_one("#in-name", Input).value == "base2"
        await pilot.press("escape")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, until=lambda: not app.screen.is_modal)
        assert "base2" not in config.load("local").images


async def test_required_fields_are_required(live_home) -> None:
    """The image wizard once saved an empty directory, which the CLI refuses."""
    app = make_app(start="images", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        await fill(pilot, {"name": "img3", "directory": "   "})
        assert wizard.result is None and wizard.errors["directory"] == "required"
        wizard.action_create()
        await pilot.pause()
        assert app.screen is wizard
        assert "img3" not in config.load("local").images


async def test_local_host_wizard_hides_aws_fields_and_fits_the_machine(live_home) -> None:
    import os

    app = make_app(start="clusters", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        await pilot.press("a")
        await settle(pilot, until=lambda: isinstance(app.screen, WizardModal))
        wizard = app.screen
        shown = {s.name for s in wizard.specs}
        assert shown == {"name", "max_vcpus"}
        assert wizard.query_one("#in-max_vcpus", Input).value == str(os.cpu_count())
        await fill(pilot, {"name": "c5", "max_vcpus": ""})  # emptied: an error, never 1000
        assert wizard.errors["max_vcpus"] == f"give a value (the default is {os.cpu_count()})"
        await fill(pilot, {"max_vcpus": "2"})
        wizard.action_create()
        await settle(pilot, until=lambda: "c5" in config.load("local").clusters)
        assert config.load("local").clusters["c5"].max_vcpus == 2


async def test_update_on_a_local_host_keeps_the_hidden_fields(snap_home, tmp_path) -> None:
    """The snapshot store's cluster "big" is ON_DEMAND with instance types: a local host's
    update wizard does not show them, and the review changes only what was edited."""
    app = _app("clusters")
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, ["u"])  # "big" is the first row
        wizard = app.screen
        assert isinstance(wizard, WizardModal) and wizard.existing.name == "big"
        await fill(pilot, {"max_vcpus": "128"})
        assert wizard._changes() == {"max_vcpus": 128}


async def test_submit_enter_submits_and_ctrl_s_is_shown(live_home) -> None:
    from hyper_tui.hosts.registry import client_for

    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: app.client is not None and not app.screen.busy)
        await pilot.press("s")
        await settle(pilot, until=lambda: isinstance(app.screen, SubmitModal))
        modal = app.screen
        assert "^s Submit" in str(modal.query_one(KeyFooter).render())
        await pilot.press(*"echo enter")
        modal.query_one("#s-name", Input).value = "by-enter"
        modal.query_one("#s-name", Input).focus()
        await pilot.press("enter")
        await settle(pilot, until=lambda: not app.screen.is_modal)
    client = client_for("local")
    try:
        jobs = client.list_jobs(name="by-enter", limit=5)
        assert [j["name"] if isinstance(j, dict) else j.name for j in jobs] == ["by-enter"]
    finally:
        client.close()


def test_help_shows_keys_as_typed() -> None:
    from textual.binding import Binding

    assert keys_text(Binding("ctrl+c,super+c", "copy", "Copy"), lambda b: b.key) == "ctrl+c"
    assert keys_text(Binding("enter,space", "go", "Go"), lambda b: b.key) == "enter / space"
    assert keys_text(Binding("question_mark", "help", "Help", key_display="?")) == "?"


async def test_an_empty_screen_says_what_to_do(live_home) -> None:
    app = make_app(start="images", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: getattr(app.screen, "cfg", None) is not None)
        title = str(app.screen.query_one("#resource-title").render())
        assert "none yet: press a to add an image" in title


@pytest.mark.parametrize("start", ["jobs", "queues", "deployments"])
async def test_the_footer_packs_its_keys_at_80_columns(snap_home, start: str) -> None:
    app = _app(start)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, [])
        text = str(app.screen.query_one(KeyFooter).render()).rstrip()
        assert len(text) <= 80 and text.endswith("Commands"), f"cut: {text!r}"
