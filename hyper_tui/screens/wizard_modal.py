"""The guided add/update wizard, built from a resource model.

A few fields per step (the model's ``step`` groups), defaults from the model (fitted to the
host's kind), each field's help text, and the model's own validation message under a field as
you type. Fields that mean nothing on the host's kind are not shown (an update keeps their
values). The last step shows exactly what will change. Invalid values never leave the wizard:
it returns a validated model (add) or the changed fields (update), or None when cancelled.

Keys, the same in every form of the app: Enter goes to the next field's step (on the last step
it creates), ctrl+s creates or updates from any step, Escape leaves, and asks first when
something was changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from hyper_tui.widgets.fmt import value_text
from hyper_tui.widgets.key_footer import KeyFooter
from hyper_tui.widgets.model_form import (
    MODEL_ERROR,
    FieldEditor,
    FieldSpec,
    FormTextError,
    diff,
    field_specs,
    hidden_fields,
    steps,
    validate,
)

REVIEW = "Review"


class WizardModal(ModalScreen[Any]):
    """``WizardModal(Queue, title=..., existing=queue)``; dismisses with the result or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        Binding("ctrl+s", "create", "Save"),
    ]

    def __init__(self, model: type[BaseModel], *, title: str, existing: BaseModel | None = None,
                 choices: dict[str, tuple[str, ...]] | None = None,
                 exclude: tuple[str, ...] = (),
                 check: Callable[[BaseModel], str | None] | None = None,
                 initial: dict[str, Any] | None = None, host_kind: str | None = None) -> None:
        super().__init__()
        self.model = model
        self.title_text = title
        self.existing = existing
        self.check = check
        self.specs: list[FieldSpec] = field_specs(model, exclude=exclude, choices=choices,
                                                  host_kind=host_kind)
        self.hidden = hidden_fields(model, self.specs, exclude)
        self.steps = steps(self.specs) + [(REVIEW, [])]
        self.index = 0
        self.result: BaseModel | None = None
        self.review_rows: list[tuple[str, Any, Any]] = []
        self.errors: dict[str, str] = {}
        # Errors show on fields once edited (or on Next); an update shows them at once.
        self.touched: set[str] = set()
        start = initial or {}
        self.values = {s.name: (getattr(existing, s.name) if existing is not None
                                else start.get(s.name, s.default)) for s in self.specs}
        self.verb = "Update" if existing is not None else "Create"
        self._pristine: dict[str, Any] | None = None  # the raw form as opened

    # ---- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="wizard"):
            yield Label(self.title_text, id="wizard-title")
            yield Static("", id="wizard-steps")
            with VerticalScroll(id="wizard-body"):
                for i, (_step, specs) in enumerate(self.steps[:-1]):
                    with Vertical(id=f"step-{i}", classes="wizard-step"):
                        for s in specs:
                            locked = self.existing is not None and s.name == "name"
                            yield FieldEditor(s, self.values[s.name], disabled=locked)
                with Vertical(id=f"step-{len(self.steps) - 1}", classes="wizard-step"):
                    yield Static("", id="review")
            yield Static("", id="wizard-model-error")
            with Horizontal(id="wizard-buttons"):
                yield Button("Cancel", id="cancel", variant="default", compact=True)
                yield Button("Back", id="back", variant="default", compact=True)
                yield Button("Next", id="next", variant="primary", compact=True)
                yield Button(self.verb, id="create", variant="success", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show_step()
        self.revalidate()
        self._pristine = self._raw()[0]

    def changed(self) -> bool:
        """Whether anything was typed or chosen since the wizard opened."""
        return self._pristine is not None and self._raw()[0] != self._pristine

    # ---- validation ----------------------------------------------------------------------

    def _raw(self) -> tuple[dict[str, Any], dict[str, str]]:
        raw: dict[str, Any] = {}
        text_errors: dict[str, str] = {}
        for editor in self.query(FieldEditor):
            try:
                raw[editor.spec.name] = editor.raw()
            except FormTextError as err:
                text_errors[editor.spec.name] = str(err)
        # Drop empty optional values so the model's defaults apply.
        raw = {k: v for k, v in raw.items() if v is not None}
        if self.existing is not None:
            raw["name"] = self.existing.name  # type: ignore[attr-defined]
            for name in self.hidden:  # not shown on this host kind: kept as they are
                raw[name] = getattr(self.existing, name)
        return raw, text_errors

    def revalidate(self) -> None:
        raw, text_errors = self._raw()
        model, errors = validate(self.model, raw)
        for name, msg in text_errors.items():
            errors[name] = msg
            model = None
        if model is not None and self.check is not None:
            problem = self.check(model)
            if problem:
                errors[MODEL_ERROR] = problem
                model = None
        self.result = model
        self.errors = errors
        for editor in self.query(FieldEditor):
            name = editor.spec.name
            shown = name in self.touched or self.existing is not None
            editor.show_error(errors.get(name) if shown else None)
        self.query_one("#wizard-model-error", Static).update(
            Text(f"✗ {errors[MODEL_ERROR]}", style="bold red") if MODEL_ERROR in errors else "")
        self._update_buttons()

    def _step_errors(self, index: int) -> list[str]:
        _, specs = self.steps[index]
        return [s.name for s in specs if s.name in self.errors]

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed)
    def _changed(self, event) -> None:
        event.stop()
        wid = event.control.id or ""
        if wid.startswith("in-"):
            self.touched.add(wid.removeprefix("in-"))
        self.revalidate()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    # ---- navigation ----------------------------------------------------------------------

    def _show_step(self) -> None:
        for i in range(len(self.steps)):
            self.query_one(f"#step-{i}").display = i == self.index
        labels = []
        for i, (step, _) in enumerate(self.steps):
            style = "bold reverse" if i == self.index else ("dim" if i > self.index else "")
            labels.append(Text(f" {i + 1}. {step} ", style=style))
        self.query_one("#wizard-steps", Static).update(Text(" ").join(labels))
        if self.steps[self.index][0] == REVIEW:
            self._render_review()
            self._update_buttons()
            create = self.query_one("#create", Button)
            (create if not create.disabled else self.query_one("#back", Button)).focus()
        else:
            first = self.query_one(f"#step-{self.index}").query("Input, Switch, Select")
            for w in first:
                if not w.disabled:
                    w.focus()
                    break
        self._update_buttons()

    def _update_buttons(self) -> None:
        last = self.index == len(self.steps) - 1
        self.query_one("#back", Button).disabled = self.index == 0
        self.query_one("#next", Button).display = not last
        create = self.query_one("#create", Button)
        create.display = last
        create.disabled = self.result is None or (self.existing is not None and not self._changes())

    def _render_review(self) -> None:
        review = self.query_one("#review", Static)
        if self.result is None:
            bad = ", ".join(f"{k}: {v}" for k, v in self.errors.items())
            review.update(Text(f"Fix these first: {bad}", style="bold red"))
            return
        rows = diff(self.existing, self.result)
        self.review_rows = rows
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        table.add_column("", width=1)
        table.add_column("field", style="bold")
        table.add_column("now")
        table.add_column("after")
        for name, old, new in rows:
            if self.existing is None:
                table.add_row(Text("+", style="green"), name, Text("-", style="dim"),
                              Text(value_text(new), style="green"))
            else:
                table.add_row(Text("~", style="yellow"), name, Text(value_text(old), style="red"),
                              Text(value_text(new), style="green"))
        if not rows:
            review.update(Text("Nothing changes.", style="dim"))
            return
        kind = self.title_text
        header = Text(f"{kind}: these fields will be written to the host config.\n",
                      style="bold")
        from rich.console import Group

        review.update(Group(header, table))

    def _changes(self) -> dict[str, Any]:
        if self.result is None or self.existing is None:
            return {}
        return {name: new for name, _, new in diff(self.existing, self.result)}

    def action_next(self) -> None:
        if self.index >= len(self.steps) - 1:
            self.action_create()
            return
        bad = self._step_errors(self.index)
        self.touched.update(s.name for s in self.steps[self.index][1])
        if bad:
            self.revalidate()
            self.notify(f"fix {', '.join(bad)} first: {self.errors[bad[0]]}", severity="warning")
            return
        self.index += 1
        self._show_step()

    def action_back(self) -> None:
        if self.index > 0:
            self.index -= 1
            self._show_step()

    def action_create(self) -> None:
        """ctrl+s from any step, Enter on the last one: save, or show what stops it."""
        self.touched.update(s.name for s in self.specs)
        self.revalidate()
        if self.result is None:
            for i in range(len(self.steps) - 1):
                bad = self._step_errors(i)
                if bad:
                    if i != self.index:
                        self.index = i
                        self._show_step()
                    self.notify(f"fix {', '.join(bad)} first: {self.errors[bad[0]]}", severity="warning")
                    return
            if MODEL_ERROR in self.errors:
                self.notify(f"cannot {self.verb.lower()} yet: {self.errors[MODEL_ERROR]}", severity="warning")
            return
        if self.existing is None:
            self.dismiss(self.result)
        else:
            changes = self._changes()
            if changes:
                self.dismiss(changes)
            else:
                self.notify("nothing changed", severity="information")

    def action_cancel(self) -> None:
        """Escape or Cancel: leave at once when nothing changed, else ask first."""
        from hyper_tui.screens.confirm_modal import leave_or_ask

        leave_or_ask(self, self.changed(), self.title_text[0].lower() + self.title_text[1:])

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"cancel": self.action_cancel, "back": self.action_back, "next": self.action_next,
         "create": self.action_create}[event.button.id or "cancel"]()
