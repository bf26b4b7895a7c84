"""Driving the app from Pilot tests."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Select, Switch


async def fill(pilot, values: dict[str, Any]) -> None:
    """Set wizard fields (``#in-NAME``) as a person would; each change is validated."""
    screen = pilot.app.screen
    for name, value in values.items():
        widget = screen.query_one(f"#in-{name}")
        if isinstance(widget, Input):
            widget.value = str(value)
        elif isinstance(widget, Select):
            widget.value = value
        elif isinstance(widget, Switch):
            widget.value = bool(value)
        await pilot.pause()


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]
