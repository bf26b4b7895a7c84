"""Dashboard: jobs by state per queue (a table), and four charts with a time axis and a scale:
jobs by state over time, throughput (submitted and finished per second), workers per region
and vCPUs per region.

Data: ``client.summary()`` and ``client.metrics(since)`` fetched in a thread worker every few
seconds (``fetch_data``); rendering (``on_metrics_loaded``) is pure widget updates. Queued and
running jobs over time are the host's own samples (``backlog``, ``jobs_running``); the other
states are the summaries this screen has fetched since it opened (the host keeps no history
of them). With a million jobs the cost is the summary (one GROUP BY in the worker thread);
the charts draw a fixed number of bins whatever the number of jobs.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from hyper_tui.core.jobs import STATES
from hyper_tui.messages import MetricsLoaded
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.widgets.fmt import STATE_STYLES, count
from hyper_tui.widgets.metric_panel import MetricChart, bin_series, sum_series

WINDOW_S = 600.0
REFRESH_S = 2.0
HISTORY = int(WINDOW_S / REFRESH_S) + 1

# chart id, title, unit
CHARTS = (("states", "jobs by state", "jobs"), ("throughput", "throughput", "jobs/s"),
          ("workers", "workers per region", "workers"), ("vcpus", "vCPUs per region", "vCPUs"))


def zero_fill(points: list[tuple[float, float]], ticks: list[float]) -> list[tuple[float, float]]:
    """A gauge's points with 0 at every sampling time it has none: a host samples only what
    is there (no row for an empty backlog or a region without workers), so a missing sample
    means none, not "as before" (pure)."""
    if not points:
        return points
    have = {ts for ts, _ in points}
    first = points[0][0]
    return sorted(points + [(t, 0.0) for t in ticks if t > first and t not in have])


def chart_lines(metrics: dict, history: list[tuple[float, dict[str, int]]], start: float,
                end: float) -> dict[str, tuple[dict[str, list[float | None]], dict[str, float | None]]]:
    """Each chart's {label: binned values} and {label: latest value} (pure)."""
    ticks = sorted({ts for labels in metrics.values() for pts in labels.values() for ts, _ in pts})

    def line(points: list[tuple[float, float]], gauge: bool, sampled: bool = True
             ) -> tuple[list[float], float | None]:
        if gauge and sampled:  # a host's samples (the screen's own counts are complete)
            points = zero_fill(points, ticks)
        return bin_series(points, start, end, gauge=gauge), (points[-1][1] if points else None)

    out: dict[str, tuple[dict[str, list[float | None]], dict[str, float | None]]] = {}
    states: dict[str, tuple[list[float | None], float | None]] = {}
    for label, name in (("queued", "backlog"), ("running", "jobs_running")):
        states[label] = line(sum_series(metrics.get(name, {})), True)
    for st in STATES:
        key = st.lower()
        if key not in states:
            points = [(ts, float(c.get(st, 0))) for ts, c in history]
            if any(v for _, v in points):
                values, last = line(points, True, sampled=False)
                # Before this screen's first sample nothing is known: not drawn (not 0).
                known = int((points[0][0] - start) / max(end - start, 1e-9) * len(values))
                states[key] = ([None] * min(known, len(values)) + values[known:], last)
    out["states"] = ({k: v[0] for k, v in states.items()}, {k: v[1] for k, v in states.items()})
    flow = {label: line(sum_series(metrics.get(name, {})), False)
            for label, name in (("submitted", "submitted_per_s"), ("finished", "finished_per_s"))}
    out["throughput"] = ({k: v[0] for k, v in flow.items()}, {k: v[1] for k, v in flow.items()})
    for chart in ("workers", "vcpus"):
        per = {label: line(points, True) for label, points in metrics.get(chart, {}).items()}
        out[chart] = ({k: v[0] for k, v in per.items()}, {k: v[1] for k, v in per.items()})
    return out


class DashboardScreen(HyperScreen):
    SECTION = "dashboard"
    DEFAULT_CSS = """
    #charts { height: 1fr; }
    #charts > Horizontal { height: 1fr; min-height: 12; }
    #charts MetricChart { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: deque[tuple[float, dict[str, int]]] = deque(maxlen=HISTORY)

    def compose_body(self) -> ComposeResult:
        yield Static(Text.assemble(("Dashboard", "bold")), id="dash-title", classes="screen-title")
        yield DataTable(id="summary", cursor_type="none", zebra_stripes=True)
        yield Static("", id="dash-empty", classes="status-line")
        with VerticalScroll(id="charts"):
            with Horizontal():
                yield MetricChart("jobs by state", "jobs", id="chart-states")
                yield MetricChart("throughput", "jobs/s", id="chart-throughput")
            with Horizontal():
                yield MetricChart("workers per region", "workers", id="chart-workers")
                yield MetricChart("vCPUs per region", "vCPUs", id="chart-vcpus")

    def on_mount(self) -> None:
        from hyper_tui.screens.jobs_screen import SHORT_STATES

        narrow = self.app.size.width < 100  # 80 columns: short state names, so all fit
        table = self.query_one("#summary", DataTable)
        table.add_column("queue", key="queue", width=10 if narrow else 12)
        for st in STATES:
            table.add_column(Text(SHORT_STATES[st] if narrow else st, style=STATE_STYLES[st]),
                             key=st, width=6 if narrow else 9)
        table.add_column("total", key="total", width=8)
        if self.app.live:
            self.set_interval(REFRESH_S, self._tick)

    def reload(self) -> None:
        self.fetch_data()

    def _tick(self) -> None:
        if self.is_active and self.client is not None:
            self.fetch_data()

    @work(thread=True, exclusive=True, group="dashboard", exit_on_error=False)
    def fetch_data(self) -> None:
        now = self.app.clock()
        metrics = self.client.metrics(now - WINDOW_S)
        summary = self.client.summary()
        self.post_message(MetricsLoaded(metrics, summary, now))

    def on_metrics_loaded(self, event: MetricsLoaded) -> None:
        table = self.query_one("#summary", DataTable)
        table.clear()
        totals = {st: 0 for st in STATES}
        for queue, counts in sorted(event.summary.items()):
            for st in STATES:
                totals[st] += counts.get(st, 0)
            table.add_row(Text(queue, style="bold"),
                          *[count(counts.get(st, 0)) for st in STATES],
                          count(counts.total), key=queue)
        table.add_row(Text("all queues", style="bold italic"), *[count(totals[st]) for st in STATES],
                      count(sum(totals.values())), key="__total__")
        self.history.append((event.now, totals))
        # The window: the last 10 minutes, or since the first sample when younger (>= 1 minute).
        first = min((pts[0][0] for labels in event.metrics.values() for pts in labels.values() if pts),
                    default=event.now - WINDOW_S)
        start = min(max(first, event.now - WINDOW_S), event.now - 60)
        span = event.now - start
        self.query_one("#dash-title", Static).update(Text.assemble(
            ("Dashboard", "bold"), "   ",
            (f"last {span / 60:.0f} min" if span >= 90 else f"last {span:.0f} s", "dim"),
            (", refreshed every 2 s", "dim")))
        for chart, (lines, latest) in chart_lines(event.metrics, list(self.history), start,
                                                  event.now).items():
            self.query_one(f"#chart-{chart}", MetricChart).show(lines, start, event.now, latest)
        empty = self.query_one("#dash-empty", Static)
        if not any(event.metrics.values()):
            empty.update(Text("No metrics yet: the daemon samples them every 2 s while it runs "
                              "(it starts on the first submit).", style="dim"))
        else:
            empty.update("")
        self.loaded_once = True
