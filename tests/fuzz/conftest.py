"""Fuzz tests (hypothesis): bad input of every kind gets one line and a documented exit code,
never a traceback. Each module works in its own HYPER_HOME with the default local host; the
daemon is never started (``ensure_daemon`` is a no-op), so submitted jobs just wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.helpers import run_inproc


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory) -> Path:
    """A HYPER_HOME with the default local host, a few jobs, and no daemon."""
    home = tmp_path_factory.mktemp("fuzzhome")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPER_HOME", str(home))
        mp.delenv("HYPER_HOST", raising=False)
        mp.delenv("HYPER_DEBUG", raising=False)
        from hyper_tui.local import daemon_control

        mp.setattr(daemon_control, "ensure_daemon", lambda *a, **k: None)
        from hyper_tui.hosts import registry

        registry.resolve(None)
        for argv in (["--hold", "--", "true"], ["--hold", "-J", "1-3", "--", "true"],
                     ["--hold", "-N", "named", "-c", "echo hi"]):
            code, _, err = run_inproc("qsub", argv)
            assert code == 0, err
        yield home
