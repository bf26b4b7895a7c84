"""A host's declared config: one YAML file, validated on load, edited by one code path.

The file (``<config>/hosts/<name>/resources.yaml``) is human-editable and diff-friendly::

    host: {name: local, kind: local, main_region: local}
    regions:
      local: {main: true}
    clusters:
      default: {max_vcpus: 2}
    queues:
      default: {cluster: default}
    definitions:
      default: {}

Errors name the file, the line and the field, and say how to fix it. Writes are atomic
(temporary file + rename), so a crash never leaves half a config.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from hyper_tui import paths
from hyper_tui.core.errors import ConflictError, NotFoundError, ValidationError
from hyper_tui.model import (
    RESOURCE_MODELS,
    Cluster,
    Definition,
    Host,
    Image,
    Model,
    Queue,
    Region,
    field_names,
)
from hyper_tui.redact import is_secret_name

KINDS = tuple(RESOURCE_MODELS)  # regions, clusters, queues, images, definitions
SINGULAR = {"regions": "region", "clusters": "cluster", "queues": "queue", "images": "image",
            "definitions": "definition"}
PLURAL = {v: k for k, v in SINGULAR.items()}

_FIXES = {
    "int_parsing": "give a whole number",
    "int_type": "give a whole number",
    "float_parsing": "give a number",
    "bool_parsing": "give true or false",
    "bool_type": "give true or false",
    "enum": "use one of the values listed",
    "literal_error": "use one of the values listed",
    "missing": "add it",
    "greater_than_equal": "raise it",
    "greater_than": "raise it",
    "less_than_equal": "lower it",
    "less_than": "lower it",
    "dict_type": "give a mapping (key: value)",
    "list_type": "give a list ([a, b])",
    "string_type": "give a text value",
}


@dataclass
class HostConfig:
    """A host and its resources, every one validated."""

    host: Host
    regions: dict[str, Region] = field(default_factory=dict)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    definitions: dict[str, Definition] = field(default_factory=dict)

    # ---- reading -----------------------------------------------------------------------

    def of_kind(self, kind: str) -> dict[str, Any]:
        return getattr(self, kind)

    def get(self, kind: str, name: str) -> Any:
        items = self.of_kind(kind)
        if name not in items:
            known = ", ".join(sorted(items)) or "none yet"
            hint = difflib.get_close_matches(name, list(items), n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else f"known {kind}: {known}"
            raise NotFoundError(f"no {SINGULAR[kind]} named {name!r} on host {self.host.name!r}",
                                fix=fix)
        return items[name]

    @property
    def main_region(self) -> Region | None:
        for r in self.regions.values():
            if r.main:
                return r
        return None

    def queue_weights(self, queue: Queue) -> dict[str, int | str]:
        """The queue's weights, or weight 1 for every region when it gives none."""
        return dict(queue.weights) if queue.weights else {r: 1 for r in self.regions}

    # ---- cross-resource rules ----------------------------------------------------------

    def problems(self) -> list[str]:
        """Every broken cross-resource rule, as one-line messages (empty when consistent)."""
        out: list[str] = []
        mains = [r.name for r in self.regions.values() if r.main]
        if self.regions and len(mains) != 1:
            if not mains:
                out.append("regions: no main region; mark exactly one with main: true "
                           "(hyper-tui regions init-main-region)")
            else:
                out.append(f"regions: {len(mains)} main regions ({', '.join(mains)}); "
                           "exactly one may have main: true")
        if mains and mains[0] != self.host.main_region:
            out.append(f"regions.{mains[0]}: the main region must be the host's main region "
                       f"{self.host.main_region!r}")
        for q in self.queues.values():
            if q.cluster not in self.clusters:
                out.append(f"queues.{q.name}.cluster: no cluster named {q.cluster!r}; "
                           f"add it or use one of: {', '.join(sorted(self.clusters)) or 'none'}")
            for region in q.weights:
                if region not in self.regions:
                    out.append(f"queues.{q.name}.weights: no region named {region!r}; "
                               f"known regions: {', '.join(sorted(self.regions)) or 'none'}")
        for d in self.definitions.values():
            if d.image and d.image not in self.images:
                out.append(f"definitions.{d.name}.image: no image named {d.image!r}; "
                           f"add it (hyper-tui images add-image) or use image_uri")
        return out

    def check(self, source: str = "config") -> None:
        problems = self.problems()
        if problems:
            raise ValidationError(f"{source}: {problems[0]}")

    def referrers(self, kind: str, name: str) -> list[str]:
        """What refers to resource ``kind/name``: ``["queue q1", "definition d2"]``."""
        refs: list[str] = []
        if kind == "clusters":
            refs += [f"queue {q.name}" for q in self.queues.values() if q.cluster == name]
        elif kind == "regions":
            refs += [f"queue {q.name}" for q in self.queues.values() if name in q.weights]
        elif kind == "images":
            refs += [f"definition {d.name}" for d in self.definitions.values() if d.image == name]
        return refs

    # ---- editing -----------------------------------------------------------------------

    def add(self, kind: str, resource: Model) -> None:
        items = self.of_kind(kind)
        if resource.name in items:
            raise ConflictError(f"a {SINGULAR[kind]} named {resource.name!r} exists already",
                                fix=f"use update-{SINGULAR[kind]} to change it, or pick another name")
        items[resource.name] = resource
        try:
            self.check(f"{SINGULAR[kind]} {resource.name}")
        except ValidationError:
            del items[resource.name]
            raise

    def update(self, kind: str, name: str, changes: dict[str, Any]) -> Model:
        old = self.get(kind, name)
        data = old.model_dump()
        data.update(changes)
        new = validate_resource(kind, data, source=f"{SINGULAR[kind]} {name}")
        items = self.of_kind(kind)
        items[name] = new
        try:
            self.check(f"{SINGULAR[kind]} {name}")
        except ValidationError:
            items[name] = old
            raise
        return new

    def delete(self, kind: str, name: str) -> Model:
        old = self.get(kind, name)
        refs = self.referrers(kind, name)
        if refs:
            raise ConflictError(f"{SINGULAR[kind]} {name!r} is in use by {', '.join(refs)}",
                                fix="delete or change those first")
        if kind == "regions" and old.main and len(self.regions) > 1:
            raise ConflictError(f"region {name!r} is the main region and hubs remain",
                                fix="delete the hub regions first")
        del self.of_kind(kind)[name]
        return old

    # ---- serialising -------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"host": self.host.public_dict()}
        for kind in KINDS:
            items = self.of_kind(kind)
            data[kind] = {
                name: {k: v for k, v in r.public_dict().items() if k != "name"}
                for name, r in sorted(items.items())
            }
        return data

    def to_yaml(self) -> str:
        header = ("# hyper-tui host config. Edit by hand or with hyper-tui commands;\n"
                  "# every change is validated. Field help: hyper-tui <group> add-<kind> --help\n")
        return header + yaml.safe_dump(self.to_data(), sort_keys=False, default_flow_style=False)


# --------------------------------------------------------------------------------------------
# Validation with file lines


def _suggest(name: str, cls: type[Model]) -> str:
    hint = difflib.get_close_matches(name, field_names(cls), n=1, cutoff=0.6)
    return f"did you mean {hint[0]!r}?" if hint else f"known fields: {', '.join(cls.model_fields)}"


def _model_at(cls: type[Model], loc: tuple[Any, ...]) -> type[Model]:
    """The nested model class that owns the last element of ``loc``."""
    current: Any = cls
    for part in loc[:-1]:
        if isinstance(part, int) or not hasattr(current, "model_fields"):
            continue
        info = current.model_fields.get(part)
        if info is None:
            break
        ann = info.annotation
        for arg in getattr(ann, "__args__", ()) or (ann,):
            inner = getattr(arg, "__args__", ())
            for cand in (arg, *inner):
                if isinstance(cand, type) and issubclass(cand, Model):
                    current = cand
    return current if isinstance(current, type) else cls


_PLAIN = {  # pydantic's error type -> the project's words ({...} from the error's context)
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "list_type": "must be a list ([a, b])",
    "dict_type": "must be a mapping (key: value)",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
    "missing": "required",
}


def plain_message(error: dict[str, Any]) -> str:
    """One pydantic error (an item of ``err.errors()``) in the project's words: "must be at most
    100", not "Input should be less than or equal to 100". A validator's own message is kept."""
    etype = error["type"]
    template = _PLAIN.get(etype)
    if template is not None:
        ctx = dict(error.get("ctx") or {})
        if "expected" in ctx:
            ctx["expected"] = str(ctx["expected"]).replace("'", "")
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    return str(error["msg"]).removeprefix("Value error, ")


def format_pydantic_error(
    err: PydanticValidationError,
    cls: type[Model],
    *,
    prefix: tuple[Any, ...] = (),
    source: str = "",
    lines: dict[tuple[Any, ...], int] | None = None,
) -> str:
    """The first error of ``err`` as one line: where, what, and the fix."""
    e = err.errors(include_url=False)[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    full = prefix + loc
    where = ".".join(str(p) for p in full) or "(top)"
    line = None
    if lines:
        for n in range(len(full), -1, -1):
            if full[:n] in lines:
                line = lines[full[:n]]
                break
    place = source
    if line is not None:
        place = f"{source}:{line}" if source else f"line {line}"
    etype = e["type"]
    if etype == "extra_forbidden":
        owner = _model_at(cls, loc) if loc else cls
        text = f"{where}: unknown field {loc[-1]!r}; {_suggest(str(loc[-1]), owner)}"
    elif etype == "missing":
        text = f"{where}: required field is missing; add it"
    else:
        msg = plain_message(e)
        got = e.get("input")
        secret = any(is_secret_name(p) for p in full)  # never echo an API key or password
        shown = "" if isinstance(got, (dict, list)) or got is None or secret else f" (got {got!r})"
        # The plain message already says what to give; only a bound's direction is added.
        fix = _FIXES.get(etype) if etype not in _PLAIN or "than" in etype else None
        text = f"{where}: {msg}{shown}" + (f"; {fix}" if fix else "")
    return f"{place}: {text}" if place else text


def validate_resource(kind: str, data: dict[str, Any], *, source: str = "") -> Model:
    cls = RESOURCE_MODELS[kind]
    try:
        return cls.model_validate(data)
    except PydanticValidationError as err:
        raise ValidationError(format_pydantic_error(err, cls, source=source)) from None


def _line_map(node: yaml.Node, path: tuple[Any, ...] = (),
              seen: set[int] | None = None) -> dict[tuple[Any, ...], int]:
    """Map each key path of a composed YAML document to its 1-based line number.

    Each node is walked once: an alias (``*name``) is the node of its anchor, and walking it
    again at every use made a small file of nested aliases take minutes (a "billion laughs").
    """
    seen = set() if seen is None else seen
    out = {path: node.start_mark.line + 1}
    if id(node) in seen:
        return out
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[path + (key,)] = k.start_mark.line + 1
            for sub, line in _line_map(v, path + (key,), seen).items():
                out.setdefault(sub, line)
                if sub != path + (key,):
                    out[sub] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_line_map(v, path + (i,), seen))
    return out


def parse_config(text: str, source: str) -> HostConfig:
    """Parse and validate a host config file's text; raise one-line ValidationErrors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValidationError(f"{source}{line}: broken YAML: {problem}",
                              fix="fix the syntax (indentation, colons, quotes)") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{source}: the file must be a mapping with host, regions, "
                              "clusters, queues, images, definitions")
    lines = _line_map(node) if node is not None else {}
    allowed = ("host", *KINDS)
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else f"sections are {', '.join(allowed)}"
            raise ValidationError(f"{source}:{lines.get((key,), 1)}: unknown section {key!r}; {fix}")
    if "host" not in data or not isinstance(data["host"], dict):
        raise ValidationError(f"{source}: the host section is missing; add host: {{name: ..., kind: local}}")
    try:
        host = Host.model_validate(data["host"])
    except PydanticValidationError as err:
        raise ValidationError(format_pydantic_error(err, Host, prefix=("host",), source=source,
                                                    lines=lines)) from None
    cfg = HostConfig(host=host)
    for kind in KINDS:
        section = data.get(kind) or {}
        if not isinstance(section, dict):
            raise ValidationError(f"{source}:{lines.get((kind,), 1)}: {kind} must be a mapping "
                                  f"of name -> fields")
        cls = RESOURCE_MODELS[kind]
        for name, body in section.items():
            body = {} if body is None else body
            if not isinstance(body, dict):
                raise ValidationError(f"{source}:{lines.get((kind, name), 1)}: {kind}.{name} "
                                      "must be a mapping of fields")
            body = dict(body)
            body.setdefault("name", name)
            if body["name"] != name:
                raise ValidationError(f"{source}:{lines.get((kind, name), 1)}: {kind}.{name}: "
                                      f"name {body['name']!r} differs from its key; remove it")
            try:
                cfg.of_kind(kind)[str(name)] = cls.model_validate(body)
            except PydanticValidationError as err:
                raise ValidationError(format_pydantic_error(
                    err, cls, prefix=(kind, name), source=source, lines=lines)) from None
    problems = cfg.problems()
    if problems:
        first = problems[0]
        key = tuple(first.split(":", 1)[0].split("."))
        line = lines.get(key) or lines.get(key[:2]) or lines.get(key[:1])
        raise ValidationError(f"{source}{':' + str(line) if line else ''}: {first}")
    return cfg


def load(host: str) -> HostConfig:
    path = paths.host_config_file(host)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"no host named {host!r}",
                            fix="see hyper-tui hosts list-hosts, or create it with hosts create-host") from None
    return parse_config(text, str(path))


def save(cfg: HostConfig) -> Path:
    cfg.check(cfg.host.name)
    path = paths.host_config_file(cfg.host.name)
    paths.atomic_write_text(path, cfg.to_yaml())
    return path
