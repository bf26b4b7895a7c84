"""Open the full-screen app (imported only when ``hyper-tui`` runs with no command)."""

from __future__ import annotations


def launch_tui(host: str | None = None, theme: str | None = None) -> int:
    import sys

    if not sys.stdout.isatty():
        from hyper_tui.core.errors import UsageError

        raise UsageError("the full-screen app needs a terminal",
                         fix="run a command instead, e.g. hyper-tui hosts list-hosts, or --script FILE")
    from hyper_tui.app import run_app

    return run_app(host=host, theme=theme)
