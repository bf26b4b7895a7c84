"""What the wheel installs: one top-level package, ``hyper_tui``, with every subpackage listed.

The repository keeps the agent in ``worker/`` and the CDK app in ``infra/``; ``pyproject.toml``
maps them to ``hyper_tui.agent`` and ``hyper_tui.aws.infra`` (``hyper_tui/agent`` and
``hyper_tui/aws/infra`` are symlinks to them, so a checkout imports the same names).
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _source_dir(package: str, package_dir: dict[str, str]) -> Path:
    best = max((k for k in package_dir if k and (package == k or package.startswith(k + "."))),
               key=len, default="")
    rest = package[len(best):].lstrip(".")
    base = ROOT / package_dir.get(best, ".")
    return base.joinpath(*rest.split(".")) if rest else base


def test_every_package_is_listed_and_only_hyper_tui_is_top_level():
    cfg = _config()
    listed = set(cfg["packages"])
    assert {p.split(".")[0] for p in listed} == {"hyper_tui"}
    found = set()
    for top, base in (("hyper_tui", ROOT / "hyper_tui"), ("hyper_tui.agent", ROOT / "worker"),
                      ("hyper_tui.aws.infra", ROOT / "infra")):
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            if top == "hyper_tui" and (rel[:1] == ("agent",) or rel[:2] == ("aws", "infra")):
                continue  # the symlinks: listed under their own folders
            found.add(".".join((top, *rel)))
    assert found == listed, f"pyproject.toml packages differ: missing {sorted(found - listed)}, " \
                            f"extra {sorted(listed - found)}"
    for pkg in listed:
        assert (_source_dir(pkg, cfg["package-dir"]) / "__init__.py").is_file(), pkg


def test_the_checkout_links_match_the_package_dirs():
    cfg = _config()["package-dir"]
    for pkg, folder in cfg.items():
        if pkg:
            link = ROOT.joinpath(*pkg.split("."))
            assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve(), pkg


def test_no_code_imports_worker_or_infra_as_top_level_modules():
    pattern = re.compile(r"^\s*(from|import)\s+(worker|infra)\b", re.M)
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    offenders = [f for f in tracked if pattern.search((ROOT / f).read_text(encoding="utf-8"))]
    assert offenders == []
    assert os.path.isdir(ROOT / "worker") and os.path.isdir(ROOT / "infra")  # the layout stays
