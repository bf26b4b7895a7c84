"""Yes/no confirmation. With ``refuse=True`` it only explains why the action cannot be done.

The two buttons say what they do ("Keep" / "Delete", "Keep" / "Cancel 3 jobs"), never a bare
"Cancel" that could mean either. The safe one has the focus, so Enter never destroys by accident;
``y`` and ``n`` answer from anywhere in the dialog.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from hyper_tui.widgets.key_footer import KeyFooter


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "no", "Close"), Binding("y", "yes", "Yes"),
                Binding("n", "no", "No")]

    def __init__(self, title: str, body: str | Text, *, yes: str = "Yes", no: str = "Keep",
                 refuse: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes_label = yes
        self.no_label = no
        self.refuse = refuse

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(self.body, id="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                if self.refuse:
                    yield Button("Close", id="no", variant="primary", compact=True)
                else:
                    yield Button(self.no_label, id="no", compact=True)
                    yield Button(self.yes_label, id="yes", variant="error", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes" and not self.refuse)

    def action_yes(self) -> None:
        if not self.refuse:
            self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A refusal has nothing to say yes to: y is neither shown nor live.
        return not (self.refuse and action == "yes")


def leave_or_ask(screen: ModalScreen, changed: bool, what: str) -> None:
    """Escape or Cancel on a form: dismiss ``screen`` at once when nothing was typed, else
    ask first (what was typed is never lost without a word)."""
    if not changed:
        screen.dismiss(None)
        return
    screen.app.push_screen(
        ConfirmModal("Discard the changes?", f"Leave {what} and lose what you typed?",
                     yes="Discard", no="Keep editing"),
        lambda discard: discard and screen.dismiss(None))
