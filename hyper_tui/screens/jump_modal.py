"""Jump to a job: one field for its id (``42``, ``4173[97000]``); Enter jumps, Esc closes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from hyper_tui.widgets.key_footer import KeyFooter


class JumpModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("ctrl+s", "jump", "Jump")]

    def compose(self) -> ComposeResult:
        with Vertical(id="jump", classes="dialog"):
            yield Label("Jump to a job", classes="dialog-title")
            yield Input(placeholder="job id, e.g. 42 or 4173[97000]", id="jump-id")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", compact=True)
                yield Button("Jump", id="go", variant="primary", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#jump-id", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_jump()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "go":
            self.action_jump()
        else:
            self.dismiss(None)

    def action_jump(self) -> None:
        ref = self.query_one("#jump-id", Input).value.strip()
        if ref:
            self.dismiss(ref)

    def action_close(self) -> None:
        self.dismiss(None)
