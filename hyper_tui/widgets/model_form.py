"""Wizard forms built from the pydantic resource models.

Each model field carries its help text (``description``), its wizard step
(``json_schema_extra["step"]``), the host kinds it means something on (``kinds``) and a default
that depends on the host (``local_default``). This module turns a model class into steps of
:class:`FieldSpec` for one host kind, converts between field values and the text a person types, validates a
whole form by constructing the model, and computes the diff the last step shows. The functions
are pure; :class:`FieldEditor` is the widget of one field.
"""

from __future__ import annotations

import enum
import os
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static, Switch

MODEL_ERROR = "__model__"

# ``local_default`` tokens of the model -> the value on this machine
LOCAL_DEFAULTS = {"cpu_count": lambda: os.cpu_count() or 1}


@dataclass
class FieldSpec:
    name: str
    help: str
    step: str
    kind: str  # bool | enum | text | list | dict | yaml | choice
    choices: tuple[str, ...] = ()
    optional: bool = False
    required: bool = False
    default: Any = None
    kinds: tuple[str, ...] = ()  # host kinds the field means something on (empty: all)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return annotation, optional
    return annotation, False


def _field_kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    inner = annotation
    if typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    if inner is bool:
        return "bool", ()
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return "enum", tuple(str(m.value) for m in inner)
    if inner in (int, float, str):
        return "text", ()
    origin = typing.get_origin(inner)
    if origin is list:
        (item,) = typing.get_args(inner) or (str,)
        return ("list", ()) if item in (str, int, float) else ("yaml", ())
    if origin is dict:
        args = typing.get_args(inner)
        value = args[1] if len(args) == 2 else str
        return ("dict", ()) if value in (str, int) or typing.get_origin(value) else ("yaml", ())
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "yaml", ()
    return "text", ()


def field_specs(cls: type[BaseModel], *, exclude: tuple[str, ...] = (),
                choices: dict[str, tuple[str, ...]] | None = None,
                host_kind: str | None = None) -> list[FieldSpec]:
    """The wizard fields of ``cls`` in declaration order. ``choices`` turns a text field into a
    choice of known names (e.g. a queue's cluster). With ``host_kind``, fields that mean nothing
    on that kind are left out and defaults fit it (a local cluster's vCPUs: this machine's)."""
    out = []
    for name, info in cls.model_fields.items():
        if name in exclude:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kinds = tuple(extra.get("kinds", ()))
        if host_kind and not applies_to(cls, name, host_kind):
            continue
        inner, optional = _unwrap(info.annotation)
        kind, opts = _field_kind(inner)
        if choices and name in choices:
            kind, opts = "choice", choices[name]
        default = None if info.is_required() else _default(info)
        token = extra.get("local_default")
        if host_kind == "local" and token in LOCAL_DEFAULTS:
            default = LOCAL_DEFAULTS[token]()
        out.append(FieldSpec(
            name=name, help=info.description or "", step=str(extra.get("step", "General")),
            kind=kind, choices=opts, optional=optional, required=info.is_required(),
            default=default, kinds=kinds))
    return out


def applies_to(cls: type[BaseModel], name: str, host_kind: str) -> bool:
    """Whether field ``name`` of ``cls`` means something on a host of ``host_kind``."""
    info = cls.model_fields.get(name)
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    kinds = extra.get("kinds")
    return not kinds or host_kind in kinds


def hidden_fields(cls: type[BaseModel], specs: list[FieldSpec], exclude: tuple[str, ...] = ()) -> list[str]:
    """The fields of ``cls`` that ``specs`` leave out (an update keeps their values)."""
    shown = {s.name for s in specs}
    return [n for n in cls.model_fields if n not in shown and n not in exclude]


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def steps(specs: list[FieldSpec], per_step: int = 6) -> list[tuple[str, list[FieldSpec]]]:
    """Fields grouped by step, steps in order of first appearance; a step with more than
    ``per_step`` fields is split ("Container 1/2", "Container 2/2") to keep each page short."""
    groups: dict[str, list[FieldSpec]] = {}
    for s in specs:
        groups.setdefault(s.step, []).append(s)
    out: list[tuple[str, list[FieldSpec]]] = []
    for name, fields in groups.items():
        parts = [fields[i:i + per_step] for i in range(0, len(fields), per_step)]
        for n, part in enumerate(parts, 1):
            out.append((f"{name} {n}/{len(parts)}" if len(parts) > 1 else name, part))
    return out


def to_text(spec: FieldSpec, value: Any) -> str:
    """A field value as the text shown in its input."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_none=True)
    if spec.kind == "list" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if spec.kind == "dict" and isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if spec.kind == "yaml":
        if value in ([], {}):
            return ""
        if isinstance(value, list):
            value = [v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v
                     for v in value]
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return str(value)


class FormTextError(ValueError):
    """The text of a field cannot even be parsed (before the model sees it)."""


def from_text(spec: FieldSpec, text: str) -> Any:
    """The raw value the model is given for what was typed (the model does the validating)."""
    text = text.strip()
    if spec.kind in ("text", "choice", "enum"):
        if text == "":
            if spec.optional:
                return None
            # Never a silent default: an emptied field says what it needs.
            if spec.required or spec.default is None:
                raise FormTextError("required")
            raise FormTextError(f"give a value (the default is {to_text(spec, spec.default)})")
        return text
    if spec.kind == "list":
        if text == "":
            return []
        if text.startswith("["):
            return _yaml(text)
        return [p.strip() for p in text.split(",") if p.strip()]
    if spec.kind == "dict":
        if text == "":
            return {}
        if text.startswith("{"):
            return _yaml(text)
        out: dict[str, str] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            sep = "=" if "=" in part else ":" if ":" in part else None
            if sep is None:
                raise FormTextError(f"{part!r}: write key=value pairs separated by commas")
            k, v = part.split(sep, 1)
            out[k.strip()] = v.strip()
        return out
    if text == "":
        return None if spec.optional else ([] if spec.default == [] else spec.default)
    return _yaml(text)


def _yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise FormTextError(f"cannot read this: {problem}") from None


def validate(cls: type[BaseModel], raw: dict[str, Any]) -> tuple[BaseModel | None, dict[str, str]]:
    """Construct the model; return it, or the errors by field name (``MODEL_ERROR`` for rules
    that span fields)."""
    from hyper_tui.config import plain_message

    try:
        return cls.model_validate(raw), {}
    except PydanticValidationError as err:
        errors: dict[str, str] = {}
        for e in err.errors(include_url=False):
            loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            key = str(loc[0]) if loc else MODEL_ERROR
            msg = plain_message(e)
            if len(loc) > 1:
                msg = f"{'.'.join(str(p) for p in loc[1:])}: {msg}"
            errors.setdefault(key, msg)
        return None, errors


def diff(old: BaseModel | None, new: BaseModel) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for every field that changes; for a new resource every field that is
    not at its default."""
    out = []
    for name, info in type(new).model_fields.items():
        nv = getattr(new, name)
        if old is None:
            if info.is_required() or nv != _default(info):
                out.append((name, None, nv))
        elif getattr(old, name) != nv:
            out.append((name, getattr(old, name), nv))
    return out


class FieldEditor(Vertical):
    """One field: label, editor (Input, Switch or Select), help text and the live error."""

    DEFAULT_CSS = """
    FieldEditor { height: auto; margin: 0 0 1 0; }
    FieldEditor .field-label { text-style: bold; }
    FieldEditor .field-help { color: $text-muted; }
    FieldEditor .field-error { color: $error; display: none; }
    FieldEditor.-invalid .field-error { display: block; }
    FieldEditor.-invalid Input { border: tall $error; }
    FieldEditor Switch { height: 3; }
    """

    def __init__(self, spec: FieldSpec, value: Any, *, disabled: bool = False) -> None:
        super().__init__(id=f"field-{spec.name}")
        self.spec = spec
        self.value = value
        self.locked = disabled

    def compose(self) -> ComposeResult:
        s = self.spec
        mark = " *" if s.required else ""
        yield Label(f"{s.name}{mark}", classes="field-label")
        eid = f"in-{s.name}"
        if s.kind == "bool":
            yield Switch(value=bool(self.value), id=eid, disabled=self.locked)
        elif s.kind in ("enum", "choice"):
            current = to_text(s, self.value)
            options = [(c, c) for c in s.choices]
            if current and current not in s.choices:
                options.append((current, current))
            yield Select(options, value=current if current else Select.NULL, id=eid,
                         allow_blank=s.optional or not current, disabled=self.locked)
        else:
            placeholder = {"list": "a, b, c", "dict": "key=value, key2=value2",
                           "yaml": "YAML, e.g. [{name: x}]"}.get(s.kind, "")
            yield Input(to_text(s, self.value), id=eid, placeholder=placeholder,
                        disabled=self.locked)
        yield Static(s.help, classes="field-help")
        yield Static("", classes="field-error")

    def raw(self) -> Any:
        """The value to give the model (raises FormTextError when the text is unreadable)."""
        widget = self.query_one(f"#in-{self.spec.name}")
        if isinstance(widget, Switch):
            return widget.value
        if isinstance(widget, Select):
            v = widget.value
            return None if v is Select.NULL else v
        assert isinstance(widget, Input)
        return from_text(self.spec, widget.value)

    def show_error(self, message: str | None) -> None:
        if message == getattr(self, "_shown", None):
            return
        self._shown = message
        self.set_class(bool(message), "-invalid")
        self.query_one(".field-error", Static).update(f"✗ {message}" if message else "")
