"""Deployments: the diff, a confirm, then the CDK deploy of an aws host with progress per
stack; for a local host, the plain statement that it needs none, and each resource's apply log.

``D`` runs the host client's ``diff`` in a background worker, shows it, and asks; on yes the
worker runs ``deploy`` of exactly that cloud assembly (the confirm is the approval: cdk runs
with ``--require-approval never``). Events (``.stack``, ``.status``, ``.line``: the CDK CLI's
``--progress events`` output parsed by ``hyper_tui.aws.deploy``) come back in batches so the
UI never blocks; ``c`` cancels. A failed deploy stays FAILED on screen (stack panels, the
status line, the resources' statuses and the log) until the next one, and across restarts
(the host's store keeps the last deploy).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Log, RichLog, Static

from hyper_tui.messages import ApplyLogLoaded, DeployFinished, DeployLines, DiffReady
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.widgets.fmt import STATUS_STYLES, counted
from hyper_tui.widgets.stack_progress import StackProgress

BATCH_S = 0.1
AWS_ONLY = ("deploy", "diff", "cancel_deploy")
# A resource saved but not deployed yet: what it is, said plainly (not "CREATING").
PENDING = {"CREATING": "NOT DEPLOYED", "UPDATING": "CHANGED", "DELETING": "TO DELETE"}
FIXED = (("kind", 11), ("name", 16), ("status", 12))  # + "last log line": the rest
_DATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


def shown_status(status: str, *, aws: bool, running: bool) -> str:
    """A resource's status as the table shows it (pure)."""
    if aws and not running:
        return PENDING.get(status, status)
    return status


def summary_line(log: str) -> str:
    """The line of a resource's log the table shows (pure): the last dated entry ("... deploy
    ACTIVE", "... declared; ..."), not the CLI's lines that follow it (a bare "✅  stack")."""
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    dated = [ln for ln in lines if _DATED.match(ln)]
    return (dated or lines or [""])[-1]


def diff_text(result: Any) -> Text:
    """A ``DiffResult`` coloured as cdk colours it: + green, - red, ~ yellow (pure)."""
    out = Text()
    for d in result.stacks.values():
        out.append(f"Stack {d.stack}: ", style="bold")
        out.append(d.summary() + "\n", style="yellow" if d.differs else "green")
        if not d.differs:
            continue
        for line in d.lines:
            style = {"+": "green", "-": "red", "~": "yellow"}.get(line[1:2] if line.startswith("[")
                                                                  else "", "")
            out.append(f"  {line}\n", style=style)
    return out


class ResourcesTable(DataTable):
    """The resources table; it says when its own width changes (the sidebar folding below 100
    columns does it without resizing the screen), so its last column can fill the rest."""

    class Resized(Message):
        pass

    def on_resize(self) -> None:
        self.post_message(self.Resized())


class DeploymentsScreen(HyperScreen):
    SECTION = "deployments"
    BINDINGS = [
        Binding("D", "deploy", "Deploy"),
        Binding("f", "diff", "Diff"),
        Binding("c", "cancel_deploy", "Cancel deploy"),
        Binding("r", "reload", "Refresh"),
    ]
    DEFAULT_CSS = """
    DeploymentsScreen #deploy-state { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event: threading.Event | None = None
        self.running = False
        self.computing = False
        self.deploy_log_shown = False
        self.stacks: dict[str, StackProgress] = {}
        self.diff_result: Any = None
        self.last: dict[str, Any] | None = None   # the last deploy: status, stacks, failure
        self._rows: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static("", id="deploy-title", classes="screen-title")
        yield Static("", id="deploy-state")
        yield ResourcesTable(id="deploy-resources", cursor_type="row", zebra_stripes=True)
        yield VerticalScroll(id="stacks")
        yield RichLog(id="deploy-diff", classes="-empty", wrap=False, markup=False)
        yield Log(id="deploy-log", max_lines=50_000)

    def on_mount(self) -> None:
        self._columns()
        self._title()
        self.call_after_refresh(self._refit)  # the table's real width is known after layout

    @property
    def kind(self) -> str | None:
        return self.app.host_state[1]

    @property
    def aws(self) -> bool:
        return self.kind == "aws"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Deploy, diff and cancel exist for aws hosts only: hidden on a local host."""
        if action in AWS_ONLY and not self.aws:
            return False
        return True

    # ---- layout --------------------------------------------------------------------------------

    def _rest_width(self) -> int:
        table = self.query_one("#deploy-resources", DataTable)
        width = table.scrollable_content_region.width or max(self.app.size.width - 24, 40)
        return max(12, width - sum(w for _, w in FIXED) - 2 * (len(FIXED) + 1) - 1)

    def _columns(self) -> None:
        """Columns that fit the table: the last one takes what the others leave."""
        table = self.query_one("#deploy-resources", DataTable)
        rest = self._rest_width()
        table.clear(columns=True)
        for col, w in (*FIXED, ("last log line", rest)):
            table.add_column(col, key=col, width=w)
        self._last_width = rest
        self._fill(self._rows)

    def on_resources_table_resized(self) -> None:
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        if self._rest_width() != getattr(self, "_last_width", None):
            self._columns()

    def _title(self) -> None:
        t = Text.assemble(("Deployments", "bold"), "  ")
        if self.aws:
            t.append("D", style="bold")
            t.append(" diff + deploy  ")
            t.append("f", style="bold")
            t.append(" diff only  ")
            t.append("c", style="bold")
            t.append(" cancel")
        elif self.kind is not None:
            t.append("a local host needs no deployment: changes apply at once", style="dim")
        self.query_one("#deploy-title", Static).update(t)
        self.query_one("#stacks").display = self.aws
        self.query_one("#deploy-state").display = self.aws
        self._state()
        self.refresh_bindings()

    def _state(self) -> None:
        """One line: what is happening, or how the last deploy ended (it stays until the next)."""
        t = Text()
        if self.computing:
            t.append("computing the diff (cdk diff)…", style="bold yellow")
        elif self.running:
            t.append("deploying… ", style="bold yellow")
            t.append("c cancels", style="dim")
        elif self.last is None:
            t.append("not deployed from here yet: D shows the diff, then deploys", style="dim")
        elif self.last.get("status") == "ACTIVE":
            t.append("last deploy ACTIVE", style="bold green")
            if self.last.get("at"):
                t.append(time.strftime("  %Y-%m-%d %H:%M", time.localtime(self.last["at"])),
                         style="dim")
        else:
            t.append("last deploy FAILED", style="bold red")
            why = self.last.get("failure")
            if why:
                t.append(f": {why}", style="red")
            if self.last.get("log"):
                t.append(f"  log: {self.last['log']}", style="dim")
        self.query_one("#deploy-state", Static).update(t)

    def on_screen_resume(self) -> None:
        self._title()
        self.reload()

    def reload(self) -> None:
        if self.app.host_state[0] is not None:
            self.load_status()

    # ---- resources and the last deploy -----------------------------------------------------

    @work(thread=True, exclusive=True, group="deploy-status", exit_on_error=False)
    def load_status(self) -> None:
        client = self.client
        if client is None:
            return  # not connected yet: the screen reloads when the host connects
        status = client.resource_status()
        rows = [{"kind": k, "name": n, "status": s, "log": lg} for (k, n), (s, lg) in sorted(status.items())]
        last = getattr(client, "last_deploy", None)
        self.post_message(ApplyLogLoaded(rows, last() if callable(last) else None))

    def on_apply_log_loaded(self, event: ApplyLogLoaded) -> None:
        self._rows = event.rows
        self._fill(event.rows)
        if event.last_deploy is not None and not self.running and self.last is None:
            self.last = event.last_deploy
            self._panels(list(self.last.get("stacks", {})))
            for stack, final in self.last.get("stacks", {}).items():
                self.stacks[stack].settle(final)
            self._state()
        if not self.running and not self.deploy_log_shown:
            log = self.query_one("#deploy-log", Log)
            log.clear()
            for r in event.rows:
                for line in r["log"].strip().splitlines():
                    log.write_line(f"{r['kind']}/{r['name']}: {line}")
        self.loaded_once = True

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#deploy-resources", DataTable)
        table.clear()
        width = getattr(self, "_last_width", 40)
        for r in rows:
            last = summary_line(r["log"])
            status = shown_status(r["status"], aws=self.aws, running=self.running)
            table.add_row(r["kind"], Text(r["name"], style="bold"),
                          Text(status, style=STATUS_STYLES.get(r["status"], "")),
                          last if len(last) <= width else last[:width - 1] + "…")

    def _panels(self, stacks: list[str], labels: dict[str, str] | None = None) -> None:
        box = self.query_one("#stacks", VerticalScroll)
        for panel in self.stacks.values():
            panel.remove()
        self.stacks = {}
        for stack in stacks:
            panel = StackProgress(stack, (labels or {}).get(stack, "waiting"))
            self.stacks[stack] = panel
            box.mount(panel)

    # ---- diff, confirm, deploy -------------------------------------------------------------

    def action_diff(self) -> None:
        self._start_diff(confirm=False)

    def action_deploy(self) -> None:
        self._start_diff(confirm=True)

    def _start_diff(self, *, confirm: bool) -> None:
        if not self.aws:
            self.notify("a local host needs no deployment: changes apply at once",
                        severity="information")
            return
        if self.running or self.computing:
            self.notify("a diff or deploy is running; c cancels it", severity="warning")
            return
        self.computing = True
        self.deploy_log_shown = True
        self.cancel_event = threading.Event()
        self.query_one("#deploy-log", Log).clear()
        self._state()
        self.run_diff(self.app.host_state[0], self.cancel_event, confirm)

    def action_cancel_deploy(self) -> None:
        if (self.running or self.computing) and self.cancel_event is not None:
            self.cancel_event.set()
            self.notify("cancelling…", severity="warning")

    def _pump(self, call: Callable[[Any, Callable[[Any], None]], Any]) -> Any:
        """Run ``call(client, on_event)`` in a thread of its own, posting its events in
        batches every BATCH_S whatever it does; its result, or raise its error."""
        events: queue.Queue = queue.Queue()
        done: list[Any] = []

        def pump() -> None:
            from hyper_tui.hosts.registry import client_for

            try:
                client = client_for(self.app.host_state[0])
                try:
                    done.append(call(client, events.put))
                finally:
                    client.close()
                events.put(StopIteration())
            except BaseException as err:  # noqa: BLE001 - raised in the worker below
                events.put(err)

        threading.Thread(target=pump, name="deploy-events", daemon=True).start()
        batch: list[tuple[str, str, str]] = []
        last = time.monotonic()
        while True:
            try:
                item = events.get(timeout=BATCH_S)
            except queue.Empty:
                item = None
            end = isinstance(item, BaseException)
            if item is not None and not end:
                batch.append((str(getattr(item, "stack", "") or "-"), str(getattr(item, "status", "")),
                              str(getattr(item, "line", ""))))
            if batch and (end or time.monotonic() - last >= BATCH_S):
                self.post_message(DeployLines(batch))
                batch, last = [], time.monotonic()
            if isinstance(item, StopIteration):
                return done[0]
            if end:
                raise item

    @work(thread=True, exclusive=True, group="deploy", exit_on_error=False)
    def run_diff(self, host: str, cancel: threading.Event, confirm: bool) -> None:
        try:
            result = self._pump(lambda client, on_event: client.diff(on_event=on_event,
                                                                     cancel=cancel))
        except ImportError as err:  # the aws extra (boto3, the deploy support) is missing
            self.post_message(DiffReady(None, "deploying needs the aws extra (pip install "
                                              f"'hyper-tui[aws]'): {err}", confirm))
            return
        except Exception as err:  # noqa: BLE001 - shown on screen
            self.post_message(DiffReady(None, f"diff failed: {err}", confirm))
            return
        self.post_message(DiffReady(result, None, confirm))

    def on_diff_ready(self, event: DiffReady) -> None:
        self.computing = False
        self._state()
        if event.error is not None:
            self.notify(event.error, title="Diff", severity="error", timeout=10)
            return
        self.show_diff(event.result)
        if not event.confirm:
            return
        if not event.result.differs:
            self.notify("no differences: nothing to deploy", title="Deploy")
            return
        from hyper_tui.screens.confirm_modal import ConfirmModal

        changed = [d for d in event.result.stacks.values() if d.differs]
        body = Text()
        for d in changed:
            body.append(f"{d.stack}: ", style="bold")
            body.append(d.summary() + "\n")
        body.append("\nThe diff is on the Deployments screen. Yes is the approval: cdk deploys "
                    "exactly that with --require-approval never.", style="dim")
        self.app.push_screen(ConfirmModal(f"Deploy {counted(len(changed), 'stack')} of host "
                                          f"{self.app.host_state[0]}?", body, yes="Deploy",
                                          no="Not now"),
                             lambda yes: self._confirmed(bool(yes), event.result))

    def show_diff(self, result: Any) -> None:
        """The diff in its pane, and a waiting panel per stack (or "no changes")."""
        self.diff_result = result
        pane = self.query_one("#deploy-diff", RichLog)
        pane.clear()
        pane.write(diff_text(result), scroll_end=False)
        pane.remove_class("-empty")
        pane.border_title = "cdk diff"
        pane.scroll_home(animate=False)
        self._panels(list(result.stacks), {s: ("waiting" if d.differs else "no differences")
                                           for s, d in result.stacks.items()})

    def _confirmed(self, yes: bool, result: Any) -> None:
        if not yes:
            self.notify("nothing deployed", title="Deploy")
            return
        self.running = True
        self.app.activity = "deploying…"
        self.cancel_event = threading.Event()
        self.query_one("#deploy-log", Log).clear()
        self._state()
        self._fill(self._rows)  # CREATING now means it
        self.run_deploy(result.assembly, self.cancel_event)

    @work(thread=True, exclusive=True, group="deploy", exit_on_error=False)
    def run_deploy(self, assembly: Any, cancel: threading.Event) -> None:
        try:
            result = self._pump(lambda client, on_event: client.deploy(
                assembly=assembly, lookups=False, approved=True, on_event=on_event,
                cancel=cancel))
        except ImportError as err:
            self.post_message(DeployFinished(False, "deploying needs the aws extra (pip install "
                                                    f"'hyper-tui[aws]'): {err}"))
            return
        except Exception as err:  # noqa: BLE001 - shown on screen and kept
            self.post_message(DeployFinished(False, "deploy cancelled" if cancel.is_set()
                                             else f"deploy failed: {err}"))
            return
        ok = result.status == "ACTIVE"
        self.post_message(DeployFinished(ok, "deploy finished" if ok else
                                         f"deploy failed: {result.failure}", dict(result.stacks),
                                         str(result.log_path or "") or None))

    def on_deploy_lines(self, event: DeployLines) -> None:
        log = self.query_one("#deploy-log", Log)
        for stack, status, line in event.events:
            panel = self.stacks.get(stack)
            if panel is not None and self.running:
                panel.event(status, line)
            if line:
                log.write_line(f"{stack}: {line}" if stack != "-" and not line.startswith(stack)
                               else line)

    def on_deploy_finished(self, event: DeployFinished) -> None:
        self.running = False
        self.app.activity = None
        why = None if event.ok else event.message.removeprefix("deploy failed: ")
        for stack, panel in self.stacks.items():
            final = (event.stacks or {}).get(stack)
            panel.settle(final, None if final == "ACTIVE" else
                         ("the deploy stopped before it" if final is None else None))
        self.last = {"status": "ACTIVE" if event.ok else "FAILED", "at": time.time(),
                     "stacks": dict(event.stacks or {}), "failure": why, "log": event.log}
        self._state()
        self.notify(event.message, title="Deploy", severity="information" if event.ok else "error")
        self.reload()
        poll = getattr(self.app, "poll_status", None)
        if poll is not None:
            poll()  # the header shows the stacks' new state
