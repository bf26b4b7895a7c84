"""The TUI's submit modal and qsub build one submission the same way (core.submit): the
definition's retries and timeout, the submitter's PATH and working directory."""

from __future__ import annotations

import os

from textual.widgets import Input, Select, TextArea

from hyper_tui.app import make_app
from hyper_tui.cli.main import main
from hyper_tui.core.submit import Defaults, definition_defaults
from hyper_tui.local.client import LocalHost
from hyper_tui.qcmd.qsub import build_submissions
from hyper_tui.qcmd.qsub_options import parse_args
from hyper_tui.screens.submit_modal import SubmitModal, build_submission
from tests.tui.conftest import settle


def _qsub(argv: list[str]):
    host = LocalHost("local")
    try:
        [sub] = build_submissions(parse_args(argv), host)
        return sub, definition_defaults(host.resources("definitions")["slow"])
    finally:
        host.close()


def test_modal_builder_and_qsub_give_the_same_submission(live_home, tmp_path, monkeypatch):
    main(["definitions", "add-definition", "--name", "slow", "--retries", "5",
          "--job-timeout-s", "90"])
    monkeypatch.chdir(tmp_path)
    for array in ("", "1-10%2"):
        argv = ["-q", "default", "-d", "slow", "-N", "same", "-c", "echo $HYPER_ARRAY_INDEX"]
        argv += ["-J", array] if array else []
        want, defaults = _qsub(argv)
        assert defaults == Defaults(5, 90.0)
        got, errors = build_submission(queue="default", definition="slow", name="same",
                                       array=array, command="echo $HYPER_ARRAY_INDEX",
                                       defaults=defaults, environ=os.environ, cwd=os.getcwd())
        assert errors == {}
        assert got == want
        assert (got.retries, got.timeout, got.cwd) == (5, 90.0, str(tmp_path))
        assert got.env == {"PATH": os.environ["PATH"], "PBS_O_WORKDIR": str(tmp_path)}


async def test_modal_applies_the_definitions_retries_and_timeout(live_home, tmp_path,
                                                                 monkeypatch) -> None:
    main(["definitions", "add-definition", "--name", "slow", "--retries", "5",
          "--job-timeout-s", "90"])
    monkeypatch.chdir(tmp_path)
    want, _ = _qsub(["-d", "slow", "-N", "viatui", "-c", "echo hi"])
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None
                     and "slow" in app.screen.definitions)
        await pilot.press("s")
        await settle(pilot, until=lambda: isinstance(app.screen, SubmitModal))
        modal = app.screen
        modal.query_one("#s-definition", Select).value = "slow"
        modal.query_one("#s-name", Input).value = "viatui"
        modal.query_one("#s-command", TextArea).load_text("echo hi")
        await pilot.pause()
        got = modal.validate()
        assert got == want and (got.retries, got.timeout) == (5, 90.0)
        await pilot.press("escape")


def test_every_option_of_the_form_gives_the_job_qsub_gives(live_home, tmp_path, monkeypatch):
    """Dependencies, hold, timeout (and walltime), retries, priority, environment and the
    working directory: the form's fields and qsub's options, one builder, one job."""
    main(["definitions", "add-definition", "--name", "slow", "--retries", "5",
          "--job-timeout-s", "90"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("FROM_SHELL", "inherited")
    common = ["-q", "default", "-d", "slow", "-N", "full", "-c", "echo $A"]
    for timeout_flags in (["--timeout", "01:30:00"], ["-l", "walltime=01:30:00"]):
        want, defaults = _qsub(common + ["-W", "afterok:12:13[2]", "--depend", "afterany:7",
                                         "--hold", *timeout_flags, "-r", "3",
                                         "--priority", "7", "-v", "A=1,FROM_SHELL",
                                         "--cwd", "work"])
        got, errors = build_submission(
            queue="default", definition="slow", name="full", array="", command="echo $A",
            defaults=defaults, environ=os.environ, cwd=os.getcwd(),
            depend="afterok:12:13[2],afterany:7", hold=True, timeout="01:30:00", retries="3",
            priority="7", env="A=1,FROM_SHELL", workdir="work")
        assert errors == {}
        assert got == want
        assert (got.retries, got.timeout, got.priority, got.hold) == (3, 5400.0, 7, True)
        assert got.depends == [("afterok", "12"), ("afterok", "13[2]"), ("afterany", "7")]
        assert got.cwd == str(tmp_path / "work")
        assert got.env == {"PATH": os.environ["PATH"], "A": "1", "FROM_SHELL": "inherited",
                           "PBS_O_WORKDIR": str(tmp_path / "work")}


def test_bad_values_name_their_field_in_qsubs_words(live_home, tmp_path):
    got, errors = build_submission(
        queue="default", definition="default", name="x", array="", command="true",
        defaults=Defaults(), environ={}, cwd=str(tmp_path), depend="after:1",
        timeout="soon", retries="101", priority="high", env="1A=2", workdir="nowhere")
    assert got is None
    assert set(errors) == {"depend", "timeout", "retries", "priority", "env", "cwd"}
    assert "is not a dependency" in errors["depend"] and "afterok:ID" in errors["depend"]
    assert "is not a duration" in errors["timeout"]
    assert "out of range" in errors["retries"] and "0 to 100" in errors["retries"]
    assert "not a whole number" in errors["priority"]
    assert "not a variable name" in errors["env"]
    assert "not a directory" in errors["cwd"]


async def test_the_form_submits_a_held_dependent_job_with_its_options(live_home, tmp_path,
                                                                      monkeypatch) -> None:
    """Through the modal, as a person fills it: the job on the host has every option."""
    from textual.widgets import Checkbox

    monkeypatch.chdir(tmp_path)
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, until=lambda: app.client is not None and app.screen.definitions)
        from hyper_tui.core.jobs import Submission

        [first] = app.client.submit([Submission("default", "default", "first", command="true",
                                                hold=True)])
        await pilot.press("s")
        await settle(pilot, until=lambda: isinstance(app.screen, SubmitModal))
        modal = app.screen
        for key, value in {"name": "second", "depend": f"afterok:{first}", "timeout": "30",
                           "retries": "1", "priority": "4", "env": "GREETING=hi"}.items():
            modal.query_one(f"#s-{key}", Input).value = value
        modal.query_one("#s-hold", Checkbox).value = True
        modal.query_one("#s-command", TextArea).load_text("echo $GREETING")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, until=lambda: not isinstance(app.screen, SubmitModal))
        await settle(pilot, until=lambda: any(j.name == "second" for j in app.client.list_jobs()))
        job = next(j for j in app.client.list_jobs() if j.name == "second")
        detail = app.client.get_job(job.job_id)
        assert (detail.state, detail.held, detail.priority, detail.retries, detail.timeout) == (
            "PENDING", True, 4, 1, 30.0)
        assert [(d.kind, d.on) for d in detail.depends] == [("afterok", first)]
        assert detail.env["GREETING"] == "hi" and detail.cwd == str(tmp_path)
        app.client.cancel([first, job.job_id])
