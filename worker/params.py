"""Literal substitutions (``qsub -p`` / ``-a``) into a job script, without code injection.

A value made only of safe characters is put in as it is, like the original. Any other value
is shell-quoted when the script is run by a shell, so it always stays one word of data and
can never become code (``"; rm -rf ~"`` stays a string). Standard library only.
"""

from __future__ import annotations

import re
import shlex

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.,:/=+@%^-]*$")
_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "ash")


def is_shell_script(text: str) -> bool:
    if not text.startswith("#!"):
        return True
    first = text.split("\n", 1)[0][2:].strip().split()
    if not first:
        return True
    prog = first[0].rsplit("/", 1)[-1]
    if prog == "env" and len(first) > 1:
        prog = first[1].rsplit("/", 1)[-1]
    return prog in _SHELLS


def substitute(text: str, params: dict[str, object]) -> str:
    """Replace each key of ``params`` by its value, longest keys first."""
    if not params:
        return text
    shell = is_shell_script(text)
    for key in sorted(params, key=len, reverse=True):
        value = str(params[key])
        if shell and not _SAFE_VALUE.match(value):
            value = shlex.quote(value)
        text = text.replace(str(key), value)
    return text
