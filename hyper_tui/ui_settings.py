"""Settings of the full-screen app that it remembers between runs (``<config dir>/ui.json``).

``HYPER_TUI_THEME`` overrides the remembered theme. Standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hyper_tui import paths

DEFAULT_THEME = "hyper-dark"


@dataclass
class UiSettings:
    theme: str = DEFAULT_THEME

    @staticmethod
    def path() -> Path:
        return paths.config_dir() / "ui.json"

    @classmethod
    def load(cls) -> UiSettings:
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        theme = os.environ.get("HYPER_TUI_THEME") or data.get("theme") or DEFAULT_THEME
        return cls(theme=str(theme))

    def save(self) -> None:
        paths.atomic_write_text(self.path(), json.dumps(asdict(self), indent=2) + "\n")
