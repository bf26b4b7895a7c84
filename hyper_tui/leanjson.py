"""JSON on the ``qsub`` hot path without ``import json``.

``import json`` imports ``re`` (with ``enum``, ``functools`` and ``collections``): about 10 ms
of qsub's 40 ms budget. This module drives the C accelerator the json module itself runs on
(``_json``), set up exactly as ``json.loads`` and ``json.dumps(..., separators=(",", ":"))``
set it up. Anything unusual (an error, or a Python without ``_json``) goes to the json module,
so results and error messages are json's own: ``tests/unit/test_leanjson.py`` holds the two
equal on generated values.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # not CPython: the json module is all there is
    _json = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _DecoderSettings:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder`` with default arguments."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


def _default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_scan = _json.make_scanner(_DecoderSettings()) if _json is not None else None


def loads(text: str) -> Any:
    """``json.loads(text)`` for a ``str``."""
    if _scan is not None and type(text) is str and not text.startswith("\ufeff"):
        n = len(text)
        i = 0
        while i < n and text[i] in _WHITESPACE:
            i += 1
        try:
            obj, end = _scan(text, i)
        except (ValueError, StopIteration, SystemError):
            # On bad JSON the scanner raises json.decoder.JSONDecodeError, which it can only
            # find once the json module is imported; before that it fails with SystemError.
            pass  # either way, json raises the proper error below
        else:
            while end < n and text[end] in _WHITESPACE:
                end += 1
            if end == n:
                return obj
    import json

    return json.loads(text)


def dumps(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``: compact, ASCII, circular refs checked."""
    if _json is not None:
        if type(value) is str:
            return _json.encode_basestring_ascii(value)
        encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ":", ",",
                                    False, False, True)
        try:
            return "".join(encode(value, 0))
        except (TypeError, ValueError, RecursionError):
            pass  # json raises the proper error below
    import json

    return json.dumps(value, separators=(",", ":"))
