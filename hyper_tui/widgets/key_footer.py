"""The footer: the bindings in force, as one line of text (click a key to press it).

Textual's ``Footer`` builds a widget per key and rebuilds them on every focus change; this one
renders a single line, which keeps the first paint and focus changes cheap.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widgets import Static


class KeyFooter(Static):
    DEFAULT_CSS = """
    KeyFooter { dock: bottom; height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.spans: list[tuple[int, int, str]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.call_after_refresh(self.bindings_changed, self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        self.spans = []
        seen: set[str] = set()
        palette = None
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if key == self.app.COMMAND_PALETTE_BINDING:
                palette = (key, binding)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            start = len(text)
            text.append(f" {self.app.get_key_display(binding)} ",
                        style="bold yellow" if active.enabled else "dim")
            text.append(f"{binding.description} ", style="" if active.enabled else "dim")
            self.spans.append((start, len(text), key))
        if palette is not None:
            key, binding = palette
            start = len(text)
            text.append(f"  {self.app.get_key_display(binding)} ", style="bold yellow")
            text.append("Commands ")
            self.spans.append((start, len(text), key))
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self.spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
