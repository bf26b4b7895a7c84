"""Submit jobs: every qsub option that fits a form. Queue, definition, name, array range,
dependencies, hold, timeout (walltime), retries, priority, environment variables, working
directory and the command (a script for /bin/sh).

The submission is built by ``core.submit`` as qsub builds it, with qsub's parsers for each
value: the definition's retries and timeout when the form leaves them empty, the submitter's
PATH and working directory (``qsub -c COMMAND`` with the same options gives the same job).
Output files are not an option: a job's output is its log (``qlog``), on every host kind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from hyper_tui.core import submit as building
from hyper_tui.core.errors import HyperError, ValidationError
from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.core.submit import (
    Defaults,
    is_job_name,
    job_env,
    parse_depend,
    parse_duration,
    parse_env,
    parse_priority,
    parse_retries,
)
from hyper_tui.core.submit import parse_array as parse_range
from hyper_tui.widgets.key_footer import KeyFooter

# The form's text fields: id suffix, label, placeholder.
FIELDS = (("depend", "depends on", "afterok:42[:43], afterany:7"),
          ("timeout", "timeout / walltime", "seconds or HH:MM:SS"),
          ("retries", "retries", ""),
          ("priority", "priority", "0 (higher runs first)"),
          ("env", "environment", "NAME=VALUE,NAME=VALUE"),
          ("cwd", "working directory", ""))


def parse_array(text: str) -> ArraySpec | None:
    """``""`` -> None; else qsub's ``-J`` ranges: ``1-100``, ``1-100:2`` (step), ``1-100%10``
    (at most 10 running), ``100`` (0-99). Errors are qsub's, as ``ValueError``."""
    text = text.strip()
    if not text:
        return None
    try:
        return parse_range(text)
    except ValidationError as err:
        raise ValueError(err.line().removeprefix("--array ")) from None


def build_submission(*, queue: str, definition: str, name: str, array: str, command: str,
                     defaults: Defaults, environ: Mapping[str, str], cwd: str,
                     depend: str = "", hold: bool = False, timeout: str = "",
                     retries: str = "", priority: str = "", env: str = "",
                     workdir: str = "") -> tuple[Submission | None, dict[str, str]]:
    """The modal's fields -> (the submission, {}) or (None, field -> error). Each value is
    read by the parser qsub uses for its option (``-W depend=``, ``--timeout``/``-l walltime``,
    ``-r``, ``--priority``, ``-v``, ``--cwd``); empty means qsub's default."""
    errors: dict[str, str] = {}

    def read(field: str, parse, text: str, default=None):
        if not text.strip():
            return default
        try:
            return parse(text)
        except (HyperError, ValueError) as err:
            errors[field] = err.line() if isinstance(err, HyperError) else str(err)
            return default

    name = name.strip()
    if not is_job_name(name):
        errors["name"] = "1-128 letters, digits or ._-+@:[]"
    spec = read("array", parse_array, array)
    depends = read("depend", lambda t: parse_depend([t], "depends on"), depend, [])
    seconds = read("timeout", lambda t: parse_duration(t, "timeout"), timeout)
    tries = read("retries", lambda t: parse_retries(t, "retries"), retries)
    rank = read("priority", lambda t: parse_priority(t, "priority"), priority, 0)
    variables = read("env", lambda t: parse_env([t], environ), env, {})
    where = os.path.abspath(os.path.join(cwd, workdir.strip())) if workdir.strip() else cwd
    if workdir.strip() and not os.path.isdir(where):
        errors["cwd"] = f"{workdir.strip()} is not a directory; create it or fix the path"
    if not command.strip():
        errors["command"] = "give a command, e.g. echo hello"
    if errors:
        return None, errors
    return building.build(queue=queue, definition=definition, defaults=defaults, name=name,
                          command=command, array=spec, cwd=where, retries=tries,
                          timeout=seconds, priority=rank, hold=hold, depends=depends,
                          env=job_env(variables, environ=environ, cwd=where)), errors


class SubmitModal(ModalScreen[Submission | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Submit")]
    # The dialog is "submit-form", not app.tcss's "#submit" (sized to its content): the
    # fields scroll inside a dialog that fits the screen, the buttons stay in view.
    DEFAULT_CSS = """
    #submit-form { height: auto; max-height: 100%; }
    #submit-fields { height: auto; max-height: 22; }
    SubmitModal.-short #submit-fields { max-height: 16; }
    #submit-form .form-row { height: auto; }
    #submit-form .form-row > Vertical { height: auto; width: 1fr; padding-right: 1; }
    #s-hold { margin-top: 1; }
    """

    def __init__(self, queues: list[str], definitions: list[str],
                 defaults: Mapping[str, Defaults] | None = None) -> None:
        super().__init__()
        self.queues = queues
        self.definitions = definitions
        self.defaults = dict(defaults or {})  # definition -> its retries and timeout
        self._pristine: dict[str, object] | None = None  # the form as it opened

    def _field(self, key: str, label: str, value: str = "", placeholder: str = "") -> ComposeResult:
        with Vertical():
            yield Label(label)
            yield Input(value, placeholder=placeholder, id=f"s-{key}", compact=True)
            yield Static("", id=f"s-{key}-error", classes="field-error-text")

    def compose(self) -> ComposeResult:
        labels = {k: (lab, ph) for k, lab, ph in FIELDS}
        with Vertical(id="submit-form", classes="dialog wide"):
            yield Label("Submit jobs", classes="dialog-title")
            with VerticalScroll(id="submit-fields"):
                with Horizontal(classes="form-row"):
                    with Vertical():
                        yield Label("queue")
                        yield Select([(q, q) for q in self.queues], value=self.queues[0],
                                     allow_blank=False, id="s-queue", compact=True)
                    with Vertical():
                        yield Label("definition")
                        yield Select([(d, d) for d in self.definitions], value=self.definitions[0],
                                     allow_blank=False, id="s-definition", compact=True)
                with Horizontal(classes="form-row"):
                    yield from self._field("name", "name", "job")
                    yield from self._field("array", "array range", "", "1-100, 1-100:2, 1-100%10")
                yield Label("command (a script run by /bin/sh; $HYPER_ARRAY_INDEX in arrays)")
                yield TextArea("", id="s-command", soft_wrap=True, show_line_numbers=False)
                yield Static("", id="s-command-error", classes="field-error-text")
                with Horizontal(classes="form-row"):
                    yield from self._field("depend", *labels["depend"][:1], "", labels["depend"][1])
                    with Vertical():
                        yield Checkbox("hold (release with qrls)", id="s-hold", compact=True)
                with Horizontal(classes="form-row"):
                    for key in ("timeout", "retries", "priority"):
                        yield from self._field(key, labels[key][0], "", labels[key][1])
                with Horizontal(classes="form-row"):
                    yield from self._field("env", labels["env"][0], "", labels["env"][1])
                    yield from self._field("cwd", labels["cwd"][0], "", os.getcwd())
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Submit", id="submit-btn", variant="success", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#s-command", TextArea).focus()
        self._show_defaults()
        self.validate()
        self._pristine = self.values()

    def _show_defaults(self) -> None:
        """The definition's retries and timeout, as the placeholders of empty fields."""
        d = self.defaults.get(str(self.query_one("#s-definition", Select).value)) or Defaults()
        self.query_one("#s-retries", Input).placeholder = f"{d.retries} (the definition's)"
        self.query_one("#s-timeout", Input).placeholder = (
            f"{d.timeout:g} s (the definition's)" if d.timeout else "none; s or HH:MM:SS")

    def values(self) -> dict[str, object]:
        """The form as ``build_submission``'s keyword arguments."""
        text = {k: self.query_one(f"#s-{k}", Input).value
                for k in ("name", "array", "depend", "timeout", "retries", "priority", "env")}
        return {**text, "queue": str(self.query_one("#s-queue", Select).value),
                "definition": str(self.query_one("#s-definition", Select).value),
                "command": self.query_one("#s-command", TextArea).text,
                "hold": self.query_one("#s-hold", Checkbox).value,
                "workdir": self.query_one("#s-cwd", Input).value}

    def validate(self) -> Submission | None:
        v = self.values()
        sub, errors = build_submission(**v, defaults=self.defaults.get(str(v["definition"]))
                                       or Defaults(), environ=os.environ, cwd=os.getcwd())
        for key in ("name", "array", "command") + tuple(k for k, _, _ in FIELDS):
            self.query_one(f"#s-{key}-error", Static).update(f"✗ {errors[key]}" if key in errors else "")
        self.query_one("#submit-btn", Button).disabled = bool(errors)
        return sub

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event) -> None:
        event.stop()
        self.validate()

    @on(Select.Changed)
    def _definition_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_defaults()
        self.validate()

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in a field submits, as on a wizard's last step
        self.action_submit()

    def action_submit(self) -> None:
        sub = self.validate()
        if sub is not None:
            self.dismiss(sub)

    def action_cancel(self) -> None:
        """Escape or Cancel: leave at once when nothing was typed, else ask first."""
        from hyper_tui.screens.confirm_modal import leave_or_ask

        changed = self._pristine is not None and self.values() != self._pristine
        leave_or_ask(self, changed, "the submit form")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit-btn":
            self.action_submit()
        else:
            self.action_cancel()
