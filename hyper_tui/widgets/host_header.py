"""The header: app name, host name and kind, daemon or deployment status, current section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from hyper_tui.hosts.contract import HostStatus


def status_text(host: str | None, kind: str | None, status: HostStatus | None,
                section: str, error: str | None = None) -> Text:
    """The header line as Rich text (pure: tested without a terminal)."""
    text = Text.assemble((" hyper-tui ", "bold reverse"), "  ")
    if host is None:
        text.append("no host", style="bold red")
        if error:
            text.append(f"  {error}", style="red")
    else:
        text.append("host ", style="dim")
        text.append(host, style="bold")
        text.append(f" ({kind})", style="dim")
        text.append("  ")
        if error:
            text.append(f"● {error}", style="bold red")
        elif status is None:
            text.append("● connecting…", style="dim")
        else:  # a hosts.contract.HostStatus
            mark = "○" if status.state == "stopped" else "●"
            text.append(f"{mark} {status.summary}", style="bold green" if status.healthy else "yellow")
    text.append("  ▸ ", style="dim")
    text.append(section, style="bold")
    return text


class HostHeader(Static):
    """Shows the app's host state; watches the app's ``host_state`` reactive."""

    DEFAULT_CSS = """
    HostHeader { height: 1; background: $primary 30%; color: $foreground; }
    """

    def __init__(self, section: str, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.section = section

    def on_mount(self) -> None:
        self.watch(self.app, "host_state", self._update, init=True)

    def _update(self, state: tuple) -> None:
        host, kind, status, error = state
        self.update(status_text(host, kind, status, self.section, error))
