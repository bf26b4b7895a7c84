"""What the q-commands share: host resolution, error handling, the argument parser.

This is the hot path of ``qsub``: standard library only. The q-commands talk to a host through
``client_for`` (``hyper_tui.hosts.registry``) and the typed results of the host contract.
"""

from __future__ import annotations

import os
import sys

from hyper_tui.core.errors import EXIT_INTERRUPTED, EXIT_OK, HyperError, UsageError
from hyper_tui.hosts import registry
from hyper_tui.hosts.registry import client_for

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEBUG = bool(os.environ.get("HYPER_DEBUG"))


def open_host(name: str | None) -> tuple[str, str]:
    """(host name, kind) of the host to work on (``client_for(name)`` is its client)."""
    ref = registry.resolve(name)
    return ref.name, ref.kind


def run_main(prog: str, run: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run a q-command's ``run`` with one-line errors and documented exit codes."""
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except HyperError as e:
        line = e.line()
        sys.stderr.write(f"{line}\n" if line.startswith(f"{prog}: ") else f"{prog}: {line}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as e:
        if DEBUG:
            raise
        sys.stderr.write(f"{prog}: internal error: {type(e).__name__}: {e} "
                         "(set HYPER_DEBUG=1 for the traceback)\n")
        return 1


def parser(prog: str, doc: str | None, **kwargs: Any):
    """An argparse parser for a q-command: errors raise UsageError (one line, exit 2), so the
    same parser works from a shell and inside ``hyper-tui --script``."""
    import argparse

    class QParser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            hint = None
            if message.startswith("unrecognized arguments:"):  # "did you mean", as hyper-tui
                from hyper_tui.cli.parsing import suggest_flag

                hint = suggest_flag(self, message.split(":", 1)[1].split())
            raise UsageError(f"{prog}: {message}", fix=hint or f"see {prog} --help")

    return QParser(prog=prog, description=doc, formatter_class=help_formatter, allow_abbrev=False,
                   **kwargs)


def help_formatter(prog: str):
    """argparse's formatter without the ``shutil`` import it does to find the terminal width
    (a few ms on every qsub): the width comes from ``os.get_terminal_size`` directly."""
    import argparse

    try:
        width = os.get_terminal_size().columns - 2
    except OSError:
        width = 100
    return argparse.RawDescriptionHelpFormatter(prog, width=max(60, min(width, 120)))


__all__ = ["client_for", "open_host", "run_main", "parser", "help_formatter"]
