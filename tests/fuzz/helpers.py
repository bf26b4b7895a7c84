"""What the fuzz tests share: the hypothesis profile, running a command in-process, and the
check that its output is clean (a documented exit code, one line, never a traceback)."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout

from hypothesis import HealthCheck, settings

from hyper_tui.core.errors import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    EXIT_VALIDATION,
)

DOCUMENTED = {EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_VALIDATION, EXIT_NOT_FOUND, EXIT_CONFLICT,
              EXIT_UNAVAILABLE}

settings.register_profile("fuzz", deadline=None, max_examples=100, derandomize=False,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings.get_profile("fuzz")


def run_inproc(cmd: str, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """Run a q-command's ``main`` or ``hyper-tui``'s ``main`` in-process, like its console
    script: (exit code, stdout, stderr). ``--help`` (SystemExit) counts as exit 0."""
    import importlib

    if cmd == "hyper-tui":
        from hyper_tui.cli.main import main
    else:
        main = importlib.import_module(f"hyper_tui.qcmd.{cmd}").main
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as e:  # argparse --help / --version
                code = e.code if isinstance(e.code, int) else 0
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, out: str, err: str, *, lines: int | None = 1) -> None:
    """A documented exit code; on failure exactly ``lines`` line(s) on stderr (None: any
    number, each one line of its own); never a traceback or an internal error."""
    assert code in DOCUMENTED, (code, out, err)
    for text in (out, err):
        assert "Traceback" not in text, text
        assert "internal error" not in text, text
    if code != EXIT_OK:
        got = err.strip().splitlines()
        assert got, f"exit {code} without a message"
        if lines is not None:
            assert len(got) == lines, f"expected {lines} line(s) on stderr, got: {err!r}"
        assert all(line.strip() for line in got), err
