"""Deployments: CDK synth and deploy of an aws host in a background worker, or the apply log of
a local host.

The deploy worker runs the host client's ``deploy(on_event=..., cancel=...)`` (events with
``.stack``, ``.status``, ``.line``) in a thread and posts its events in batches, so the UI never
blocks; ``c`` sets the cancel event. When the deploy support is missing the
screen says so and the app keeps working.
"""

from __future__ import annotations

import queue
import threading
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Log, Static

from hyper_tui.messages import ApplyLogLoaded, DeployFinished, DeployLines
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.widgets.fmt import STATUS_STYLES
from hyper_tui.widgets.stack_progress import StackProgress

BATCH_S = 0.1


class DeploymentsScreen(HyperScreen):
    SECTION = "deployments"
    BINDINGS = [
        Binding("D", "deploy", "Deploy"),
        Binding("c", "cancel_deploy", "Cancel deploy"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event: threading.Event | None = None
        self.running = False
        self.deploy_log_shown = False
        self.stacks: dict[str, StackProgress] = {}

    def compose_body(self) -> ComposeResult:
        yield Static("", id="deploy-title", classes="screen-title")
        yield DataTable(id="deploy-resources", cursor_type="row", zebra_stripes=True)
        yield VerticalScroll(id="stacks")
        yield Log(id="deploy-log", max_lines=50_000)

    def on_mount(self) -> None:
        table = self.query_one("#deploy-resources", DataTable)
        for col, width in (("kind", 12), ("name", 16), ("status", 9), ("last log line", 52)):
            table.add_column(col, key=col, width=width)
        self._title()

    @property
    def kind(self) -> str | None:
        return self.app.host_state[1]

    def _title(self) -> None:
        t = Text.assemble(("Deployments", "bold"), "  ")
        if self.kind == "aws":
            t.append("D", style="bold")
            t.append(" synth + deploy  ")
            t.append("c", style="bold")
            t.append(" cancel  ")
            if self.running:
                t.append("deploying…", style="bold yellow")
        else:
            t.append("local host: nothing to provision; the apply log of each resource", style="dim")
        self.query_one("#deploy-title", Static).update(t)
        self.query_one("#stacks").display = self.kind == "aws"

    def on_screen_resume(self) -> None:
        self._title()
        self.reload()

    def reload(self) -> None:
        if self.app.host_state[0] is not None:
            self.load_status()

    @work(thread=True, exclusive=True, group="deploy-status", exit_on_error=False)
    def load_status(self) -> None:
        client = self.client
        if client is None:
            return  # not connected yet: the screen reloads when the host connects
        status = client.resource_status()
        rows = [{"kind": k, "name": n, "status": s, "log": lg} for (k, n), (s, lg) in sorted(status.items())]
        self.post_message(ApplyLogLoaded(rows))

    def on_apply_log_loaded(self, event: ApplyLogLoaded) -> None:
        table = self.query_one("#deploy-resources", DataTable)
        table.clear()
        for r in event.rows:
            last = (r["log"].strip().splitlines() or [""])[-1]
            table.add_row(r["kind"], Text(r["name"], style="bold"),
                          Text(r["status"], style=STATUS_STYLES.get(r["status"], "")), last[:80])
        if not self.running and not self.deploy_log_shown:
            log = self.query_one("#deploy-log", Log)
            log.clear()
            for r in event.rows:
                for line in r["log"].strip().splitlines():
                    log.write_line(f"{r['kind']}/{r['name']}: {line}")
        self.loaded_once = True

    # ---- deploy --------------------------------------------------------------------------------

    def action_deploy(self) -> None:
        if self.kind != "aws":
            self.notify("a local host has nothing to deploy: changes apply at once", severity="information")
            return
        if self.running:
            self.notify("a deploy is running; c cancels it", severity="warning")
            return
        self.running = True
        self.deploy_log_shown = True  # keep the deploy's log on screen once it ends
        self.cancel_event = threading.Event()
        for panel in self.stacks.values():
            panel.remove()
        self.stacks.clear()
        self.query_one("#deploy-log", Log).clear()
        self._title()
        self.deploy(self.app.host_state[0], self.cancel_event)

    def action_cancel_deploy(self) -> None:
        if self.running and self.cancel_event is not None:
            self.cancel_event.set()
            self.notify("cancelling the deploy…", severity="warning")

    @work(thread=True, exclusive=True, group="deploy", exit_on_error=False)
    def deploy(self, host: str, cancel: threading.Event) -> None:
        from hyper_tui.hosts.registry import client_for

        # A deploy may block for minutes (CloudFormation); a pump thread feeds a queue so that
        # what arrived is shown every BATCH_S whatever the deploy does.
        events: queue.Queue = queue.Queue()
        done = object()

        def pump() -> None:
            try:
                client = client_for(host)
                try:
                    client.deploy(on_event=events.put, cancel=cancel)
                finally:
                    client.close()
                events.put(done)
            except BaseException as err:  # noqa: BLE001 - handed to the worker below
                events.put(err)

        threading.Thread(target=pump, name="deploy-events", daemon=True).start()
        batch: list[tuple[str, str, str]] = []
        last = time.monotonic()
        failed = False
        while True:
            try:
                item = events.get(timeout=BATCH_S)
            except queue.Empty:
                item = None
            if item is None or item is done or isinstance(item, BaseException) \
                    or time.monotonic() - last >= BATCH_S:
                if batch:
                    self.post_message(DeployLines(batch))
                batch, last = [], time.monotonic()
            if item is None:
                continue
            if item is done:
                break
            if isinstance(item, ImportError):  # the aws extra (boto3, the deploy support) is missing
                self.post_message(DeployFinished(False, "deploying needs the aws extra (pip "
                                                        f"install 'hyper-tui[aws]'): {item}"))
                return
            if isinstance(item, BaseException):
                self.post_message(DeployFinished(False, f"deploy failed: {item}"))
                return
            status = str(getattr(item, "status", ""))
            failed = failed or any(w in status.upper() for w in ("FAIL", "ERROR"))
            batch.append((str(getattr(item, "stack", "") or "-"), status, str(getattr(item, "line", ""))))
        if batch:
            self.post_message(DeployLines(batch))
        if cancel.is_set():
            self.post_message(DeployFinished(False, "deploy cancelled"))
        else:
            self.post_message(DeployFinished(not failed, "deploy failed" if failed else "deploy finished"))

    def on_deploy_lines(self, event: DeployLines) -> None:
        log = self.query_one("#deploy-log", Log)
        box = self.query_one("#stacks", VerticalScroll)
        for stack, status, line in event.events:
            panel = self.stacks.get(stack)
            if panel is None:
                panel = StackProgress(stack)
                self.stacks[stack] = panel
                box.mount(panel)
            panel.event(status)
            if line:
                log.write_line(f"{stack}: {line}" if stack != "-" else line)

    def on_deploy_finished(self, event: DeployFinished) -> None:
        self.running = False
        if event.ok:
            for panel in self.stacks.values():
                panel.finish()
        self._title()
        self.notify(event.message, title="Deploy", severity="information" if event.ok else "error")
        self.reload()
