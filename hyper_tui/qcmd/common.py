"""What the q-commands share: host resolution, the resource snapshot, error handling.

This is the hot path of ``qsub``: standard library only. The declared resources are read from
the host's store (written there by every config change); only when the YAML file changed
behind our back (edited by hand) is the full validating loader imported to re-apply it.
"""

from __future__ import annotations

import os
import sys

from hyper_tui import leanjson, paths, registry
from hyper_tui.errors import EXIT_INTERRUPTED, EXIT_OK, HyperError, NotFoundError, UsageError

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEBUG = bool(os.environ.get("HYPER_DEBUG"))


class LocalHost:
    """A local host's store plus its declared resources, as plain dicts."""

    def __init__(self, name: str) -> None:
        from hyper_tui.local.store import Store

        self.name = name
        self.store = Store(paths.store_file(name))
        stamp = self.store.get_meta("config_stamp")
        if stamp is None or stamp != paths.config_stamp(name):
            self._reapply()
        self._res: dict[str, dict[str, dict]] | None = None

    def _reapply(self) -> None:
        from hyper_tui import config
        from hyper_tui.apply import apply_config

        apply_config(config.load(self.name), self.store)

    def resources(self, kind: str) -> dict[str, dict]:
        if self._res is None:
            self._res = {}
            for k, n, spec in self.store.read("SELECT kind, name, spec FROM resources"):
                self._res.setdefault(k, {})[n] = leanjson.loads(spec)
        return self._res.get(kind, {})

    def require(self, kind: str, name: str, flag: str) -> dict:
        items = self.resources(kind)
        if name not in items:
            import difflib

            hint = difflib.get_close_matches(name, list(items), n=1)
            fix = (f"did you mean {hint[0]!r}?" if hint else
                   f"known: {', '.join(sorted(items)) or 'none'}")
            raise NotFoundError(f"{flag} {name}: no {kind[:-1]} named {name!r} on host {self.name!r}",
                                fix=fix)
        return items[name]

    def host_settings(self) -> dict:
        raw = self.store.get_meta("host")
        return (leanjson.loads(raw) if raw else {}).get("settings", {})

    def close(self) -> None:
        self.store.close()


def open_host(name: str | None) -> tuple[str, str]:
    """(host name, kind) of the host to work on."""
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


def aws_client(host: str) -> Any:
    from hyper_tui.aws.client import AwsHostClient

    return AwsHostClient.for_host(host)


def parser(prog: str, doc: str | None, **kwargs: Any):
    """An argparse parser for a q-command: errors raise UsageError (one line, exit 2), so the
    same parser works from a shell and inside ``hyper-tui --script``."""
    import argparse

    class QParser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(f"{prog}: {message}", fix=f"see {prog} --help")

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
