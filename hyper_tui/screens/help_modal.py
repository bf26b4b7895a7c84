"""``?``: every key of the app and of the screen in force, with what it does."""

from __future__ import annotations

import dataclasses

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding

from hyper_tui.screens.text_modal import TextModal
from hyper_tui.sections import SECTIONS


def _bindings_table(title: str, bindings: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=None,
                  show_header=False, pad_edge=False)
    table.add_column("key", style="bold yellow", width=12)
    table.add_column("what")
    for key, what in bindings:
        table.add_row(key, what)
    return table


def keys_text(binding: Binding, key_display=lambda b: b.key_display or b.key) -> str:
    """The keys of a binding as a person types them: ``ctrl+c,super+c`` -> ``^c`` (a terminal
    never sends super), ``enter,space`` -> ``enter / space``."""
    if binding.key_display:
        return binding.key_display
    keys = [k.strip() for k in binding.key.split(",") if k.strip()]
    typed = [k for k in keys if not k.startswith("super+")] or keys
    return " / ".join(key_display(dataclasses.replace(binding, key=k)) for k in typed)


def help_body(app_bindings: list[Binding], screen_name: str, screen_bindings: list[Binding],
              key_display=lambda b: b.key_display or b.key) -> Group:
    nav = [(s.key, f"{s.label}: {s.description}") for s in SECTIONS]
    def pairs(bs: list[Binding]) -> list[tuple[str, str]]:
        out = []
        for b in bs:
            if b.description and b.key not in {s.key for s in SECTIONS}:
                out.append((keys_text(b, key_display), b.description))
        return out
    return Group(
        Text("hyper-tui: a high-throughput job scheduler. Every action is also in the command "
             "palette (ctrl+p). Click the sidebar or press a number to change section; ctrl+b "
             "folds the sidebar (folded below 100 columns).\n",
             style="italic"),
        _bindings_table("Sections", nav),
        Text(""),
        _bindings_table(f"This screen ({screen_name})", pairs(screen_bindings)),
        Text(""),
        _bindings_table("Everywhere", pairs(app_bindings)),
    )


class HelpModal(TextModal):
    def __init__(self, app_bindings: list[Binding], screen_name: str,
                 screen_bindings: list[Binding], key_display=lambda b: b.key_display or b.key) -> None:
        super().__init__("Help", help_body(app_bindings, screen_name, screen_bindings, key_display),
                         id="help")
