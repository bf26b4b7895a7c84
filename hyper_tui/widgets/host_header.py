"""The header: app name, host name and kind, daemon or deployment status, current section.

It is one line at any width: from 80 columns up the least useful parts go first (the "host"
label and the kind, then the long status words, then the app's name), never the host's name,
its faults (daemon down, store damaged) or the section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from hyper_tui.hosts.contract import HostStatus

# Levels of detail, most first; ``status_text`` takes the first that fits.
FULL, NO_LABELS, SHORT, TINY, MICRO = range(5)


def faults(status: HostStatus | None) -> list[tuple[str, str, str]]:
    """What is wrong with the host that a person must see: (long words, short, style)."""
    if status is None:
        return []
    out = []
    if getattr(status, "store_damaged", None):
        out.append(("store damaged: new work refused", "store damaged", "bold red"))
    return out


def _status_part(status: HostStatus, level: int) -> list[tuple[str, str]]:
    """The host's state as (text, style) pieces at detail ``level``: a local daemon's state
    (a stopped one is "down" in the shortest form), an aws host's deployment, then faults."""
    mark = "○" if status.state == "stopped" else "●"
    style = "bold green" if status.healthy else "yellow"
    daemon = getattr(status, "daemon_running", None)
    if level < SHORT:
        words = status.summary
    elif daemon is not None:  # a host with a daemon: its state in two words
        pid = (status.details or {}).get("pid")
        if level == SHORT and daemon and pid:
            words = f"daemon pid {pid}"
        elif level <= TINY:
            words = f"daemon {'up' if daemon else 'down'}"
        else:
            words = "up" if daemon else "down"
    else:
        words = status.state
    bad = faults(status)
    out = [(f"{mark} {words}", style)]
    out += [(f"✖ {long if level < SHORT else short}", st) for long, short, st in bad]
    return out


def status_text(host: str | None, kind: str | None, status: HostStatus | None,
                section: str, error: str | None = None, width: int | None = None,
                activity: str | None = None) -> Text:
    """The header line as Rich text (pure: tested without a terminal), as detailed as fits
    in ``width`` cells (None: in full). ``activity`` (e.g. "deploying…", what this app is
    doing to the host) stands in for the host's last-read status."""
    text = Text()
    for level in (FULL, NO_LABELS, SHORT, TINY, MICRO):
        text = _line(host, kind, status, section, error, level, activity)
        if width is None or text.cell_len <= width:
            return text
    text.truncate(width, overflow="ellipsis")
    return text


def _line(host: str | None, kind: str | None, status: HostStatus | None, section: str,
          error: str | None, level: int, activity: str | None = None) -> Text:
    text = Text.assemble((" hyper-tui " if level < MICRO else " ht ", "bold reverse"),
                         "  " if level < SHORT else " ")
    gap = "  " if level < SHORT else " "
    if host is None:
        text.append("no host", style="bold red")
        if error:
            text.append(f"{gap}{error}", style="red")
    else:
        if level == FULL:
            text.append("host ", style="dim")
        text.append(host, style="bold")
        if level == FULL or (level == NO_LABELS and kind != "local"):
            text.append(f" ({kind})", style="dim")
        text.append(gap)
        if error:
            text.append(f"● {error}", style="bold red")
        elif activity:
            text.append(f"● {activity}", style="bold yellow")
        elif status is None:
            text.append("● connecting…", style="dim")
        else:  # a hosts.contract.HostStatus
            for i, (piece, style) in enumerate(_status_part(status, level)):
                text.append((gap if i else "") + piece, style=style)
    text.append(f"{gap}▸ ", style="dim")
    text.append(section, style="bold")
    return text


class HostHeader(Static):
    """Shows the app's host state; watches the app's ``host_state`` reactive and fits the line
    to its width."""

    DEFAULT_CSS = """
    HostHeader { height: 1; background: $primary 30%; color: $foreground; }
    """

    def __init__(self, section: str, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.section = section
        self._state: tuple | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "host_state", self._update, init=True)
        if hasattr(self.app, "activity"):
            self.watch(self.app, "activity", lambda _: self._update(self._state), init=False)

    def on_resize(self) -> None:
        if self._state is not None:
            self._update(self._state)

    def _update(self, state: tuple) -> None:
        self._state = state
        host, kind, status, error = state
        self.update(status_text(host, kind, status, self.section, error,
                                width=self.size.width or None,
                                activity=getattr(self.app, "activity", None)))
