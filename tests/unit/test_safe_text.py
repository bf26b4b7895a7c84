"""Job output is data: control characters are shown, never obeyed."""

from __future__ import annotations

from hyper_tui.safe_text import escape_bytes, escape_controls, has_controls


def test_escape_sequences_become_visible():
    clear = "\x1b[2J\x1b[H"
    title = "\x1b]0;owned\x07"
    link = "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
    out = escape_controls(clear + title + link)
    assert "\x1b" not in out and "\x07" not in out
    assert out.startswith("^[[2J^[[H^[]0;owned^G^[]8;;http://evil^[\\click")


def test_c1_controls_and_del_and_bidi():
    assert escape_controls("a\x9b31mb\x9dc") == "a\\x9b31mb\\x9dc"
    assert escape_controls("x\x7fy") == "x^?y"
    assert escape_controls("abc\u202edef") == "abc\\u202edef"
    assert escape_controls("\x00\r") == "^@^M"


def test_tabs_newlines_and_text_are_kept():
    text = "col1\tcol2\nline two: é ✓ 日本\n"
    assert escape_controls(text) == text
    assert not has_controls(text)
    assert escape_controls("a\nb", keep_newlines=False) == "a^Jb"


def test_bytes_are_decoded_then_escaped():
    assert escape_bytes(b"ok \xff \x1b[31mred") == "ok \\xff ^[[31mred"
