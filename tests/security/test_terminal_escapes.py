"""Output is data: escape sequences in a job's output reach no terminal through qlog or the
TUI log view; ``qlog --raw`` (and a pipe) keep the bytes."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.engine.helpers import submit, wait_state

BIN = Path(sys.executable).parent
HOSTILE = r"printf '\033[2J\033]0;owned\007\033]8;;http://evil/\033\\click\033]8;;\033\\ done\n'"


def _qlog_on_a_terminal(*args: str) -> bytes:
    """qlog's output as a terminal would receive it (stdout is a pty)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([str(BIN / "qlog"), *args], stdout=follower, stderr=subprocess.PIPE,
                                env=os.environ.copy())
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the pty closes when qlog exits
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        return out
    finally:
        os.close(leader)


def test_qlog_on_a_terminal_shows_escapes_and_raw_keeps_them(home, capsys):
    jid = submit(capsys, "-c", HOSTILE)
    wait_state(jid, "SUCCEEDED")
    shown = _qlog_on_a_terminal(jid, "-t", "STDOUT")
    assert b"\x1b" not in shown and b"\x07" not in shown
    assert b"^[[2J" in shown and b"^[]0;owned^G" in shown and b"done" in shown
    raw = _qlog_on_a_terminal(jid, "-t", "STDOUT", "--raw")
    assert b"\x1b[2J" in raw and b"\x1b]0;owned\x07" in raw
    piped = subprocess.run([str(BIN / "qlog"), jid, "-t", "STDOUT"], capture_output=True, check=True)
    assert b"\x1b[2J" in piped.stdout  # a pipe or a file gets the job's bytes


def test_the_tui_log_view_shows_escapes():
    from hyper_tui.widgets.log_view import format_record

    line = format_record(0.0, "STDOUT", "\x1b[2J\x1b]0;owned\x07\u202eevil\x9b")
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line and "\x9b" not in line
    assert "^[[2J" in line and "\\u202e" in line and "\\x9b" in line
