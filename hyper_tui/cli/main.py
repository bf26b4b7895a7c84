"""hyper-tui (or hyper): one command grammar for the CLI, --script and the full-screen app.

    hyper-tui                         open the full-screen app on the selected host
    hyper-tui GROUP COMMAND [opts]    hosts, regions, clusters, queues, images, definitions
    hyper-tui serve                   the same app in a web browser (127.0.0.1:8000)
    hyper-tui --script FILE|-         the same commands (and qsub/qstat/qdel/qlog), one per line
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from hyper_tui import __version__
from hyper_tui.cli.parsing import Parser
from hyper_tui.core.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    HyperError,
    UsageError,
)

EPILOG = """\
exit codes: 0 ok, 1 failed, 2 usage error, 3 validation error, 4 not found,
            5 conflict (exists or in use), 6 unavailable (store, daemon or AWS), 130 interrupted
environment: HYPER_HOST selects a host, HYPER_HOME relocates all config and data.
job commands: qsub, qstat, qdel, qlog (each has --help); they work in --script files too."""

Q_COMMANDS = ("qsub", "qstat", "qdel", "qlog", "qrls")


@dataclass
class Context:
    host_name: str | None = None
    json: bool = False
    _host: Any = None
    _config: Any = field(default=None, repr=False)

    @property
    def host(self):
        if self._host is None:
            from hyper_tui.hosts import registry

            self._host = registry.resolve(self.host_name)
        return self._host

    def config(self):
        from hyper_tui import config

        return config.load(self.host.name)

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        """The host's client (``hosts.contract.HostClient``), closed after the block."""
        from hyper_tui.hosts.registry import client_for

        c = client_for(self.host.name)
        try:
            yield c
        finally:
            c.close()

    def report(self, what: str, res: Any, status: str) -> int:
        from hyper_tui.cli.resources import report_resource

        return report_resource(self, what, res, status)


def build_parser() -> Parser:
    p = Parser(prog="hyper-tui", description=__doc__, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"hyper-tui {__version__}")
    _common(p)
    p.add_argument("--script", metavar="FILE",
                   help="run the commands in FILE (- for stdin), one per line")
    p.add_argument("--continue-on-error", action="store_true",
                   help="with --script: report errors and go on")
    p.add_argument("--theme", help="TUI theme (see themes/); remembered")
    sub = p.add_subparsers(dest="group", metavar="GROUP", parser_class=Parser)

    from hyper_tui import serve
    from hyper_tui.cli import engine_cmd, hosts_cmd, resources

    hosts_cmd.register(sub, Parser)
    resources.register(sub, Parser)
    engine_cmd.register(sub, Parser)
    serve.register(sub, Parser)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", metavar="NAME", help="work on this host instead of the selected one")
    p.add_argument("-o", "--output", choices=("table", "json"), default=None,
                   help="output format (default: table)")


def run_command(argv: list[str], *, defaults: Context | None = None) -> int:
    """Run one command line (without the program name); raise HyperError on failure."""
    if argv and argv[0] in ("hyper", "hyper-tui"):
        argv = argv[1:]
    if argv and argv[0] in Q_COMMANDS:
        return run_q_command(argv[0], argv[1:], defaults)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.script:
        raise UsageError("--script cannot be nested inside a script")
    if not args.group:
        raise UsageError("no command given", fix="see hyper-tui --help")
    if not hasattr(args, "func"):
        raise UsageError(f"hyper-tui {args.group}: give a command", fix=f"see hyper-tui {args.group} --help")
    host = getattr(args, "host", None) or (defaults.host_name if defaults else None)
    fmt = getattr(args, "output", None) or ("json" if defaults and defaults.json else "table")
    ctx = Context(host_name=host, json=fmt == "json")
    return args.func(ctx, args) or 0


def run_q_command(name: str, argv: list[str], defaults: Context | None) -> int:
    import importlib

    mod = importlib.import_module(f"hyper_tui.qcmd.{name}")
    if defaults and defaults.host_name and "--host" not in argv:
        argv = ["--host", defaults.host_name, *argv]
    try:
        return mod.run(argv)
    except HyperError as e:
        if not e.message.startswith(name):
            e.message = f"{name}: {e.message}"
        raise


def run_script(path: str, *, continue_on_error: bool, defaults: Context,
               err: TextIO | None = None) -> int:
    err = err or sys.stderr
    if path == "-":
        lines = sys.stdin.read().splitlines()
        label = "<stdin>"
    else:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as e:
            raise UsageError(f"--script: cannot read {path!r} ({e.strerror})",
                             fix="check the path") from None
        except UnicodeDecodeError as e:
            raise UsageError(f"--script: {path!r} is not UTF-8 text (byte {e.start})",
                             fix="save the script as UTF-8") from None
        label = path
    worst = EXIT_OK
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            error = UsageError(f"cannot split the line ({e})", fix="check the quotes")
            err.write(f"{label}:{number}: {error.line()}\n")
            worst = worst or error.exit_code
            if not continue_on_error:
                return error.exit_code
            continue
        if not words:
            continue
        try:
            code = run_command(words, defaults=defaults)
        except HyperError as e:
            err.write(f"{label}:{number}: {e.line()}\n")
            code = e.exit_code
        except SystemExit as e:  # --help inside a script
            code = e.code if isinstance(e.code, int) else EXIT_OK
        if code:
            if not isinstance(code, int):
                code = EXIT_FAILED
            worst = worst or code
            if not continue_on_error:
                if code and not err.closed:
                    err.flush()
                return code
    return worst


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        top = _top_level(argv)
        if top.script:
            defaults = Context(host_name=top.host, json=top.output == "json")
            return run_script(top.script, continue_on_error=top.continue_on_error, defaults=defaults)
        if not top.rest:
            from hyper_tui.app_launch import launch_tui

            return launch_tui(host=top.host, theme=top.theme)
        return run_command(argv)
    except HyperError as e:
        line = e.line()
        sys.stderr.write(line + "\n" if line.startswith("hyper-tui") else f"hyper-tui: {line}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("hyper-tui: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug: one line, the traceback only on request
        if os.environ.get("HYPER_DEBUG"):
            raise
        sys.stderr.write(f"hyper-tui: internal error: {type(e).__name__}: {e} "
                         "(set HYPER_DEBUG=1 for the traceback)\n")
        return EXIT_FAILED


@dataclass
class _Top:
    script: str | None
    continue_on_error: bool
    host: str | None
    output: str | None
    theme: str | None
    rest: list[str]


def _top_level(argv: list[str]) -> _Top:
    """Pick the options that make sense before a group (script mode, TUI) without parsing the
    whole grammar."""
    script = host = output = theme = None
    cont = False
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--script", "--host", "-o", "--output", "--theme") and i + 1 >= len(argv):
            raise UsageError(f"{a} needs a value")
        if a == "--script":
            script = argv[i + 1]; i += 2; continue
        if a.startswith("--script="):
            script = a.split("=", 1)[1]; i += 1; continue
        if a == "--continue-on-error":
            cont = True; i += 1; continue
        if a == "--host" and not rest:
            host = argv[i + 1]; i += 2; continue
        if a in ("-o", "--output") and not rest:
            output = argv[i + 1]; i += 2; continue
        if a == "--theme" and not rest:
            theme = argv[i + 1]; i += 2; continue
        rest.append(a)
        i += 1
    if script is None and cont:
        raise UsageError("--continue-on-error only goes with --script FILE")
    if output not in (None, "table", "json"):
        raise UsageError(f"-o {output}: unknown output format", fix="use -o table or -o json")
    return _Top(script, cont, host, output, theme, rest)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
