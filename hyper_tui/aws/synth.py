"""Synthesize an aws host's CloudFormation templates, offline.

``synth(cfg, out_dir, lookups=...)`` builds the CDK app of ``infra/`` from the host's
validated config and the look-ups stored beforehand (no AWS call, no Docker: image assets are
only staged), checks it with cdk-nag, and writes the cloud assembly to ``out_dir``: one
``<stack>.template.json`` per stack, plus the manifest ``cdk deploy --app out_dir`` reads.

Look-ups (``hyper_tui.aws.infra.lookups`` documents their shape) are kept in the host's store under the
meta key ``LOOKUPS_META_KEY``; availability zones from them go into the CDK context, so the
synth never asks AWS. Without them synth still works, on placeholders
(``hyper_tui.aws.infra.lookups.with_placeholders``): it warns in one line, and records them in the
assembly (``PLACEHOLDERS_FILE``) so that deploy refuses that assembly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyper_tui.aws.infra.lookups import Placeholders, with_placeholders
from hyper_tui.config import HostConfig
from hyper_tui.core.errors import ValidationError

LOOKUPS_META_KEY = "aws_lookups"
PLACEHOLDERS_FILE = "hyper-placeholders.json"  # in the cloud assembly, when synth guessed

ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
       "CDK_DISABLE_CLI_TELEMETRY": "true"}


@dataclass
class SynthResult:
    app: Any            # aws_cdk.App
    assembly: Any       # aws_cdk.cx_api.CloudAssembly
    templates: list[Path]
    seconds: float
    placeholders: Placeholders = field(default_factory=Placeholders)

    def warning(self) -> str | None:
        """The one line synth prints when it used placeholders."""
        if not self.placeholders:
            return None
        return (f"hyper-tui: warning: synthesized with placeholder "
                f"{self.placeholders.describe()}; `hyper-tui lookups` replaces them "
                "(deploy refuses placeholders)")


def stored_lookups(host: str) -> dict[str, Any]:
    """The look-ups the tool stored for ``host`` (empty when none were stored yet)."""
    from hyper_tui.local.apply import open_store

    store = open_store(host)
    try:
        text = store.get_meta(LOOKUPS_META_KEY)
    finally:
        store.close()
    return json.loads(text) if text else {}


def errors_of(assembly: Any) -> list[str]:
    """Error annotations of every stack (unsuppressed cdk-nag findings among them)."""
    out = []
    for stack in assembly.stacks:
        for message in stack.messages:
            if str(message.level).endswith("ERROR"):
                out.append(f"{stack.stack_name}{message.id}: {message.entry.data}")
    return out


def synth_app(cfg: HostConfig, out_dir: Path | str, *,
              lookups: Mapping[str, Any] | None = None,
              context: Mapping[str, Any] | None = None) -> SynthResult:
    """Build and synthesize the app; raise ValidationError when a stack has error
    annotations (e.g. a cdk-nag finding without a suppression)."""
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    from hyper_tui.aws.infra.app import build_app  # imports aws_cdk: keep it out of the CLI's start-up

    start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    filled, guessed = with_placeholders(cfg, lookups)
    marker = out / PLACEHOLDERS_FILE
    marker.unlink(missing_ok=True)
    from hyper_tui.aws.infra.bootstrap import boundary_context

    # every role of the app gets the host's permissions boundary (hyper-tui bootstrap makes it)
    app = build_app(cfg, context={**boundary_context(), **(context or {})},
                    outdir=str(out), lookups=filled)
    assembly = app.synth()
    errors = errors_of(assembly)
    if errors:
        raise ValidationError(f"synth of host {cfg.host.name!r}: {errors[0]}"
                              + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                              fix=f"see {out}/manifest.json")
    templates = [out / s.template_file for s in assembly.stacks]
    if guessed:
        marker.write_text(json.dumps(guessed.to_dict(), sort_keys=True))
    return SynthResult(app, assembly, templates, time.monotonic() - start, guessed)


def placeholders_of(assembly_dir: Path | str) -> Placeholders:
    """What the synth of this cloud assembly guessed (empty: everything was looked up)."""
    marker = Path(assembly_dir) / PLACEHOLDERS_FILE
    return Placeholders.from_dict(json.loads(marker.read_text())) if marker.exists() \
        else Placeholders()


def synth(cfg: HostConfig, out_dir: Path | str, *,
          lookups: Mapping[str, Any] | None) -> list[Path]:
    """Write every stack's CloudFormation template of ``cfg``'s host to ``out_dir``;
    return their paths (deployment order is in the assembly manifest)."""
    return synth_app(cfg, out_dir, lookups=lookups).templates


def synth_host(cfg: HostConfig, out_dir: Path | str | None = None) -> list[Path]:
    """``hyper-tui synth``: every template of the host, offline, with its stored look-ups
    (placeholders where there are none, with a warning line on stderr)."""
    import sys

    from hyper_tui import paths

    out = Path(out_dir) if out_dir else paths.host_data_dir(cfg.host.name) / "cdk.out"
    result = synth_app(cfg, out, lookups=stored_lookups(cfg.host.name))
    warning = result.warning()
    if warning:
        sys.stderr.write(warning + "\n")
    return result.templates
