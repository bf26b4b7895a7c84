"""One registry of sections: the sidebar, the modes, the palette and the help come from it."""

from __future__ import annotations

import importlib

import pytest

from hyper_tui.sections import BY_MODE, SECTIONS


def test_keys_and_modes_are_unique():
    assert len({s.key for s in SECTIONS}) == len(SECTIONS)
    assert list(BY_MODE) == [s.mode for s in SECTIONS]


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.mode)
def test_each_screen_exists_and_has_its_actions(section):
    module, cls = section.screen.split(":")
    screen = getattr(importlib.import_module(f"hyper_tui.screens.{module}"), cls)
    for action in section.actions:
        assert callable(getattr(screen, f"action_{action.name}", None)), (section.mode, action.name)


def test_the_app_derives_modes_sidebar_and_palette_from_the_registry():
    from hyper_tui.app import HyperApp, _modes, palette_commands
    from hyper_tui.widgets.nav_bar import NavBar

    assert list(_modes()) == [s.mode for s in SECTIONS]
    keys = {b.key: b.action for b in HyperApp.BINDINGS if b.key in {s.key for s in SECTIONS}}
    assert keys == {s.key: f"switch_mode('{s.mode}')" for s in SECTIONS}
    nav = NavBar("jobs")
    assert [o.id for o in nav._options] == [s.mode for s in SECTIONS]
    titles = [title for title, _, _ in palette_commands(HyperApp())]
    for s in SECTIONS:
        assert f"Go to {s.label}" in titles
        for a in s.actions:
            assert f"{s.label}: {a.title}" in titles
