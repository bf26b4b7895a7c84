"""Retained resources of an aws host, and the ``cdk import`` mapping that takes them back.

The jobs table, the log groups and the ECR repositories have fixed names and
``RETAIN_ON_UPDATE_OR_DELETE`` (``DeletionPolicy: RetainExceptOnCreate``): a stack deleted after
a successful deploy leaves them behind, and a deploy that creates them again fails on their
names. :func:`import_plan` reads a cloud assembly (``hyper-tui synth``), finds each retained
resource with a fixed name, asks AWS whether it exists and whether its stack still manages it,
and :func:`write_mappings` writes, per stack, the ``--resource-mapping`` file of
``cdk import`` for those that exist unmanaged (``hyper-tui import-retained``). Standard
library and boto3 clients only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyper_tui.aws.session import error_code

RETAINING = ("Retain", "RetainExceptOnCreate")
# resource type -> the property that names it (the identifier cdk import asks for)
IDENTIFIERS = {"AWS::DynamoDB::Table": "TableName", "AWS::Logs::LogGroup": "LogGroupName",
               "AWS::ECR::Repository": "RepositoryName"}
MAPPING_SUFFIX = ".resource-mapping.json"


@dataclass(frozen=True)
class Retained:
    stack: str
    region: str
    logical_id: str
    kind: str
    name: str

    @property
    def identifier(self) -> dict[str, str]:
        return {IDENTIFIERS[self.kind]: self.name}


def stacks_of(assembly: Path) -> list[tuple[str, str, Path]]:
    """(stack name, region, template path) of every stack of a cloud assembly."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    out = []
    for art_id, art in sorted((manifest.get("artifacts") or {}).items()):
        if art.get("type") != "aws:cloudformation:stack":
            continue
        props = art.get("properties") or {}
        region = str(art.get("environment", "")).rsplit("/", 1)[-1]
        out.append((props.get("stackName") or art_id, region, assembly / props["templateFile"]))
    return out


def retained_in(stack: str, region: str, template: dict[str, Any]) -> list[Retained]:
    """The resources of a template kept when their stack goes (pure): a retaining
    ``DeletionPolicy``, a kind of :data:`IDENTIFIERS` and a literal name."""
    out = []
    for logical_id, res in sorted((template.get("Resources") or {}).items()):
        kind = res.get("Type")
        key = IDENTIFIERS.get(kind)
        name = (res.get("Properties") or {}).get(key) if key else None
        if key and res.get("DeletionPolicy") in RETAINING and isinstance(name, str):
            out.append(Retained(stack, region, logical_id, kind, name))
    return out


def exists(client: Any, r: Retained) -> bool:
    """Whether the resource is there (``client``: the service's, in its region)."""
    try:
        if r.kind == "AWS::DynamoDB::Table":
            client.describe_table(TableName=r.name)
        elif r.kind == "AWS::ECR::Repository":
            client.describe_repositories(repositoryNames=[r.name])
        else:
            groups = client.describe_log_groups(logGroupNamePrefix=r.name).get("logGroups") or []
            return any(g.get("logGroupName") == r.name for g in groups)
        return True
    except Exception as err:
        if error_code(err) in ("ResourceNotFoundException", "RepositoryNotFoundException"):
            return False
        raise


def managed(cfn: Any, stack: str) -> set[str]:
    """Physical ids of the resources the stack holds now (none when it does not exist or
    is deleted)."""
    try:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except Exception as err:
        if error_code(err) == "ValidationError":  # does not exist
            return set()
        raise
    if status == "DELETE_COMPLETE":
        return set()
    out: set[str] = set()
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for res in page.get("StackResourceSummaries") or []:
            if res.get("ResourceStatus") != "DELETE_COMPLETE" and res.get("PhysicalResourceId"):
                out.add(res["PhysicalResourceId"])
    return out


_SERVICE = {"AWS::DynamoDB::Table": "dynamodb", "AWS::Logs::LogGroup": "logs",
            "AWS::ECR::Repository": "ecr"}


@dataclass
class ImportPlan:
    to_import: dict[str, list[Retained]]   # stack -> retained, there, not in the stack
    in_stack: list[Retained]               # still managed by their stack: nothing to do
    missing: list[Retained]                # not there: the deploy creates them


def import_plan(assembly: Path, client_for: Callable[[str, str], Any]) -> ImportPlan:
    """What of the assembly's retained resources exists outside its stack
    (``client_for(service, region)``: a boto3 client)."""
    plan = ImportPlan({}, [], [])
    for stack, region, path in stacks_of(Path(assembly)):
        found = retained_in(stack, region, json.loads(path.read_text()))
        if not found:
            continue
        held = managed(client_for("cloudformation", region), stack)
        for r in found:
            if r.name in held:
                plan.in_stack.append(r)
            elif exists(client_for(_SERVICE[r.kind], region), r):
                plan.to_import.setdefault(stack, []).append(r)
            else:
                plan.missing.append(r)
    return plan


def write_mappings(plan: ImportPlan, out_dir: Path) -> dict[str, Path]:
    """One ``cdk import --resource-mapping`` file per stack with something to import:
    ``{logical id: {identifier: name}}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for stack, found in sorted(plan.to_import.items()):
        path = out_dir / f"{stack}{MAPPING_SUFFIX}"
        path.write_text(json.dumps({r.logical_id: r.identifier for r in found}, indent=2,
                                   sort_keys=True) + "\n")
        files[stack] = path
    return files


def import_command(assembly: Path, stack: str, mapping: Path) -> str:
    return f"cdk import --app {assembly} {stack} --resource-mapping {mapping}"


@dataclass
class ImportResult:
    assembly: Path
    plan: ImportPlan
    files: dict[str, Path]   # stack -> its resource-mapping file

    def commands(self) -> list[str]:
        return [import_command(self.assembly, s, f) for s, f in sorted(self.files.items())]


def find_retained(cfg: Any, session: Any, *, assembly: str | Path | None = None,
                  out: str | Path | None = None) -> ImportResult:
    """``hyper-tui import-retained``: the host's retained resources (of ``assembly``, or of a
    fresh offline synth) that exist outside their stacks, and the mapping files written to
    ``out`` (default: the assembly's directory)."""
    if assembly is None:
        from hyper_tui.aws.synth import synth_host

        assembly = synth_host(cfg, None)[0].parent
    assembly = Path(assembly)
    plan = import_plan(assembly, lambda service, region: session.client(service, region))
    return ImportResult(assembly, plan, write_mappings(plan, Path(out) if out else assembly))
