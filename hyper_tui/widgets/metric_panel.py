"""One time series: a label with the latest value and a sparkline of the window."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

BINS = 60


def bin_series(points: list[tuple[float, float]], start: float, end: float, bins: int = BINS,
               gauge: bool = False) -> list[float]:
    """Mean of ``points`` in each of ``bins`` equal time slots from ``start`` to ``end`` (pure).

    Gauges (workers, backlog) carry the last value forward over empty slots; rates read 0
    where nothing was sampled.
    """
    if end <= start:
        return [0.0] * bins
    width = (end - start) / bins
    sums = [0.0] * bins
    counts = [0] * bins
    for ts, v in points:
        i = int((ts - start) / width)
        if 0 <= i < bins:
            sums[i] += v
            counts[i] += 1
    out = []
    last = 0.0
    for s, c in zip(sums, counts, strict=True):
        if c:
            last = s / c
            out.append(last)
        else:
            out.append(last if gauge else 0.0)
    return out


class MetricPanel(Horizontal):
    DEFAULT_CSS = """
    MetricPanel { height: 2; }
    MetricPanel > .metric-label { width: 34; }
    MetricPanel > Sparkline { width: 1fr; height: 2; }
    """

    def __init__(self, title: str, unit: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.unit = unit

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title, style="bold"), classes="metric-label")
        yield Sparkline([0.0] * BINS)

    def set_data(self, values: list[float], latest: float | None, peak: float) -> None:
        label = Text(self.title, style="bold")
        now = "-" if latest is None else f"{latest:,.1f}".removesuffix(".0")
        label.append(f"\n now {now}{self.unit}  max {peak:,.1f}".replace(".0 ", " ").removesuffix(".0"),
                     style="dim")
        self.query_one(".metric-label", Static).update(label)
        self.query_one(Sparkline).data = values
