"""Secrets are shown as ``********``: values of keys named like a credential (``*_SECRET*``,
``*PASSWORD*``, ``*TOKEN*``, ``*API_KEY*``, ``*ACCESS_KEY*``, ``*PRIVATE_KEY*``,
``*CREDENTIAL*``), wherever they sit in data printed for people or scripts (``-o json``, job
details, error messages). The stored config and the job's environment keep the real values.
Standard library only (qstat imports it)."""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"secret|passw(or)?d|token|api[_-]?key|access[_-]?key|private[_-]?key|"
                         r"credential", re.IGNORECASE)
MASK = "********"


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and bool(SECRET_NAME.search(name))


def redact(data: object) -> object:
    """A copy of ``data`` (dicts, lists, scalars) with the values of secret-named keys masked."""
    if isinstance(data, dict):
        return {k: (MASK if is_secret_name(k) and v not in (None, "", {}, []) else redact(v))
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact(v) for v in data]
    return data
