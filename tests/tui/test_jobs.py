"""Jobs of a real local host (the daemon starts on the first submit): submit, filter, logs,
cancel one and cancel several with confirmation. States are awaited by polling."""

from __future__ import annotations

from textual.widgets import Input, Select, TextArea

from hyper_tui.app import make_app
from hyper_tui.messages import JobsCancelled, JobsReleased, JobsSubmitted
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.job_details_modal import JobDetailsModal
from hyper_tui.screens.log_screen import LogScreen
from hyper_tui.screens.submit_modal import SubmitModal, parse_array
from hyper_tui.widgets.jobs_table import JobsTable
from hyper_tui.widgets.log_view import JobLog
from tests.tui.conftest import settle


def _states(app, name: str) -> list[str]:
    return [j.state for j in app.screen.query_one(JobsTable).jobs.values() if j.name == name]


async def _submit(pilot, name: str, command: str, array: str = "") -> None:
    app = pilot.app
    await pilot.press("s")
    await settle(pilot, until=lambda: isinstance(app.screen, SubmitModal))
    modal = app.screen
    modal.query_one("#s-name", Input).value = name
    modal.query_one("#s-array", Input).value = array
    modal.query_one("#s-command", TextArea).load_text(command)
    await pilot.pause()
    await pilot.click("#submit-btn")
    await settle(pilot, until=lambda: not isinstance(app.screen, SubmitModal))


def _cursor_to(app, job_id: str) -> None:
    table = app.screen.query_one(JobsTable)
    table.move_cursor(row=table.keys.index(job_id))


async def test_submit_logs_filter_cancel_real_jobs(live_home) -> None:
    seen: list[type] = []
    app = make_app(start="jobs", remember=False)
    async with app.run_test(size=(120, 40), message_hook=lambda m: seen.append(type(m))) as pilot:
        await settle(pilot, until=lambda: app.client is not None)

        # Submit a job that prints, and wait for it to succeed.
        await _submit(pilot, "greet", "echo hello-from-tui")
        assert JobsSubmitted in seen
        await settle(pilot, until=lambda: _states(app, "greet") == ["SUCCEEDED"], timeout=40)

        # Its log, read through the log viewer.
        job_id = next(k for k, j in app.screen.query_one(JobsTable).jobs.items() if j.name == "greet")
        _cursor_to(app, job_id)
        await pilot.press("l")
        await settle(pilot, until=lambda: isinstance(app.screen, LogScreen))
        log = app.screen.query_one(JobLog)
        await settle(pilot, until=lambda: any("hello-from-tui" in line for line in log.lines))
        assert any("exit code 0" in line for line in log.lines)
        await pilot.press("escape")

        # Its details: why it is where it is, and its attempts.
        await settle(pilot, until=lambda: not isinstance(app.screen, LogScreen))
        _cursor_to(app, job_id)
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, JobDetailsModal) and not app.screen.busy)
        job = app.screen.job
        assert job.state == "SUCCEEDED" and job.attempt_history[0].exit_code == 0
        assert "why" in job.to_dict()
        await pilot.press("escape")

        # A long job, cancelled from the table after a confirmation that names it.
        await _submit(pilot, "sleeper", "sleep 60")
        await settle(pilot, until=lambda: _states(app, "sleeper") in (["QUEUED"], ["RUNNING"]))
        sleeper = next(k for k, j in app.screen.query_one(JobsTable).jobs.items() if j.name == "sleeper")
        _cursor_to(app, sleeper)
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert f"job {sleeper} (sleeper)" in str(app.screen.body)
        await pilot.click("#yes")
        await settle(pilot, until=lambda: JobsCancelled in seen)
        assert any(f"cancelled 1 job: {sleeper}" in n.message for n in app._notifications)
        await settle(pilot, until=lambda: _states(app, "sleeper") == ["CANCELLED"], timeout=30)

        # An array of three; two selected with space, cancelled after confirmation.
        await _submit(pilot, "many", "sleep 60", array="1-3")
        await settle(pilot, until=lambda: len(_states(app, "many")) == 3)
        table = app.screen.query_one(JobsTable)
        first = next(k for k in table.keys if table.jobs[k].name == "many")
        _cursor_to(app, first)
        await pilot.press("space", "space")
        assert len(app.screen.selected) == 2
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        await pilot.click("#yes")
        await settle(pilot, until=lambda: sorted(_states(app, "many")).count("CANCELLED") == 2,
                     timeout=30)

        # Filters: by state, then by a substring of the name.
        app.screen.query_one("#f-state", Select).value = "CANCELLED"
        await settle(pilot, until=lambda: {j.state for j in app.screen.query_one(JobsTable).jobs.values()}
                     == {"CANCELLED"})
        assert len(app.screen.query_one(JobsTable).jobs) == 3
        app.screen.query_one("#f-state", Select).clear()
        app.screen.query_one("#f-match", Input).value = "gree"
        await settle(pilot, until=lambda: [j.name for j in app.screen.query_one(JobsTable).jobs.values()]
                     == ["greet"])
        # Sorting and paging never fail on a short list.
        await pilot.press("escape", "o", "o", "right_square_bracket", "left_square_bracket")
        await settle(pilot)
        app.client.cancel([first.split("[")[0] + "[]"])


async def test_release_held_jobs_from_the_table(live_home) -> None:
    """`u` releases the held job under the cursor (qrls); a job that is not held says so."""
    from hyper_tui.core.jobs import Submission

    seen: list[type] = []
    app = make_app(start="jobs", remember=False)
    async with app.run_test(size=(120, 40), message_hook=lambda m: seen.append(type(m))) as pilot:
        await settle(pilot, until=lambda: app.client is not None)
        [held] = app.client.submit([Submission("default", "default", "waiting", argv=["true"],
                                               hold=True)])
        await settle(pilot, until=lambda: _states(app, "waiting") == ["PENDING"])
        assert app.client.get_job(held).why == "held; release with qrls"
        _cursor_to(app, held)
        await pilot.press("u")
        await settle(pilot, until=lambda: JobsReleased in seen)
        await settle(pilot, until=lambda: _states(app, "waiting") == ["SUCCEEDED"], timeout=40)
        assert [(r.ref, r.outcome) for r in app.client.release([held])] == [(held, "not held")]


def test_parse_array() -> None:
    assert parse_array("") is None
    spec = parse_array("1-10:3%2")
    assert (spec.start, spec.end, spec.step, spec.max_running) == (1, 10, 3, 2)
    assert (parse_array("10").start, parse_array("10").end) == (0, 9)  # as qsub -J 10
    for bad in ("10-1", "a-b", "1-"):
        try:
            parse_array(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


async def test_submit_modal_rejects_bad_input(live_home) -> None:
    app = make_app(start="jobs", live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None)
        await pilot.press("s")
        await settle(pilot, until=lambda: isinstance(app.screen, SubmitModal))
        modal = app.screen
        modal.query_one("#s-array", Input).value = "5-1"
        await pilot.pause()
        assert modal.query_one("#submit-btn").disabled
        assert "the end is before the start" in str(modal.query_one("#s-array-error").render())
        assert "give a command" in str(modal.query_one("#s-command-error").render())
        await pilot.press("escape")
