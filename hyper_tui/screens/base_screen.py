"""The frame every section shares: header, sidebar, body, footer; and reload on resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from hyper_tui.sections import BY_MODE
from hyper_tui.widgets.host_header import HostHeader
from hyper_tui.widgets.key_footer import KeyFooter
from hyper_tui.widgets.nav_bar import NavBar

if TYPE_CHECKING:
    from hyper_tui.app import HyperApp


class HyperScreen(Screen):
    """Subclasses set ``SECTION`` and implement ``compose_body`` and ``reload``."""

    SECTION: ClassVar[str] = "jobs"
    BINDINGS = [Binding("r", "reload", "Refresh")]

    app: HyperApp  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.loaded_once = False  # set by each screen when its first data is on screen

    @property
    def busy(self) -> bool:
        """True until the first data is shown (tests and screenshots wait for it)."""
        return not self.loaded_once

    def compose(self) -> ComposeResult:
        yield HostHeader(BY_MODE[self.SECTION].label)
        with Horizontal(id="frame"):
            yield NavBar(self.SECTION)
            with Vertical(id="body"):
                yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def client(self) -> Any:
        return self.app.client

    @property
    def is_active(self) -> bool:
        return self.app.screen is self

    def on_screen_resume(self) -> None:
        if self.client is not None:
            self.reload()

    def reload(self) -> None:
        """Fetch this screen's data (in a worker)."""

    def action_reload(self) -> None:
        if self.client is None:
            self.notify("no host is connected; pick one on the Hosts screen (1)", severity="warning")
            return
        self.reload()
