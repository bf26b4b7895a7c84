"""The log viewer with a huge log: only the tail is read at first, then it follows."""

from __future__ import annotations

import time

from hyper_tui.app import make_app
from hyper_tui.core.jobs import Submission
from hyper_tui.local.client import LocalHostClient
from hyper_tui.local.store import log_path
from hyper_tui.screens.log_screen import TAIL, LogScreen
from hyper_tui.widgets.log_view import JobLog
from tests.tui.conftest import settle

LINES = 300_000


async def test_huge_log_is_tailed_then_followed(live_home) -> None:
    client = LocalHostClient("local", start_daemon=False)
    (job_id,) = client.submit([Submission(queue="default", definition="default", name="chatty",
                                          command="true")])
    path = log_path(client.store.path.parent, int(job_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with open(path, "w") as fh:
        fh.writelines(f"{t:.3f}\tSTDOUT\tline {i}\n" for i in range(LINES))
    client.close()
    app = make_app(start="jobs", remember=False)  # live: the viewer follows on its timer
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, until=lambda: app.client is not None and not app.screen.busy)
        started = time.monotonic()
        await pilot.press("l")
        await settle(pilot, until=lambda: isinstance(app.screen, LogScreen) and app.screen.loaded)
        opened = time.monotonic() - started
        log = app.screen.query_one(JobLog)
        assert TAIL <= log.line_count <= TAIL + 5  # the tail only, plus the submit event
        assert log.lines[-1].endswith(f"line {LINES - 1}")
        assert opened < 10, f"opening the log took {opened:.1f} s"
        with open(path, "a") as fh:
            fh.write(f"{time.time():.3f}\tSTDOUT\tfresh line\n")
        await settle(pilot, until=lambda: log.lines[-1].endswith("fresh line"))
        assert not app.screen.finished and app.screen.follow
