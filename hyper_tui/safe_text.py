"""Output is data: job output shown on a terminal with its control characters made visible.

A job's output may hold escape sequences (clear the screen, set the window title, draw a fake
hyperlink, move the cursor over earlier lines). ``qlog`` on a terminal and the TUI log view pass
every line through ``escape_controls``, so the bytes are shown, never obeyed; ``qlog --raw`` and
output files keep them as they are. Standard library only.

* C0 controls (U+0000 to U+001F) and DEL become caret notation: ESC is ``^[``, BEL ``^G``,
  NUL ``^@``, CR ``^M``, DEL ``^?``; tab stays a tab (and, unless ``keep_newlines`` is off,
  a line feed stays a line feed);
* C1 controls (U+0080 to U+009F, among them the 8-bit CSI U+009B and OSC U+009D) become
  ``\\x9b``;
* the Unicode line and paragraph separators and the bidirectional overrides and isolates,
  which reorder what is shown (the "Trojan source" trick), become ``\\u202e``.
"""

from __future__ import annotations

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = "^" + chr(code + 0x40)
    table[0x7F] = "^?"
    for code in range(0x80, 0xA0):
        table[code] = f"\\x{code:02x}"
    for ch in "\u2028\u2029" + _BIDI:
        table[ord(ch)] = f"\\u{ord(ch):04x}"
    del table[0x09]  # tab
    if keep_newlines:
        del table[0x0A]
    return table


_TABLE = _table(keep_newlines=True)
_TABLE_ONE_LINE = _table(keep_newlines=False)


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every control character shown visibly (see the module's doc); printable
    text, tabs (and line feeds, with ``keep_newlines``) are unchanged."""
    return text.translate(_TABLE if keep_newlines else _TABLE_ONE_LINE)


def escape_bytes(data: bytes, *, keep_newlines: bool = True) -> str:
    """Raw output bytes, decoded as UTF-8 (invalid bytes as ``\\xNN``), then escaped."""
    return escape_controls(data.decode("utf-8", errors="backslashreplace"),
                           keep_newlines=keep_newlines)


def has_controls(text: str) -> bool:
    """True if ``escape_controls`` would change ``text``."""
    return text != escape_controls(text)
