"""The dashboard's charts: a clock on the x axis, round scales, the lines each chart promises
(jobs by state, throughput, workers and vCPUs per region), from a real store's metrics."""

from __future__ import annotations

import time

from hyper_tui.app import make_app
from hyper_tui.screens.dashboard_screen import DashboardScreen, chart_lines
from hyper_tui.widgets.metric_panel import MetricChart, nice_ticks, time_ticks
from tests.tui.conftest import FIXED_NOW, settle


def test_time_ticks_are_clock_times_across_the_window(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    positions, labels = time_ticks(FIXED_NOW - 600, FIXED_NOW)
    assert positions[0] == 0 and positions[-1] == 600
    assert labels[0] == "14:56" and labels[-1] == "15:06"
    assert time_ticks(FIXED_NOW - 120, FIXED_NOW)[1][-1] == "15:06:40"  # short: seconds


def test_nice_ticks_are_round_and_cover_the_peak():
    assert nice_ticks(327.8) == [0, 100, 200, 300, 400]
    assert nice_ticks(41.8) == [0, 20, 40, 60] or nice_ticks(41.8)[-1] >= 41.8
    assert nice_ticks(0) == [0.0, 1.0]
    for peak in (0.3, 7, 13.2, 999, 1_000_000):
        ticks = nice_ticks(peak)
        assert ticks[-1] >= peak and ticks[0] == 0


def test_chart_lines_sum_labels_and_leave_the_unknown_past_undrawn():
    start, end = 0.0, 600.0
    metrics = {"backlog": {"a": [(5.0, 5.0), (590.0, 1.0)], "b": [(5.0, 2.0)]},
               "jobs_running": {"q": [(300.0, 4.0)]},
               "submitted_per_s": {"": [(100.0, 3.0)]}, "finished_per_s": {"q": [(100.0, 2.0)]},
               "workers": {"local": [(50.0, 2.0)], "eu": [(50.0, 1.0)]},
               "vcpus": {"local": [(50.0, 4.0)]}}
    history = [(500.0, {"PENDING": 0, "FAILED": 3}), (600.0, {"PENDING": 0, "FAILED": 4})]
    charts = chart_lines(metrics, history, start, end)
    lines, latest = charts["states"]
    assert lines["queued"][0] == 7.0 and latest["queued"] == 1.0
    assert "pending" not in lines  # never above zero: no line
    assert lines["failed"][:50] == [None] * 50 and lines["failed"][-1] == 4.0
    assert set(charts["throughput"][0]) == {"submitted", "finished"}
    assert set(charts["workers"][0]) == {"local", "eu"} and latest is not None
    assert charts["vcpus"][0]["local"][5] == 4.0 and charts["vcpus"][1] == {"local": 0.0}
    # A gauge not sampled at a sampling time was 0 then (a host writes no row for nothing):
    # backlog "b" and running are 0 at the end, not carried forward; so are the workers.
    assert lines["running"][-1] == 0.0 and latest["running"] == 0.0
    assert lines["queued"][-1] == 1.0
    assert charts["workers"][0]["local"][-1] == 0.0 and charts["workers"][1]["local"] == 0.0


async def test_the_dashboard_draws_four_charts_with_axes(snap_home):
    app = make_app(clock=lambda: FIXED_NOW, live=False, start="dashboard", remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: isinstance(app.screen, DashboardScreen)
                     and not app.screen.busy)
        charts = {c.id: c for c in app.screen.query(MetricChart)}
        assert set(charts) == {"chart-states", "chart-throughput", "chart-workers", "chart-vcpus"}
        assert {"queued", "running"} <= set(charts["chart-states"].lines)
        assert set(charts["chart-workers"].lines) == {"local"}
        text = str(charts["chart-vcpus"].render())
        assert "15:06" in text and "14:56" in text  # the time axis
        assert "vCPUs per region" in text
        # The four charts share the screen's height: no blank rows under them at 120x40.
        bottom = max(c.region.bottom for c in charts.values())
        assert bottom >= 40 - 2  # the footer's row, at most one blank


async def test_a_chart_with_nothing_sampled_says_so():
    """No worker in the window: the chart draws a labelled zero line, not an empty box."""
    from textual.app import App

    class One(App):
        def compose(self):
            yield MetricChart("workers per region", "workers", id="c")

    app = One()
    async with app.run_test(size=(80, 16)) as pilot:
        chart = app.query_one("#c", MetricChart)
        chart.show({}, FIXED_NOW - 600, FIXED_NOW)
        await pilot.pause()
        text = str(chart.render())
        assert "none in this window" in text and "15:06" in text
        chart.show({"local": [None, 2.0]}, FIXED_NOW - 600, FIXED_NOW, {"local": 2.0})
        await pilot.pause()
        assert "none in this window" not in str(chart.render())
