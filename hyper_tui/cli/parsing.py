"""argparse that raises instead of exiting, so one parser serves the CLI and ``--script``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hyper_tui.errors import UsageError, ValidationError


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", fix=f"see {self.prog} --help")


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
