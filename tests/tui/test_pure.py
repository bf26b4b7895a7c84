"""The pure parts of the app: wizard forms from the models, formatting, series, progress."""

from __future__ import annotations

from hyper_tui.model import Cluster, Definition, Queue
from hyper_tui.widgets.fmt import duration, value_text
from hyper_tui.widgets.metric_panel import bin_series
from hyper_tui.widgets.model_form import (
    MODEL_ERROR,
    FormTextError,
    diff,
    field_specs,
    from_text,
    steps,
    to_text,
    validate,
)
from hyper_tui.widgets.stack_progress import progress_of


def test_wizard_steps_come_from_the_model() -> None:
    specs = field_specs(Definition)
    names = [name for name, _ in steps(specs)]
    assert names[:4] == ["General", "Image", "Resources", "Behaviour"]
    assert all(len(fields) <= 6 for _, fields in steps(specs))
    assert any(n.startswith("Container 1/") for n in names)
    by = {s.name: s for s in specs}
    assert by["vcpus"].default == 1 and by["vcpus"].help.startswith("vCPUs")
    assert by["log_driver"].kind == "enum" and "awslogs" in by["log_driver"].choices
    assert by["retry_exit_codes"].kind == "list" and by["environment"].kind == "dict"
    assert by["mount_points"].kind == "yaml" and by["privileged"].kind == "bool"


def test_text_round_trip_and_validation() -> None:
    specs = {s.name: s for s in field_specs(Queue)}
    assert from_text(specs["weights"], "local=2, hub=0") == {"local": "2", "hub": "0"}
    assert from_text(specs["max_running"], "") is None
    try:
        from_text(specs["weights"], "oops")
    except FormTextError as err:
        assert "key=value" in str(err)
    else:
        raise AssertionError("no error")
    model, errors = validate(Queue, {"name": "q", "cluster": "c", "weights": {"a": "2"}})
    assert model is not None and model.weights == {"a": 2} and not errors
    assert to_text(specs["weights"], model.weights) == "a=2"
    model, errors = validate(Cluster, {"name": "c", "compute_envs": 3, "max_vcpus": 2})
    assert model is None and "cannot exceed" in errors[MODEL_ERROR]
    _, errors = validate(Cluster, {"name": "c", "bid_percentage": "x"})
    assert "bid_percentage" in errors


def test_diff_names_what_changes() -> None:
    old = Queue(name="q", cluster="c")
    new = Queue(name="q", cluster="c", max_running=4)
    assert diff(old, new) == [("max_running", None, 4)]
    assert [n for n, _, _ in diff(None, new)] == ["name", "cluster", "max_running"]


def test_formatting() -> None:
    assert duration(None) == "-" and duration(75) == "1m15s" and duration(3.25) == "3.2s"
    assert duration(7300) == "2h01m" and duration(90000) == "1d01h"
    assert value_text(True) == "yes" and value_text({"a": 1}) == "a=1" and value_text([]) == "-"


def test_bin_series() -> None:
    pts = [(0.0, 1.0), (1.0, 3.0), (5.0, 10.0)]
    assert bin_series(pts, 0, 10, bins=5) == [2.0, 0.0, 10.0, 0.0, 0.0]
    assert bin_series(pts, 0, 10, bins=5, gauge=True) == [2.0, 2.0, 10.0, 10.0, 10.0]


def test_stack_progress() -> None:
    """From the CDK CLI's events: the n/m counter moves the bar, LOG lines move nothing."""
    line = ("hyper-x-control |  3/12 | 10:23:01 PM | CREATE_COMPLETE | AWS::SQS::Queue | "
            "Work/Queue")
    p, outcome, label = progress_of("IN_PROGRESS", line, 0)
    assert outcome == "running" and p == 10 + 85 * 3 / 12 and label == "CREATE_COMPLETE SQS::Queue"
    assert progress_of("LOG", "anything", p) == (p, "", None)
    assert progress_of("DEPLOYING", "x: deploying... [1/2]", 0)[:2] == (8.0, "running")
    assert progress_of("ACTIVE", " ✅  hyper-x-control", p) == (100.0, "done", "deployed")
    assert progress_of("ACTIVE", " ✅  hyper-x-control (no changes)", p)[2] == "no changes"
    assert progress_of("FAILED", "❌  hyper-x-control failed: boom", 40) == (40, "failed", "FAILED")
