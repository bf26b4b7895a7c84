"""A scrollable read-only panel: resource details and deploy log, job details, help."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hyper_tui.widgets.key_footer import KeyFooter


class TextModal(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False),
                Binding("enter", "close", "Close", show=False)]

    def __init__(self, title: str, body: RenderableType, *, id: str | None = None,
                 busy: bool = False) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.busy = busy  # True while the body is still being fetched

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self.body, id="text-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def set_body(self, body: RenderableType) -> None:
        self.body = body
        self.busy = False
        self.query_one("#text-body", Static).update(body)

    def action_close(self) -> None:
        self.dismiss(None)
