"""Hosts: create (local or aws), select, import an aws deployment, delete."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from hyper_tui.messages import HostChanged, HostsLoaded
from hyper_tui.model import Host, field
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.wizard_modal import WizardModal


class ImportSpec(BaseModel):
    """What ``hosts import-deployment`` needs: the stack outputs are read from AWS."""

    name: str = field(help="Name of the host on this machine.")
    account: str = field(help="AWS account id of the deployment, 12 digits.")
    region: str = field(help="The deployment's main region, e.g. us-east-1.")


class HostsScreen(HyperScreen):
    SECTION = "hosts"
    BINDINGS = [
        Binding("a", "create", "Create"),
        Binding("enter", "select", "Select"),
        Binding("i", "import", "Import aws"),
        Binding("d", "delete", "Delete"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hosts: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Static(Text.assemble(("Hosts", "bold"), "   ", ("a", "bold"), " create  ",
                                   ("enter", "bold"), " select  ", ("i", "bold"), " import aws  ",
                                   ("d", "bold"), " delete"), classes="screen-title")
        yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#hosts", DataTable)
        # Every column fits in 80 columns (the body is 77 cells wide there, the sidebar folded).
        widths = {"": 1, "name": 14, "kind": 5, "status": 15, "main region": 12, "queues": 6,
                  "defs": 4}
        for col, width in widths.items():
            table.add_column(col, key=col or "sel", width=width)

    def on_screen_resume(self) -> None:
        self.reload()  # the hosts list needs no client

    def reload(self) -> None:
        self.load_hosts()

    @work(thread=True, exclusive=True, group="hosts", exit_on_error=False)
    def load_hosts(self) -> None:
        from hyper_tui import config
        from hyper_tui.hosts import registry
        out = []
        for ref in registry.list_hosts():
            row: dict[str, Any] = {"name": ref.name, "kind": ref.kind}
            try:
                cfg = config.load(ref.name)
                row.update(main_region=cfg.host.main_region, queues=len(cfg.queues),
                           definitions=len(cfg.definitions))
            except Exception as err:  # a broken config is shown, not fatal
                row.update(main_region="?", queues="?", definitions="?", error=str(err))
            row["status"] = registry.client_class(ref.kind).brief_status(ref.name)
            out.append(row)
        self.post_message(HostsLoaded(out, registry.selected_name()))

    def on_hosts_loaded(self, event: HostsLoaded) -> None:
        self.hosts = event.hosts
        table = self.query_one("#hosts", DataTable)
        keep = table.cursor_row
        table.clear()
        current = self.app.host_state[0]
        for h in event.hosts:
            mark = "●" if h["name"] == current else ("*" if h["name"] == event.selected else "")
            status = Text(h["status"], style="green" if "running" in h["status"] else "yellow")
            if "error" in h:
                status = Text("config error", style="bold red")
            table.add_row(Text(mark, style="bold green"), Text(h["name"], style="bold"), h["kind"],
                          status, str(h["main_region"]), str(h["queues"]), str(h["definitions"]),
                          key=h["name"])
        if event.hosts:
            table.move_cursor(row=min(keep, len(event.hosts) - 1))
        self.loaded_once = True

    def _selected(self) -> str | None:
        table = self.query_one("#hosts", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # ---- actions ---------------------------------------------------------------------------

    def action_create(self) -> None:
        names = {h["name"] for h in self.hosts}

        def check(model: BaseModel) -> str | None:
            if model.name in names:  # type: ignore[attr-defined]
                return f"a host named {model.name!r} exists already; pick another name"  # type: ignore[attr-defined]
            return None

        self.app.push_screen(WizardModal(Host, title="Create host", exclude=("settings",),
                                         check=check), self._create)

    def _create(self, host: Host | None) -> None:
        if host is not None:
            self.host_op("create", host.name, host)

    def action_select(self) -> None:
        name = self._selected()
        if name:
            self.host_op("select", name, None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_select()

    def action_import(self) -> None:
        self.app.push_screen(WizardModal(ImportSpec, title="Import an aws deployment"),
                             lambda spec: spec and self.host_op("import", spec.name, spec))

    def action_delete(self) -> None:
        name = self._selected()
        if not name:
            return
        body = Text.assemble("Delete host ", (name, "bold"), " from this machine: its config, "
                             "store, jobs and logs.\n", ("An aws deployment is not destroyed.", "dim"))
        self.app.push_screen(ConfirmModal(f"Delete host {name}", body, yes="Delete"),
                             lambda ok: ok and self.host_op("delete", name, None))

    @work(thread=True, exclusive=True, group="host-op", exit_on_error=False)
    def host_op(self, op: str, name: str, payload: Any) -> None:
        from hyper_tui.hosts import registry

        if op == "create":
            registry.create_host(name, payload.kind.value, select=False,
                                 account=payload.account or None, region=payload.main_region)
        elif op == "select":
            registry.select(name)
        elif op == "import":
            try:
                registry.import_host("aws", name, account=payload.account, region=payload.region)
            except ImportError as err:
                from hyper_tui.core.errors import UnavailableError

                raise UnavailableError(f"importing an aws deployment needs the aws support ({err})",
                                       fix="pip install 'hyper-tui[aws]' and configure AWS "
                                           "credentials") from None
        elif op == "delete":
            registry.delete_host(name)
        self.post_message(HostChanged(op, name, select=op in ("select", "import")))

    def on_host_changed(self, event: HostChanged) -> None:
        verb = {"create": "created", "select": "selected", "import": "imported",
                "delete": "deleted"}[event.what]
        self.notify(f"host {event.name} {verb}", title="Hosts")
        current = self.app.host_state[0]
        if event.select or (event.what == "delete" and event.name == current):
            self.app.connect_host(None if event.what == "delete" else event.name)
        self.reload()
