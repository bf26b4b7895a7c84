"""The Lambda code asset shared by the API and the scaler, built from the installed package.

It is a copy of the ``hyper_tui`` package this synth runs from (a checkout or site-packages),
minus what a Lambda never runs: the TUI (screens, widgets, styles), the q-commands' front end,
the CDK app (constructs, stacks; of ``hyper_tui.aws.infra.components`` only the Lambda handlers,
``<component>/handler.py``, are kept), the worker image files, tests and caches. The copy is
made once per synth process, in a temporary folder.

A function that needs files of its own (the scaler's config, ``scaler_config.CONFIG_FILE``) gets
:func:`code_with`: the same copy, hard-linked (cheap), plus those files; its asset hash then
follows them.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

import hyper_tui

RUNTIME = lambda_.Runtime.PYTHON_3_14

PACKAGE = Path(hyper_tui.__file__).parent
# Paths inside the package that the asset leaves out (folders and files, relative).
LEFT_OUT = {"screens", "widgets", "app.py", "app_launch.py", "app.tcss", "ui_settings.py",
            "agent/Dockerfile", "agent/start.sh", "aws/infra/app.py", "aws/infra/plan.py",
            "aws/infra/nag.py", "aws/infra/lookups.py", "aws/infra/stacks", "aws/infra/README.md"}
COMPONENTS = Path("aws/infra/components")
HANDLER = "handler.py"


def _left_out_component(rel: Path, name: str) -> bool:
    """In infra/components keep a component package only if a Lambda handler lives in it, and
    of it only its ``__init__.py`` and ``handler.py``: constructs stay out of the asset."""
    path = PACKAGE / rel / name
    if path.is_dir():
        return not (path / HANDLER).is_file()
    return name not in ("__init__.py", HANDLER)


def _ignore(folder: str, names: list[str]) -> set[str]:
    rel = Path(folder).relative_to(PACKAGE)
    out = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".tcss"))}
    out |= {n for n in names if (rel / n).as_posix().removeprefix("./") in LEFT_OUT}
    if COMPONENTS in (rel, rel.parent):
        out |= {n for n in names if _left_out_component(rel, n)}
    return out


@cache
def _staged() -> Path:
    root = Path(tempfile.mkdtemp(prefix="hyper-lambda-code-"))
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(PACKAGE, root / "hyper_tui", ignore=_ignore, symlinks=False)
    return root


def project_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(_staged()))


@cache
def _staged_with(files: tuple[tuple[str, str], ...]) -> Path:
    digest = hashlib.sha256(repr(files).encode()).hexdigest()[:16]
    root = Path(tempfile.mkdtemp(prefix=f"hyper-lambda-code-{digest}-"))
    atexit.register(shutil.rmtree, root, True)
    shutil.copytree(_staged(), root, dirs_exist_ok=True, copy_function=os.link)
    for rel, text in files:
        (root / rel).write_text(text, encoding="utf-8")
    return root


def code_with(files: dict[str, str]) -> lambda_.Code:
    """The project code plus ``files`` (path inside the asset -> text)."""
    return lambda_.Code.from_asset(str(_staged_with(tuple(sorted(files.items())))))
