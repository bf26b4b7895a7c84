"""argparse that raises instead of exiting, so one parser serves the CLI and ``--script``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hyper_tui.core.errors import UsageError, ValidationError


def common_options() -> argparse.ArgumentParser:
    """--host and -o, accepted after any command too (defaults suppressed so that a value given
    before the group is kept)."""
    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    p.add_argument("--host", metavar="NAME", help="work on this host instead of the selected one")
    p.add_argument("-o", "--output", choices=("table", "json"), help="output format (default: table)")
    return p


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def add_subparsers(self, **kwargs: Any):  # type: ignore[override]
        action = super().add_subparsers(**kwargs)
        original = action.add_parser

        def add_parser(name: str, **kw: Any):
            kw.setdefault("parents", [common_options()])
            return original(name, **kw)

        action.add_parser = add_parser  # type: ignore[method-assign]
        return action

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        self._argv = list(args or [])
        return super().parse_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        leaf = self._leaf(getattr(self, "_argv", []))
        if "invalid choice:" in message and message.startswith(("argument COMMAND", "argument GROUP")):
            raise _unknown_command(leaf, message)
        if message.startswith("unrecognized arguments:"):
            hint = suggest_flag(leaf, message.split(":", 1)[1].split())
            if hint:
                raise UsageError(f"{leaf.prog}: {message}", fix=hint)
        raise UsageError(f"{leaf.prog}: {message}", fix=f"see {leaf.prog} --help")

    def _leaf(self, argv: list[str]) -> argparse.ArgumentParser:
        """The most specific sub-command parser named by ``argv`` (for better messages)."""
        parser: argparse.ArgumentParser = self
        for word in argv:
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            if sub is None:
                break
            if word in sub.choices:
                parser = sub.choices[word]
        return parser

    def exit(self, status: int = 0, message: str | None = None):  # type: ignore[override]
        if status:
            raise UsageError((message or "").strip() or f"{self.prog}: usage error")
        super().exit(status, message)


def _unknown_command(parser: argparse.ArgumentParser, message: str) -> UsageError:
    """"unknown command 'lst'; did you mean 'ls'?" instead of argparse's list of every name and
    alias."""
    import difflib

    word = message.split("invalid choice:", 1)[1].split("(choose from", 1)[0].strip().strip("'")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = [a.dest for a in sub._choices_actions]
    close = difflib.get_close_matches(word, list(sub.choices), n=1, cutoff=0.6)
    fix = (f"did you mean {close[0]!r}? " if close else "") + f"commands: {', '.join(names)}"
    return UsageError(f"{parser.prog}: unknown command {word!r}", fix=fix)


def suggest_flag(parser: argparse.ArgumentParser, words: list[str]) -> str | None:
    """"did you mean --queue?" for the first of ``words`` close to one of the parser's flags."""
    import difflib

    flags = [f for a in parser._actions for f in a.option_strings]
    for word in words:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1, cutoff=0.6)
            if close:
                return f"did you mean {close[0]}? (see {parser.prog} --help)"
    return None


def json_value(flag: str, text: str, *, example: str) -> Any:
    """Parse a JSON option value, with an error that names the flag and shows an example."""
    try:
        return json.loads(text)
    except ValueError:
        raise ValidationError(f"{flag}: {text!r} is not valid JSON",
                              fix=f"write it like {example}") from None


def parse_bool(flag: str, text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "yes", "y", "1", "on"):
        return True
    if low in ("false", "no", "n", "0", "off"):
        return False
    raise ValidationError(f"{flag}: {text!r} is not a boolean", fix="use True or False")
