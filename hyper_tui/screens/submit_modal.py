"""Submit jobs: queue, definition, name, command (a script for /bin/sh), array range."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.errors import ValidationError
from hyper_tui.qcmd.qsub import is_job_name
from hyper_tui.qcmd.qsub import parse_array as parse_range
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


class SubmitModal(ModalScreen[Submission | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Submit")]

    def __init__(self, queues: list[str], definitions: list[str]) -> None:
        super().__init__()
        self.queues = queues
        self.definitions = definitions

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
        errors: dict[str, str] = {}
        name = self.query_one("#s-name", Input).value.strip()
        if not is_job_name(name):
            errors["name"] = "1-128 letters, digits or ._-+@:[]"
        try:
            array = parse_array(self.query_one("#s-array", Input).value)
        except ValueError as err:
            errors["array"] = str(err)
            array = None
        command = self.query_one("#s-command", TextArea).text
        if not command.strip():
            errors["command"] = "give a command, e.g. echo hello"
        for key in ("name", "array", "command"):
            self.query_one(f"#s-{key}-error", Static).update(f"✗ {errors[key]}" if key in errors else "")
        self.query_one("#submit-btn", Button).disabled = bool(errors)
        if errors:
            return None
        return Submission(queue=str(self.query_one("#s-queue", Select).value),
                          definition=str(self.query_one("#s-definition", Select).value),
                          name=name, command=command, array=array)

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
