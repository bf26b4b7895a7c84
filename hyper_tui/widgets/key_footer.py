"""The footer: the bindings in force, as one line of text (click a key to press it).

Textual's ``Footer`` builds a widget per key and rebuilds them on every focus change; this one
renders a single line, which keeps the first paint and focus changes cheap. A modal composes its
own, so the keys shown are always those of the screen in front. When the line is wider than the
terminal (80 columns), the keys are packed closer before anything is cut.
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

    def on_resize(self) -> None:
        if self.is_attached:
            self.bindings_changed(self.screen)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        text, spans = self._line(screen, pad=" ")
        if self.size.width and text.cell_len > self.size.width:
            text, spans = self._line(screen, pad="")
        self.spans = spans
        self.update(text)

    def _line(self, screen: Screen, pad: str) -> tuple[Text, list[tuple[int, int, str]]]:
        """The keys as one line and the columns of each key (for clicks)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        spans: list[tuple[int, int, str]] = []
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
            text.append(f"{pad}{self.app.get_key_display(binding)} ",
                        style="bold yellow" if active.enabled else "dim")
            text.append(f"{binding.description} ", style="" if active.enabled else "dim")
            spans.append((start, len(text), key))
        if palette is not None:
            key, binding = palette
            start = len(text)
            text.append(f"{pad}{pad}{self.app.get_key_display(binding)} ", style="bold yellow")
            text.append("Commands ")
            spans.append((start, len(text), key))
        return text, spans

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self.spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
