"""One chart of the dashboard: a few time series on a time axis with a scale, drawn by
textual-plotext (``MetricChart``); ``bin_series`` and ``time_ticks`` are the pure parts."""

from __future__ import annotations

import math
import time

from textual_plotext import PlotextPlot

BINS = 60
TICKS = 5

# Line colours by series label where the label means something (job states); others cycle.
STATE_COLORS = {"pending": "yellow", "queued": "cyan", "running": "blue", "succeeded": "green",
                "failed": "red", "cancelled": "magenta", "submitted": "cyan", "finished": "green"}
CYCLE = ("cyan", "magenta", "green", "yellow", "blue", "red", "white")


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
        i = min(int((ts - start) / width), bins - 1) if ts <= end else bins  # end: the last slot
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


def time_ticks(start: float, end: float, ticks: int = TICKS) -> tuple[list[float], list[str]]:
    """Tick positions (seconds from ``start``) and their local clock times, ``HH:MM`` or
    ``HH:MM:SS`` when the window is shorter than five minutes."""
    span = max(end - start, 1.0)
    fmt = "%H:%M:%S" if span < 300 else "%H:%M"
    positions = [span * i / (ticks - 1) for i in range(ticks)]
    return positions, [time.strftime(fmt, time.localtime(start + p)) for p in positions]


def sum_series(labels: dict[str, list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Points of several labels (queues, regions) added up at each timestamp."""
    total: dict[float, float] = {}
    for points in labels.values():
        for ts, v in points:
            total[ts] = total.get(ts, 0.0) + v
    return sorted(total.items())


def nice_ticks(peak: float, ticks: int = 4) -> list[float]:
    """Round y-axis ticks from 0 to at least ``peak``: 0, 50, 100, 150 rather than 0, 54.6."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = peak / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(peak / step) + 1)]


class MetricChart(PlotextPlot):
    """``show(lines, start, end)`` draws {label: binned values} over the window (None where
    nothing is known: not drawn), with the clock on the x axis and round ticks on the y axis;
    each legend entry gives its latest value."""

    DEFAULT_CSS = """
    MetricChart { height: 12; min-height: 8; width: 1fr; }
    """

    def __init__(self, title: str, unit: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.unit = unit
        self.lines: dict[str, list[float | None]] = {}

    def show(self, lines: dict[str, list[float | None]], start: float, end: float,
             latest: dict[str, float | None] | None = None) -> None:
        self.lines = lines
        latest = latest or {}
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        span = max(end - start, 1.0)
        peak = 0.0
        drawn = False
        for i, (label, values) in enumerate(sorted(lines.items())):
            pts = [(span * (b + 0.5) / len(values), v) for b, v in enumerate(values) if v is not None]
            if not pts:
                continue
            drawn = True
            peak = max(peak, max(v for _, v in pts))
            color = STATE_COLORS.get(label, CYCLE[i % len(CYCLE)])
            plt.plot([x for x, _ in pts], [v for _, v in pts], color=color, marker="braille",
                     label=f"{label or self.unit} {_num(latest.get(label))}")
        if not drawn:
            # Nothing sampled in the window (no worker ran): a labelled zero line, not an empty
            # box that could be read as a drawing failure.
            plt.plot([0, span], [0, 0], color="gray", marker="braille",
                     label="none in this window")
        positions, names = time_ticks(start, end)
        plt.xticks(positions, names)
        plt.xlim(0, span)
        ys = nice_ticks(peak * 1.25)  # headroom: the legend sits in the top left
        plt.yticks(ys, [_num(y) for y in ys])
        plt.ylim(0, ys[-1])
        plt.title(f"{self.title} ({self.unit})" if self.unit else self.title)
        self.refresh()


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.1f}".removesuffix(".0")
