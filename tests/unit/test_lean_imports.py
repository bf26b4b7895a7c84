"""Heavy imports stay off the hot paths: each check runs in a fresh interpreter and reads
``sys.modules`` after the import, so a module pulled in anywhere down the chain is seen."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pydantic", "yaml", "textual", "boto3", "botocore", "aws_cdk", "rich")


def _new_modules(module: str) -> set[str]:
    """Modules that ``import module`` adds to a fresh interpreter's ``sys.modules``."""
    code = ("import sys; before = set(sys.modules); "
            f"import {module}; "
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def test_qsub_loads_no_heavy_module_and_none_of_argparse_json_re():
    new = _new_modules("hyper_tui.qcmd.qsub")
    forbidden = set(HEAVY) | {"argparse", "json", "re", "typing", "pathlib", "enum"}
    assert not {m.split(".")[0] for m in new} & forbidden, sorted(new)


@pytest.mark.parametrize("module", ["hyper_tui.core.jobs", "hyper_tui.core.lifecycle"])
def test_core_loads_nothing_outside_the_standard_library(module):
    new = _new_modules(module)
    third_party = {m.split(".")[0] for m in new} & set(HEAVY)
    assert not third_party, sorted(new)
    assert all(m.split(".")[0] != "hyper_tui" or m.startswith(("hyper_tui.core", "hyper_tui.core.errors"))
               or m == "hyper_tui" for m in new), sorted(new)


def test_the_agent_loads_no_front_end_and_no_third_party_module():
    new = _new_modules("hyper_tui.agent.loop")
    assert not {m.split(".")[0] for m in new} & set(HEAVY), sorted(new)
    assert not [m for m in new if m.startswith(("hyper_tui.qcmd", "hyper_tui.cli", "hyper_tui.screens",
                                                "hyper_tui.widgets", "hyper_tui.app", "hyper_tui.aws",
                                                "hyper_tui.local"))], sorted(new)


def test_this_check_sees_a_heavy_import():
    """The check itself works: a module that imports re is caught."""
    assert "re" in _new_modules("fnmatch")
