"""Yes/no confirmation. With ``refuse=True`` it only explains why the action cannot be done."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmModal(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "no", "Cancel"), Binding("y", "yes", "Yes"),
                Binding("n", "no", "No")]

    def __init__(self, title: str, body: str | Text, *, yes: str = "Yes", refuse: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes_label = yes
        self.refuse = refuse

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, id="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                if self.refuse:
                    yield Button("Close", id="no", variant="primary")
                else:
                    yield Button("Cancel", id="no")
                    yield Button(self.yes_label, id="yes", variant="error")

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
