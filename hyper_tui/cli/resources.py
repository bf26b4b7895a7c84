"""The resource command groups: regions, clusters, queues, images, definitions.

Flags are generated from the model, so every field (and every value a wizard asks) has one.
The original's spellings are accepted as typed (``--max-vCPUs``, ``--compute-environment``,
``-rw REGION WEIGHT``, ``--timeout_minutes``); clearer ones exist beside them.
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel

from hyper_tui import config
from hyper_tui.cli import output
from hyper_tui.cli.parsing import json_value, parse_bool
from hyper_tui.core.errors import UsageError, ValidationError
from hyper_tui.model import RESOURCE_MODELS, Model

# Extra original spellings that are not simply a field's name or alias with dashes.
ORIGINAL_FLAGS: dict[tuple[str, str], list[str]] = {
    ("clusters", "instance_types"): ["--instance-list"],
    ("clusters", "max_vcpus"): ["--max-vCPUs"],
    ("clusters", "tags"): ["--compute-resources-tags"],
    ("clusters", "ami_name"): ["--main-region-image-name"],
    ("queues", "cluster"): ["--compute-environment"],
    ("queues", "weights"): ["-rw", "--region-distribution-weights"],
    ("queues", "optimise_spot_cost"): ["--automate-region-weights",
                                        "--optimise-lowest-spot-cost-region"],
    ("images", "directory"): ["--local-build-directory"],
    ("definitions", "image"): ["--cyclone-image-name"],
    ("definitions", "memory_mib"): ["--memory-limit-mib"],
    ("definitions", "gpus"): ["--gpu-count"],
    ("definitions", "timeout_minutes"): ["--timeout_minutes", "--timeout-minutes"],
    ("regions", "vpc_endpoints"): ["--deploy-vpc-endpoints"],
    ("regions", "peer_with_main"): ["--peer-with-main-region"],
    ("regions", "vpc_cidr"): ["--cidr"],
}
# Fields whose flag takes two words, repeatable: --compute-resources-tags KEY VALUE.
PAIR_FIELDS = {("clusters", "tags"), ("queues", "weights")}

COLUMNS: dict[str, list[str]] = {
    "regions": ["main", "vpc_cidr", "vpc_id", "subnet_config", "vpc_endpoints", "peer_with_main"],
    "clusters": ["type", "instance_types", "max_vcpus", "compute_envs", "allocation_strategy"],
    "queues": ["cluster", "weights", "max_running"],
    "images": ["directory"],
    "definitions": ["image", "image_uri", "vcpus", "memory_mib", "jobs_to_workers_ratio", "retries"],
}

EXAMPLES = {
    list: '\'["a", "b"]\'',
    dict: "'{\"key\": \"value\"}'",
}


def _base(ann: Any) -> Any:
    """The outer container type of a field annotation (list, dict, a model, or a scalar)."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _base(typing.get_args(ann)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return _base(args[0]) if len(args) == 1 else str
    if origin in (list, dict):
        return origin
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return BaseModel
    if ann is bool:
        return bool
    return str


def field_flags(kind: str, name: str, info: Any) -> list[str]:
    flags = [f"--{name.replace('_', '-')}"]
    if "_" in name:
        flags.append(f"--{name}")
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        for a in alias.choices:
            if isinstance(a, str) and a != name:
                flags.append(f"--{a.replace('_', '-')}")
    flags += ORIGINAL_FLAGS.get((kind, name), [])
    seen: list[str] = []
    for f in flags:
        if f not in seen:
            seen.append(f)
    return seen


def primary_flag(kind: str, name: str) -> str:
    return field_flags(kind, name, RESOURCE_MODELS[kind].model_fields[name])[0]


def add_field_options(p: argparse.ArgumentParser, kind: str, *, skip: tuple[str, ...] = ()) -> None:
    cls = RESOURCE_MODELS[kind]
    for name, info in cls.model_fields.items():
        if name in skip:
            continue
        flags = field_flags(kind, name, info)
        base = _base(info.annotation)
        default = info.get_default(call_default_factory=True) if not info.is_required() else None
        help_text = (info.description or "").replace("%", "%%")
        if not info.is_required() and default not in (None, [], {}):
            shown = getattr(default, "value", default)
            help_text += f" Default: {shown}."
        elif info.is_required():
            help_text += " Required."
        kinds = (info.json_schema_extra or {}).get("kinds")  # type: ignore[union-attr]
        if kinds:
            help_text += f" ({' and '.join(kinds)} hosts only)"
        if (kind, name) in PAIR_FIELDS:
            p.add_argument(*flags, dest=name, nargs=2, action="append",
                           metavar=("KEY", "VALUE"), help=help_text + " Repeatable.")
        elif base in (list, dict, BaseModel):
            p.add_argument(*flags, dest=name, metavar="JSON", help=help_text)
        else:
            p.add_argument(*flags, dest=name, metavar=name.upper(), help=help_text)


def collect(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The fields given on the command line, decoded (JSON, pairs), not yet validated."""
    cls = RESOURCE_MODELS[kind]
    out: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = primary_flag(kind, name)
        base = _base(info.annotation)
        if (kind, name) in PAIR_FIELDS:
            out[name] = {k: v for k, v in value}
        elif base in (list, dict, BaseModel):
            text = value.strip()
            if base is list and not text.startswith("["):
                out[name] = [] if not text else [s.strip() for s in text.split(",")]
            else:
                example = EXAMPLES.get(base, "'{\"key\": \"value\"}'")
                out[name] = json_value(flag, text, example=example)
        elif base is bool:
            out[name] = parse_bool(flag, value)
        else:
            out[name] = value
    return out


def _prompt_missing(kind: str, data: dict[str, Any], command: str) -> None:
    cls = RESOURCE_MODELS[kind]
    for name, info in cls.model_fields.items():
        if info.is_required() and name not in data:
            flag = primary_flag(kind, name)
            if not sys.stdin.isatty():
                raise UsageError(f"{command}: {flag} is required ({info.description})",
                                 fix=f"pass {flag} VALUE")
            try:
                value = input(f"{name} ({info.description}): ").strip()
            except EOFError:
                value = ""
            if not value:
                raise UsageError(f"{command}: {flag} is required", fix=f"pass {flag} VALUE")
            data[name] = value


def _with_flags(kind: str, err: ValidationError) -> ValidationError:
    """Name the flag next to the field in a validation message."""
    msg = err.message
    for name in RESOURCE_MODELS[kind].model_fields:
        token = f": {name}:"
        if token in msg:
            msg = msg.replace(token, f": {name} ({primary_flag(kind, name)}):", 1)
            break
    return ValidationError(msg, fix=err.fix)


# --------------------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction, parser_cls: type[argparse.ArgumentParser]) -> None:
    for kind in RESOURCE_MODELS:
        one = config.SINGULAR[kind]
        group = sub.add_parser(kind, help=f"manage {kind}", description=f"Manage the host's {kind}.")
        cmds = group.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_cls)
        cmds.required = True

        a = "an" if one[0] in "aeiou" else "a"  # an image, a queue
        add = cmds.add_parser(f"add-{one}", aliases=["add", "create"], help=f"add {a} {one}",
                              description=f"Add {a} {one}. Values not given take their defaults.")
        add_field_options(add, kind)
        if kind == "regions":
            _region_extras(add)
        if kind == "definitions":
            _definition_extras(add)
        add.set_defaults(func=cmd_add, kind=kind)

        upd = cmds.add_parser(f"update-{one}", aliases=["update", "set"],
                              help=f"change fields of a {one}",
                              description=f"Change fields of a {one}; fields not given stay.")
        add_field_options(upd, kind)
        if kind == "regions":
            _region_extras(upd)
        if kind == "definitions":
            _definition_extras(upd)
        upd.set_defaults(func=cmd_update, kind=kind)

        dele = cmds.add_parser(f"delete-{one}", aliases=["delete", "rm"], help=f"delete a {one}",
                               description=f"Delete a {one}; refused while something refers to it.")
        dele.add_argument("name_pos", nargs="?", metavar="NAME")
        dele.add_argument("--name", "-n")
        dele.set_defaults(func=cmd_delete, kind=kind)

        lst = cmds.add_parser(f"list-{kind}", aliases=["list", "ls"], help=f"list {kind}",
                              description=f"List {kind}.")
        lst.add_argument("--name", "-n", help="show only this one, with every field")
        lst.set_defaults(func=cmd_list, kind=kind)

        if kind == "regions":
            init = cmds.add_parser("init-main-region", help="declare the main region",
                                   description="Declare the host's main region (the host's own "
                                   "region), with its network.")
            add_field_options(init, kind, skip=("name", "main", "peer_with_main"))
            _region_extras(init)
            init.add_argument("--name", dest="name", help="defaults to the host's main region")
            init.set_defaults(func=cmd_init_main, kind=kind)
        if kind == "images":
            ini = cmds.add_parser(
                "init", help="write a worker image directory FROM the base image",
                description="Write DIR/Dockerfile (FROM the host's worker base image: the agent "
                "and /start.sh), DIR/start.d/ and DIR/README.md (how to build the base); then "
                "declare it with add-image.")
            ini.add_argument("directory", metavar="DIR")
            ini.add_argument("--name", "-n", help="the image's name (default: DIR's name)")
            ini.add_argument("--base", help="the base image (default: the host's ECR "
                             "repository, tag base-<version>)")
            ini.add_argument("--force", action="store_true", help="overwrite a Dockerfile")
            ini.set_defaults(func=cmd_init_image, kind=kind)
        if kind == "queues":
            rw = cmds.add_parser("refresh-weights", help="recompute 'auto' region weights",
                                 description="Recompute a queue's 'auto' region weights from "
                                 "EC2 spot placement scores (aws hosts).")
            rw.add_argument("--name", "-n", help="one queue (default: every auto queue)")
            rw.set_defaults(func=cmd_refresh_weights, kind=kind)


def _region_extras(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vpc", dest="vpc_any", metavar="CIDR|VPC_ID",
                   help="Original spelling: a CIDR creates a VPC, a vpc-id imports one.")
    p.add_argument("--import-vpc", dest="import_vpc", metavar="BOOL",
                   help="Original spelling: True with --vpc-id imports a VPC.")


def _definition_extras(p: argparse.ArgumentParser) -> None:
    p.add_argument("--use-cyclone-image", dest="use_cyclone_image", metavar="BOOL",
                   help="Original spelling: True uses --cyclone-image-name, False --image-uri.")


def _region_data(args: argparse.Namespace, data: dict[str, Any]) -> None:
    vpc = getattr(args, "vpc_any", None)
    if vpc:
        data["vpc_id" if vpc.startswith("vpc-") else "vpc_cidr"] = vpc
    imp = getattr(args, "import_vpc", None)
    if imp is not None and not parse_bool("--import-vpc", imp):
        data.pop("vpc_id", None)


def _definition_data(args: argparse.Namespace, data: dict[str, Any]) -> None:
    use = getattr(args, "use_cyclone_image", None)
    if use is None:
        return
    if parse_bool("--use-cyclone-image", use):
        data.pop("image_uri", None)
    else:
        data.pop("image", None)


def _gather(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    data = collect(kind, args)
    if kind == "regions":
        _region_data(args, data)
    if kind == "definitions":
        _definition_data(args, data)
    return data


def _save(ctx: Any, cfg: config.HostConfig) -> dict[str, str]:
    with ctx.client() as client:
        return client.save_config(cfg)


def _status_of(ctx: Any, kind: str) -> dict[str, tuple[str, str]]:
    with ctx.client() as client:
        return {name: st for (_, name), st in client.resource_status(kind).items()}


def _check_image_dir(data: dict[str, Any]) -> None:
    d = data.get("directory")
    if d is not None:
        path = Path(d).expanduser()
        if not path.is_dir():
            raise ValidationError(f"directory: {d!r} is not a directory",
                                  fix="give the path of a Docker build context")
        if not (path / "Dockerfile").is_file():
            raise ValidationError(f"directory: {d!r} has no Dockerfile",
                                  fix="add one based on worker/Dockerfile")
        data["directory"] = str(path.resolve())


def cmd_init_image(ctx: Any, args: argparse.Namespace) -> int:
    with ctx.client() as client:
        init = getattr(client, "init_image", None)
        if init is None:
            raise UsageError(f"images init: host {client.name!r} is a {client.kind} host; "
                             "worker images are for aws hosts",
                             fix="select an aws host (--host NAME)")
        written = init(args.directory, name=args.name, base=args.base, force=args.force)
    if ctx.json:
        output.as_json({"written": [str(p) for p in written]})
        return 0
    for path in written:
        print(f"wrote {path}")
    folder = Path(args.directory).expanduser().resolve()
    print(f"next: build the base image (see {folder / 'README.md'}), then "
          f"hyper-tui images add-image --name {args.name or folder.name} --directory {folder}")
    return 0


def cmd_add(ctx: Any, args: argparse.Namespace) -> int:
    kind = args.kind
    one = config.SINGULAR[kind]
    cfg = ctx.config()
    data = _gather(kind, args)
    _prompt_missing(kind, data, f"add-{one}")
    if kind == "images":
        _check_image_dir(data)
    if kind == "regions" and not cfg.regions:
        data.setdefault("main", True)
    try:
        res = config.validate_resource(kind, data, source=f"add-{one}")
        cfg.add(kind, res)
    except ValidationError as err:
        raise _with_flags(kind, err) from None
    changed = _save(ctx, cfg)
    return ctx.report(f"{one} {res.name}", res, changed.get(f"{kind}/{res.name}", "ACTIVE"))


def cmd_update(ctx: Any, args: argparse.Namespace) -> int:
    kind = args.kind
    one = config.SINGULAR[kind]
    cfg = ctx.config()
    data = _gather(kind, args)
    name = data.pop("name", None)
    if not name:
        raise UsageError(f"update-{one}: --name is required", fix="pass --name NAME")
    if not data:
        raise UsageError(f"update-{one}: nothing to change",
                         fix=f"pass the fields to change, see update-{one} --help")
    if kind == "images":
        _check_image_dir(data)
    try:
        res = cfg.update(kind, name, data)
    except ValidationError as err:
        raise _with_flags(kind, err) from None
    changed = _save(ctx, cfg)
    return ctx.report(f"{one} {name}", res, changed.get(f"{kind}/{name}", "unchanged"))


def cmd_delete(ctx: Any, args: argparse.Namespace) -> int:
    kind = args.kind
    one = config.SINGULAR[kind]
    name = args.name or args.name_pos
    if not name:
        raise UsageError(f"delete-{one}: give the name", fix="pass --name NAME")
    cfg = ctx.config()
    cfg.delete(kind, name)
    changed = _save(ctx, cfg)
    status = changed.get(f"{kind}/{name}", "DELETED")
    if ctx.json:
        output.as_json({"kind": one, "name": name, "status": status})
    else:
        print(f"{one} {name}: {status}")
    return 0


def cmd_list(ctx: Any, args: argparse.Namespace) -> int:
    kind = args.kind
    cfg = ctx.config()
    status = _status_of(ctx, kind)
    items = cfg.of_kind(kind)
    if args.name:
        res = cfg.get(kind, args.name)
        st, log = status.get(args.name, ("UNKNOWN", ""))
        data = {**res.model_dump(mode="json"), "status": st, "log": log}
        if ctx.json:
            output.as_json(data)
        else:
            output.key_values(data)
        return 0
    if ctx.json:
        output.as_json([{**r.model_dump(mode="json"), "status": status.get(n, ("UNKNOWN", ""))[0]}
                        for n, r in sorted(items.items())])
        return 0
    cols = COLUMNS[kind]
    rows = []
    for n, r in sorted(items.items()):
        d = r.model_dump(mode="json")
        rows.append([n, status.get(n, ("UNKNOWN", ""))[0], *[_short(d.get(c)) for c in cols]])
    # Resources removed from config but not yet deleted on AWS.
    for n, (st, _) in sorted(status.items()):
        if n not in items:
            rows.append([n, st, *[""] * len(cols)])
    if not rows:
        print(f"no {kind} yet; add one with hyper-tui {kind} add-{config.SINGULAR[kind]}")
        return 0
    output.table(rows, ["name", "status", *cols])
    return 0


def _short(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ",".join(str(x) for x in v) or "-"
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items()) or "-"
    return str(v)


def cmd_init_main(ctx: Any, args: argparse.Namespace) -> int:
    cfg = ctx.config()
    data = _gather("regions", args)
    data["name"] = data.get("name") or cfg.host.main_region
    data["main"] = True
    if data["name"] != cfg.host.main_region:
        raise ValidationError(f"init-main-region: the main region is the host's region "
                              f"{cfg.host.main_region!r}, not {data['name']!r}",
                              fix="omit --name")
    if cfg.main_region is not None:
        try:
            res = cfg.update("regions", cfg.main_region.name,
                             {k: v for k, v in data.items() if k != "name"})
        except ValidationError as err:
            raise _with_flags("regions", err) from None
    else:
        try:
            res = config.validate_resource("regions", data, source="init-main-region")
            cfg.add("regions", res)
        except ValidationError as err:
            raise _with_flags("regions", err) from None
    changed = _save(ctx, cfg)
    return ctx.report(f"region {res.name}", res, changed.get(f"regions/{res.name}", "unchanged"))


def cmd_refresh_weights(ctx: Any, args: argparse.Namespace) -> int:
    with ctx.client() as client:
        if not client.capabilities.deploy:
            raise UsageError("queues refresh-weights: 'auto' weights come from EC2 spot placement "
                             "scores and need an aws host", fix="select an aws host with --host")
        result = client.refresh_weights(args.name)
    if ctx.json:
        output.as_json(result)
    else:
        for q, weights in result.items():
            print(f"queue {q}: " + ", ".join(f"{r}={w}" for r, w in weights.items()))
    return 0


def report_resource(ctx: Any, what: str, res: Model, status: str) -> int:
    if ctx.json:
        output.as_json({**res.model_dump(mode="json"), "status": status})
    else:
        print(f"{what}: {status}")
    return 0
