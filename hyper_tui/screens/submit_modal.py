"""Submit jobs: queue, definition, name, command (a script for /bin/sh), array range.

The submission is built by ``core.submit`` as qsub builds it: the definition's retries and
timeout, the submitter's PATH and working directory (``qsub -c COMMAND`` gives the same job).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from hyper_tui.core import submit as building
from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.core.submit import Defaults, is_job_name, job_env
from hyper_tui.core.submit import parse_array as parse_range
from hyper_tui.errors import ValidationError
from hyper_tui.widgets.key_footer import KeyFooter


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
                     defaults: Defaults, environ: Mapping[str, str], cwd: str
                     ) -> tuple[Submission | None, dict[str, str]]:
    """The modal's fields -> (the submission, None) or (None, field -> error)."""
    errors: dict[str, str] = {}
    name = name.strip()
    if not is_job_name(name):
        errors["name"] = "1-128 letters, digits or ._-+@:[]"
    try:
        spec = parse_array(array)
    except ValueError as err:
        errors["array"] = str(err)
        spec = None
    if not command.strip():
        errors["command"] = "give a command, e.g. echo hello"
    if errors:
        return None, errors
    return building.build(queue=queue, definition=definition, defaults=defaults, name=name,
                          command=command, array=spec, cwd=cwd,
                          env=job_env({}, environ=environ, cwd=cwd)), errors


class SubmitModal(ModalScreen[Submission | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Submit")]

    def __init__(self, queues: list[str], definitions: list[str],
                 defaults: Mapping[str, Defaults] | None = None) -> None:
        super().__init__()
        self.queues = queues
        self.definitions = definitions
        self.defaults = dict(defaults or {})  # definition -> its retries and timeout

    def compose(self) -> ComposeResult:
        with Vertical(id="submit", classes="dialog wide"):
            yield Label("Submit jobs", classes="dialog-title")
            with Horizontal(classes="form-row"):
                with Vertical():
                    yield Label("queue")
                    yield Select([(q, q) for q in self.queues], value=self.queues[0],
                                 allow_blank=False, id="s-queue")
                with Vertical():
                    yield Label("definition")
                    yield Select([(d, d) for d in self.definitions], value=self.definitions[0],
                                 allow_blank=False, id="s-definition")
            with Horizontal(classes="form-row"):
                with Vertical():
                    yield Label("name")
                    yield Input("job", id="s-name")
                    yield Static("", id="s-name-error", classes="field-error-text")
                with Vertical():
                    yield Label("array range (optional)")
                    yield Input("", placeholder="1-100, 1-100:2, 1-100%10", id="s-array")
                    yield Static("", id="s-array-error", classes="field-error-text")
            yield Label("command (a script run by /bin/sh; $HYPER_ARRAY_INDEX in arrays)")
            yield TextArea("", id="s-command", soft_wrap=True, show_line_numbers=False)
            yield Static("", id="s-command-error", classes="field-error-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Submit", id="submit-btn", variant="success", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#s-command", TextArea).focus()
        self.validate()

    def validate(self) -> Submission | None:
        definition = str(self.query_one("#s-definition", Select).value)
        sub, errors = build_submission(
            queue=str(self.query_one("#s-queue", Select).value), definition=definition,
            name=self.query_one("#s-name", Input).value,
            array=self.query_one("#s-array", Input).value,
            command=self.query_one("#s-command", TextArea).text,
            defaults=self.defaults.get(definition) or Defaults(), environ=os.environ,
            cwd=os.getcwd())
        for key in ("name", "array", "command"):
            self.query_one(f"#s-{key}-error", Static).update(f"✗ {errors[key]}" if key in errors else "")
        self.query_one("#submit-btn", Button).disabled = bool(errors)
        return sub

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _changed(self, event) -> None:
        event.stop()
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
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit-btn":
            self.action_submit()
        else:
            self.action_cancel()
