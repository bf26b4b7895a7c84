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
