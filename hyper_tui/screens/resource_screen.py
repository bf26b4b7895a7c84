"""A resource kind's screen: table of name, status and key fields; add, update, delete, details.

Subclasses (one module per kind) set ``KIND`` and ``COLUMNS``. Every change goes through the
host config (``HostConfig.add/update/delete``) and ``client.save_config``, in a worker.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from pydantic import BaseModel
from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from hyper_tui.messages import ConfigSaved, ResourcesLoaded
from hyper_tui.screens.base_screen import HyperScreen
from hyper_tui.screens.confirm_modal import ConfirmModal
from hyper_tui.screens.text_modal import TextModal
from hyper_tui.screens.wizard_modal import WizardModal
from hyper_tui.widgets.fmt import STATUS_STYLES, value_text

MAX_WIDTH = 28
SINGULAR = {"regions": "region", "clusters": "cluster", "queues": "queue", "images": "image",
            "definitions": "definition"}


class ResourceScreen(HyperScreen):
    KIND: ClassVar[str] = "queues"
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("u", "update", "Update"),
        Binding("d", "delete", "Delete"),
        Binding("enter", "details", "Details"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cfg: Any = None
        self.status: dict[tuple[str, str], tuple[str, str]] = {}

    # ---- layout and data -----------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield Static("", id="resource-title", classes="screen-title")
        table: DataTable = DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        self._columns({})
        self._title(None)

    def _columns(self, widths: dict[str, int]) -> None:
        """(Re)make the columns with widths that fit the data: fixed, so the table's layout
        never depends on when it was measured."""
        table = self.query_one("#resources", DataTable)
        table.clear(columns=True)
        for col in ("name", "status", *self.columns()):
            table.add_column(col, key=col, width=widths.get(col, len(col)))

    def columns(self) -> tuple[str, ...]:
        """``COLUMNS`` less the fields that mean nothing on the host's kind (model ``kinds``)."""
        if self.cfg is None:
            return self.COLUMNS
        from hyper_tui.widgets.model_form import applies_to

        kind = self.cfg.host.kind.value
        return tuple(c for c in self.COLUMNS if applies_to(self.model_class(), c, kind))

    def _title(self, n: int | None) -> None:
        what = self.KIND.capitalize()
        count = "loading…" if n is None else f"{n}"
        title = Text.assemble((what, "bold"), f"  {count}   ", ("a", "bold"), " add  ", ("u", "bold"),
                              " update  ", ("d", "bold"), " delete  ", ("enter", "bold"), " details")
        if n == 0:  # an empty screen says what to do
            title = Text.assemble((what, "bold"), "  none yet: press ", ("a", "bold"),
                                  f" to add {'an' if self.KIND[0] in 'aeiou' else 'a'} {SINGULAR[self.KIND]}")
        self.query_one("#resource-title", Static).update(title)

    def reload(self) -> None:
        self.load_resources()

    @work(thread=True, exclusive=True, group="resources", exit_on_error=False)
    def load_resources(self) -> None:
        client = self.client
        cfg = client.load_config()
        status = client.resource_status(self.KIND)
        self.post_message(ResourcesLoaded(self.KIND, cfg, status))

    def on_resources_loaded(self, event: ResourcesLoaded) -> None:
        if event.kind != self.KIND:
            return
        self.cfg, self.status = event.config, event.status
        table = self.query_one("#resources", DataTable)
        keep = table.cursor_row
        items = self.cfg.of_kind(self.KIND)
        rows = []
        for name, res in sorted(items.items()):
            st, _ = self.status.get((self.KIND, name), ("-", ""))
            rows.append((name, [name, st, *[self.cell(res, col) for col in self.columns()]]))
        cols = ("name", "status", *self.columns())
        widths = {c: min(MAX_WIDTH, max([len(c)] + [len(str(r[1][i])) for r in rows]))
                  for i, c in enumerate(cols)}
        self._columns(widths)
        for name, cells in rows:
            st = cells[1]
            table.add_row(Text(name, style="bold"), Text(st, style=STATUS_STYLES.get(st, "")),
                          *[Text(str(c), overflow="ellipsis", no_wrap=True) for c in cells[2:]],
                          key=name)
        if items:
            table.move_cursor(row=min(max(keep, 0), len(items) - 1))
        self._title(len(items))
        self.loaded_once = True

    def cell(self, res: BaseModel, column: str) -> Any:
        return value_text(getattr(res, column, None))

    def selected_name(self) -> str | None:
        table = self.query_one("#resources", DataTable)
        if self.cfg is None or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value)

    # ---- wizard --------------------------------------------------------------------------

    def model_class(self) -> type[BaseModel]:
        from hyper_tui.model import RESOURCE_MODELS

        return RESOURCE_MODELS[self.KIND]

    def choices(self) -> dict[str, tuple[str, ...]]:
        return {}

    def _checker(self, existing: str | None):
        def check(model: BaseModel) -> str | None:
            cfg = copy.deepcopy(self.cfg)
            items = cfg.of_kind(self.KIND)
            name = model.name  # type: ignore[attr-defined]
            if existing is None and name in items:
                return f"a {SINGULAR[self.KIND]} named {name!r} exists already; pick another name"
            items[name] = model
            problems = cfg.problems()
            return problems[0] if problems else None
        return check

    def action_add(self) -> None:
        if self.cfg is None:
            self.notify("still loading the host config", severity="warning")
            return
        wizard = WizardModal(self.model_class(), title=f"Add {SINGULAR[self.KIND]}",
                             choices=self.choices(), check=self._checker(None),
                             initial=self.initial(), host_kind=self.cfg.host.kind.value)
        self.app.push_screen(wizard, self._added)

    def initial(self) -> dict[str, Any]:
        return {}

    def _added(self, model: BaseModel | None) -> None:
        if model is not None:
            self.save("add", model.name, model)  # type: ignore[attr-defined]

    def action_update(self) -> None:
        name = self.selected_name()
        if name is None:
            self.notify(f"no {SINGULAR[self.KIND]} to update; add one with a", severity="warning")
            return
        existing = self.cfg.of_kind(self.KIND)[name]
        wizard = WizardModal(self.model_class(), title=f"Update {SINGULAR[self.KIND]} {name}",
                             existing=existing, choices=self.choices(), check=self._checker(name),
                             host_kind=self.cfg.host.kind.value)
        self.app.push_screen(wizard, lambda changes: changes and self.save("update", name, changes))

    def action_delete(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        refs = self.cfg.referrers(self.KIND, name)
        what = f"{SINGULAR[self.KIND]} {name}"
        if refs:
            body = Text.assemble(f"{what} is in use by ", (", ".join(refs), "bold"),
                                 ".\nDelete or change those first.")
            self.app.push_screen(ConfirmModal(f"Cannot delete {what}", body, refuse=True))
            return
        res = self.cfg.of_kind(self.KIND)[name]
        if self.KIND == "regions" and getattr(res, "main", False) and len(self.cfg.regions) > 1:
            self.app.push_screen(ConfirmModal(
                f"Cannot delete {what}", f"{what} is the main region and hubs remain.\n"
                "Delete the hub regions first.", refuse=True))
            return
        body = Text.assemble("Delete ", (what, "bold"), "? Nothing refers to it.\n",
                             ("It is removed from the host config" +
                              (" and deleted on the next deploy." if self.client.capabilities.deploy
                               else "."), "dim"))
        self.app.push_screen(ConfirmModal(f"Delete {what}", body, yes="Delete"),
                             lambda ok: ok and self.save("delete", name, None))

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def save(self, verb: str, name: str, payload: Any) -> None:
        client = self.client
        cfg = client.load_config()
        if verb == "add":
            cfg.add(self.KIND, payload)
        elif verb == "update":
            cfg.update(self.KIND, name, payload)
        else:
            cfg.delete(self.KIND, name)
        changed = client.save_config(cfg)
        done = {"add": "added", "update": "updated", "delete": "deleted"}[verb]
        self.post_message(ConfigSaved(self.KIND, name, done, changed))

    def on_config_saved(self, event: ConfigSaved) -> None:
        status = ", ".join(f"{k} {v}" for k, v in event.changed.items()) or "no status change"
        self.notify(f"{SINGULAR[event.kind]} {event.name} {event.verb} ({status})",
                    title="Saved")
        self.reload()

    # ---- details ---------------------------------------------------------------------------

    def action_details(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        import yaml

        from hyper_tui.redact import redact

        res = self.cfg.of_kind(self.KIND)[name]
        status, log = self.status.get((self.KIND, name), ("-", ""))
        body = Group(
            Text.assemble(("status ", "dim"), (status, STATUS_STYLES.get(status, "bold"))),
            Text(""),
            Syntax(yaml.safe_dump({name: redact(res.public_dict())}, sort_keys=False), "yaml",
                   background_color="default"),
            Text("deploy log", style="bold underline"),
            Text(log.rstrip() or "(empty)"),
        )
        self.app.push_screen(TextModal(f"{SINGULAR[self.KIND]} {name}", body))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()
