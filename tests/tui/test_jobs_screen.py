"""The jobs screen on a real local store with hundreds of jobs: the cursor follows its job
while jobs are inserted, cancels confirm naming what they cancel, filters combine, select-all
acts on every match through the client, sort and paging cover all jobs, jump to an id, counts
refresh on return. Jobs are submitted held (or by a client that starts no daemon), so nothing
runs and what the table shows is only what the test did."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select

from hyper_tui.app import make_app
from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.messages import JobsMatchCancelled, JobsProgress
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.jobs_screen import PAGE, JobsScreen
from hyper_tui.screens.jump_modal import JumpModal
from hyper_tui.widgets.jobs_table import JobsTable, fit_widths
from tests.tui.conftest import settle


@pytest.fixture
def store_home(home: Path) -> Path:
    """A local host whose daemon never starts: the jobs stay as the test wrote them."""
    from hyper_tui.hosts import registry

    registry.resolve(None)
    return home


def _client():
    from hyper_tui.local.client import LocalHostClient

    return LocalHostClient("local", start_daemon=False)


def _submit(client, name: str, command: str = "true", *, queue: str = "default",
            array: ArraySpec | None = None) -> str:
    return client.submit([Submission(queue=queue, definition="default", name=name,
                                     command=command, array=array)])[0]


def _table(app) -> JobsTable:
    return app.screen.query_one(JobsTable)


def _names(app) -> list[str]:
    table = _table(app)
    return [table.jobs[k].name for k in table.keys]


async def _ready(pilot) -> JobsScreen:
    app = pilot.app
    await settle(pilot, until=lambda: isinstance(app.screen, JobsScreen) and not app.screen.busy)
    return app.screen


async def test_the_cursor_follows_its_job_while_jobs_arrive_and_x_cancels_that_job(store_home):
    client = _client()
    ids = [_submit(client, f"job-{i}") for i in range(6)]
    target = ids[2]
    app = make_app(start="jobs", remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        table = _table(app)
        table.move_cursor(row=table.keys.index(target))
        assert table.current_job().job_id == target
        # New submissions land above it (newest first) and shift its row by four.
        new = [_submit(client, f"late-{i}") for i in range(4)]
        await settle(pilot, until=lambda: new[-1] in _table(app).keys)
        assert table.keys.index(target) == 7
        assert table.current_job().job_id == target
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert f"job {target} (job-2)" in str(app.screen.body)
        await pilot.press("y")
        await settle(pilot, until=lambda: client.get_job(target).state == "CANCELLED")
        others = [client.get_job(j).state for j in ids + new if j != target]
        assert set(others) == {"QUEUED"}
    client.close()


async def test_cancel_of_several_names_them_and_keep_cancels_nothing(store_home):
    client = _client()
    ids = [_submit(client, f"job-{i}") for i in range(3)]
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        table = _table(app)
        table.move_cursor(row=0)
        await pilot.press("space", "space")
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.body)
        assert "2 jobs" in body and ids[2] in body and ids[1] in body and ids[0] not in body
        await pilot.press("n")
        await settle(pilot)
        assert {client.get_job(j).state for j in ids} == {"QUEUED"}
    client.close()


async def test_filters_substring_regex_queue_and_state_combine(store_home):
    from hyper_tui import config
    from hyper_tui.model import Queue

    client = _client()
    cfg = config.load("local")
    cfg.queues["fast"] = Queue(name="fast", cluster="default")
    client.save_config(cfg)
    _submit(client, "align-a", "bwa mem ref.fa reads.fq")
    _submit(client, "train-1", "python train.py --lr 0.1")
    _submit(client, "train-2", "python train.py --lr 0.2", queue="fast")
    _submit(client, "Train-big", "python big.py", queue="fast")
    done = _submit(client, "train-3", "python train.py")
    client.cancel([done])
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        box = screen.query_one("#f-match", Input)

        async def shows(names: set[str]) -> None:
            await settle(pilot, until=lambda: set(_names(app)) == names and not screen.in_flight)

        box.value = "train"  # substring, any case, of the name
        await shows({"train-1", "train-2", "Train-big", "train-3"})
        box.value = "bwa mem"  # of the command
        await shows({"align-a"})
        box.value = "qdel"  # of the reason ("cancelled by qdel")
        await shows({"train-3"})
        await pilot.press("ctrl+r")
        box.value = r"^train-\d$"  # a regex on the name, case-sensitive
        await shows({"train-1", "train-2", "train-3"})
        screen.query_one("#f-queue", Select).value = "fast"
        await shows({"train-2"})
        screen.query_one("#f-queue", Select).clear()
        screen.query_one("#f-state", Select).value = "CANCELLED"
        await shows({"train-3"})
        assert screen._total() == 1
        box.value = "train-("  # a bad regex says what is wrong, in the status line
        await settle(pilot, until=lambda: screen.filter_error is not None)
        assert "bad regular expression" in str(screen.query_one("#jobs-status").render())
    client.close()


async def test_select_all_cancels_every_match_through_the_client_with_progress(store_home):
    client = _client()
    bulk = _submit(client, "bulk", array=ArraySpec(1, 2 * PAGE + 50))
    keep = [_submit(client, "keep-me") for _ in range(2)]
    seen: list = []
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        screen = await _ready(pilot)
        screen.query_one("#f-match", Input).value = "bulk"
        await settle(pilot, until=lambda: screen._total() == 2 * PAGE + 50 and not screen.in_flight)
        assert len(_table(app).keys) == PAGE  # one page on screen, 250 selected
        await pilot.press("a")
        assert screen.all_selected
        assert "all 250 matching selected" in str(screen.query_one("#jobs-status").render())
        await pilot.press("x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.body)
        assert "containing bulk" in body and "250 jobs" in body
        await pilot.press("y")
        await settle(pilot, until=lambda: any(isinstance(m, JobsMatchCancelled) for m in seen))
        done = next(m for m in seen if isinstance(m, JobsMatchCancelled))
        assert done.cancelled == 250
        assert any(isinstance(m, JobsProgress) and m.total == 250 for m in seen)
        assert client.count_jobs(match="bulk").CANCELLED == 250
        assert {client.get_job(k).state for k in keep} == {"QUEUED"}
        assert bulk.endswith("[]")
    client.close()


async def test_sort_covers_every_job_not_the_page_and_running_jobs_by_real_runtime(store_home):
    client = _client()
    _submit(client, "zzz-oldest")  # the first id: on the last page by id
    for i in range(2 * PAGE):
        _submit(client, f"m-{i:03d}")
    long_run, short_run = _submit(client, "long"), _submit(client, "short")
    t = 1_750_000_000.0

    def run(db):
        db.execute("UPDATE jobs SET state='RUNNING', started=? WHERE id=?", (t - 900, int(long_run)))
        db.execute("UPDATE jobs SET state='SUCCEEDED', started=?, ended=? WHERE id=?",
                   (t - 60, t - 50, int(short_run)))

    client.store.write(run)
    app = make_app(start="jobs", remember=False, live=False, clock=lambda: t)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        assert "zzz-oldest" not in _names(app)
        screen.sort_by, screen.sort_reverse = "name", True
        screen._sort_changed()
        await settle(pilot, until=lambda: _names(app)[:1] == ["zzz-oldest"])
        screen.sort_by = "runtime"
        screen._sort_changed()
        # The running job (15 minutes so far) before the finished one (10 s), not after it.
        await settle(pilot, until=lambda: _names(app)[:2] == ["long", "short"])
        await pilot.press("O")  # ascending: jobs that never ran first, by id
        await settle(pilot, until=lambda: _names(app)[:1] == ["zzz-oldest"])
    client.close()


async def test_first_and_last_page_and_jump_to_an_id(store_home):
    client = _client()
    ids = [_submit(client, f"p-{i:03d}") for i in range(2 * PAGE + 30)]
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        # the last page needs the count (before it arrives, G says "still counting")
        await settle(pilot, until=lambda: screen._total() == 2 * PAGE + 30)
        await pilot.press("G")
        await settle(pilot, until=lambda: screen.page_offset == 2 * PAGE and len(_table(app).keys) == 30)
        assert _table(app).keys[-1] == ids[0]  # the oldest job, read from the other end
        await pilot.press("g")
        await settle(pilot, until=lambda: screen.page_offset == 0 and _table(app).keys[0] == ids[-1])
        target = ids[40]  # 189 jobs are newer: on the second page
        await pilot.press("colon")
        await settle(pilot, until=lambda: isinstance(app.screen, JumpModal))
        app.screen.query_one(Input).value = target
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, JobsScreen)
                     and _table(app).current_job() is not None
                     and _table(app).current_job().job_id == target)
        assert screen.page_offset == PAGE
    client.close()


async def test_a_slow_refresh_in_flight_does_not_undo_a_jump(store_home):
    """Back from the jump dialog the screen re-reads its page and counts; on a slow host that
    read ends after the jump's own page. The stale page (where the screen was) must not be
    shown over the one jumped to (CI saw the cursor left on page 1)."""
    import threading
    import time

    client = _client()
    ids = [_submit(client, f"s-{i:03d}") for i in range(PAGE + 30)]
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        slow = threading.Event()
        count_jobs = screen.client.count_jobs

        def slow_count(**kw):
            if slow.is_set():  # the first read after the dialog (at the old offset) ends last
                slow.clear()
                time.sleep(0.6)
            return count_jobs(**kw)

        screen.client.count_jobs = slow_count
        target = ids[10]  # 119 jobs are newer: on the second page
        await pilot.press("colon")
        await settle(pilot, until=lambda: isinstance(app.screen, JumpModal))
        app.screen.query_one(Input).value = target
        slow.set()
        await pilot.press("enter")
        await settle(pilot, until=lambda: isinstance(app.screen, JobsScreen)
                     and _table(app).current_job() is not None
                     and _table(app).current_job().job_id == target)
        await pilot.pause(1.0)  # the slow read has ended by now
        await settle(pilot)
        assert screen.page_offset == PAGE
        assert _table(app).current_job().job_id == target
        assert target in _table(app).keys
    client.close()


async def test_counts_refresh_on_return_to_the_screen(store_home):
    client = _client()
    _submit(client, "one")
    app = make_app(start="jobs", remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        assert screen._total() == 1
        await pilot.press("8")  # the dashboard
        await settle(pilot, until=lambda: not isinstance(app.screen, JobsScreen))
        for _ in range(3):
            _submit(client, "more")
        await pilot.press("7")  # back to the jobs
        # Counts come with the first page back, not 5 s later on the counts timer.
        await settle(pilot, until=lambda: app.screen is screen and screen._total() == 4, timeout=3)
    client.close()


def test_columns_fit_the_terminal_and_never_cut_ids_or_short_reasons():
    from hyper_tui.core.jobs import JobRow

    def row(job_id: str, name: str, reason: str) -> JobRow:
        return JobRow(id=1, job_id=job_id, array_id=None, idx=None, name=name, queue="default",
                      definition="default", state="QUEUED", reason=reason, priority=0, retries=0,
                      attempts=0, timeout=None, submitted=0.0, started=None, ended=None,
                      exit_code=None, worker=None, held=False)

    rows = [row("4173[97000]", "render-frames", "waiting for a worker (2 of 8 vCPUs free)"),
            row("12", "x", "")]
    for width in (80, 100, 120, 200):
        w = fit_widths(width, rows)
        used = sum(w.values()) + 2 * len(w) + 1
        assert used <= width, (width, w)
        assert w["id"] >= len("4173[97000]")
    wide = fit_widths(120, rows)
    assert wide["reason"] >= len(rows[0].reason) and wide["name"] >= len("render-frames")


async def test_the_user_filter_combines_with_the_others_and_acts_on_select_all(store_home):
    """Users seen in the listing (and this user) are offered; the filter combines with the
    substring and state filters, and select-all cancels only that user's matches."""
    from hyper_tui.core.submit import submitting_user

    client = _client()
    mine = _submit(client, "train-mine")
    theirs = [client.submit([Submission(queue="default", definition="default", name=n,
                                        command="true", user="erin")])[0]
              for n in ("train-erin", "align-erin")]
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        users = screen.query_one("#f-user", Select)
        assert {str(v) for _, v in users._options if v is not Select.NULL} == {
            submitting_user(), "erin"}
        assert "user" in [str(c.key.value) for c in _table(app).columns.values()]  # 120: shown

        async def shows(names: set[str]) -> None:
            await settle(pilot, until=lambda: set(_names(app)) == names and not screen.in_flight)

        users.value = "erin"
        await shows({"train-erin", "align-erin"})
        screen.query_one("#f-match", Input).value = "train"
        await shows({"train-erin"})
        users.value = submitting_user()
        await shows({"train-mine"})
        users.value = "erin"
        await shows({"train-erin"})
        await pilot.press("a", "x")
        await settle(pilot, until=lambda: isinstance(app.screen, ConfirmModal))
        assert "submitted by erin" in str(app.screen.body)
        await pilot.press("y")
        await settle(pilot, until=lambda: client.get_job(theirs[0]).state == "CANCELLED")
        assert client.get_job(theirs[1]).state == "QUEUED" and client.get_job(mine).state == "QUEUED"
    client.close()


async def test_stale_running_jobs_are_called_so_when_the_daemon_is_down(store_home):
    """RUNNING jobs of a host whose daemon is not running are as it left them: the screen says
    so instead of showing them as live."""
    client = _client()
    job = _submit(client, "was-running")
    client.store.write(lambda db: db.execute(
        "UPDATE jobs SET state='RUNNING', started=1, attempts=1, worker='w-gone' WHERE id=?",
        (int(job),)))
    app = make_app(start="jobs", remember=False, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _ready(pilot)
        await settle(pilot, until=lambda: app.host_state[2] is not None)
        warning = screen.query_one("#jobs-stale")
        await settle(pilot, until=lambda: warning.display)
        assert "daemon not running" in str(warning.render())
        assert "RUNNING jobs shown are from before it stopped" in str(warning.render())
        client.store.write(lambda db: db.execute("UPDATE jobs SET state='FAILED' WHERE id=?",
                                                 (int(job),)))
        screen.counts = None
        screen.reload()
        await settle(pilot, until=lambda: not warning.display)
    client.close()
