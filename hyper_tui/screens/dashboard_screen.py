"""Dashboard: jobs by state per queue, throughput, workers and vCPUs per region, backlog.

Data: ``client.summary()`` and ``client.metrics(since)`` fetched in a thread worker every few
seconds (``fetch_data``); rendering (``on_metrics_loaded``) is pure widget updates.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from hyper_tui.core.jobs import STATES
from hyper_tui.messages import MetricsLoaded
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.widgets.fmt import STATE_STYLES, count
from hyper_tui.widgets.metric_panel import MetricPanel, bin_series

WINDOW_S = 600.0
REFRESH_S = 2.0

SERIES = (  # metric name, title, unit, is-rate
    ("submitted_per_s", "submitted / s", "/s", True),
    ("finished_per_s", "finished / s", "/s", True),
    ("workers", "workers", "", False),
    ("vcpus", "vCPUs", "", False),
    ("backlog", "backlog", "", False),
    ("jobs_running", "running", "", False),
)


class DashboardScreen(HyperScreen):
    SECTION = "dashboard"

    def __init__(self) -> None:
        super().__init__()
        self.panels: dict[tuple[str, str], MetricPanel] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(Text.assemble(("Dashboard", "bold")), id="dash-title", classes="screen-title")
        yield DataTable(id="summary", cursor_type="none", zebra_stripes=True)
        yield Static("", id="dash-empty", classes="status-line")
        yield VerticalScroll(id="series")

    def on_mount(self) -> None:
        table = self.query_one("#summary", DataTable)
        table.add_column("queue", key="queue", width=12)
        for st in STATES:
            table.add_column(Text(st, style=STATE_STYLES[st]), key=st, width=9)
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
        # The window: the last 10 minutes, or since the first sample when younger (>= 1 minute).
        first = min((pts[0][0] for labels in event.metrics.values() for pts in labels.values() if pts),
                    default=event.now - WINDOW_S)
        start = min(max(first, event.now - WINDOW_S), event.now - 60)
        span = event.now - start
        self.query_one("#dash-title", Static).update(Text.assemble(
            ("Dashboard", "bold"), "   ",
            (f"last {span / 60:.0f} min" if span >= 90 else f"last {span:.0f} s", "dim"),
            (", refreshed every 2 s", "dim")))
        series = self.query_one("#series", VerticalScroll)
        shown = 0
        for name, title, unit, rate in SERIES:
            labels = event.metrics.get(name, {})
            if name == "submitted_per_s" and not labels:
                labels = {"": []}
            for label, points in sorted(labels.items()):
                key = (name, label)
                panel = self.panels.get(key)
                if panel is None:
                    where = {"workers": "region", "vcpus": "region", "backlog": "definition"}.get(
                        name, "queue")
                    full = f"{title} {where} {label}" if label else f"{title} (all queues)"
                    panel = MetricPanel(full, unit)
                    self.panels[key] = panel
                    series.mount(panel)
                    panel.call_after_refresh(self._set, panel, points, start, event.now, rate)
                else:
                    self._set(panel, points, start, event.now, rate)
                shown += 1
        empty = self.query_one("#dash-empty", Static)
        if not any(event.metrics.values()):
            empty.update(Text("No metrics yet: the daemon samples them every 2 s while it runs "
                              "(it starts on the first submit).", style="dim"))
        else:
            empty.update("")
        self.loaded_once = True

    @staticmethod
    def _set(panel: MetricPanel, points: list[tuple[float, float]], start: float, end: float,
             rate: bool) -> None:
        values = bin_series(points, start, end, gauge=not rate)
        latest = points[-1][1] if points else None
        panel.set_data(values, latest, max((v for _, v in points), default=0.0))
