"""A job's full details (``client.get_job``: state, why, spec, attempt history).

The modal fetches its own data in a worker once mounted, so the answer always finds it.
"""

from __future__ import annotations

from rich.text import Text
from textual import work

from hyper_tui.messages import JobDetails
from hyper_tui.screens.text_modal import TextModal


class JobDetailsModal(TextModal):
    def __init__(self, ref: str) -> None:
        super().__init__(f"job {ref}", Text("loading…", style="dim"), id="job-details", busy=True)
        self.ref = ref
        self.job: dict | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    @work(thread=True, exclusive=True, group="job-details", exit_on_error=False)
    def load(self) -> None:
        self.post_message(JobDetails(self.app.client.get_job(self.ref)))

    def on_job_details(self, event: JobDetails) -> None:
        from hyper_tui.widgets.job_details import job_details_body

        self.job = event.job
        self.set_body(job_details_body(event.job, self.app.clock()))
