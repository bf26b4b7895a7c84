"""The sidebar: one entry per section, with its number key; click or press the number.

ctrl+b folds it away and back (``toggle_sidebar``, the app's binding). Below 100 columns it
starts folded (app.tcss: ``Screen.-narrow NavBar``); a toggle then holds for every screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from hyper_tui.sections import SECTIONS


class NavBar(OptionList):
    """Section list; highlights the current section and switches mode when one is chosen."""

    DEFAULT_CSS = """
    NavBar { width: 20; border: none; padding: 0; background: $panel; }
    NavBar:focus { border: none; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        options = []
        for s in SECTIONS:
            label = Text.assemble((f" {s.key} ", "bold yellow"), s.label)
            options.append(Option(label, id=s.mode))
        super().__init__(*options, **kwargs)
        self.current = current
        self.can_focus = False

    def on_mount(self) -> None:
        self.highlighted = next(i for i, s in enumerate(SECTIONS) if s.mode == self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id != self.current:
            self.app.switch_mode(event.option.id)
        else:
            self.highlighted = next(i for i, s in enumerate(SECTIONS) if s.mode == self.current)


def sidebar_shown(app: App) -> bool:
    """Whether the current screen shows its sidebar (False on a screen without one)."""
    bars = app.screen.query(NavBar)
    return bool(bars) and bars.first().display


def toggle_sidebar(app: App) -> None:
    """Fold the sidebar of every screen, or unfold it (a class on the app; app.tcss)."""
    shown = sidebar_shown(app)
    app.set_class(not shown, "-sidebar-shown")
    app.set_class(shown, "-sidebar-hidden")
