"""A state folder or store another user owns or can write is refused (one line, exit 6): its
queued jobs would otherwise run as you. HYPER_HOME is made absolute once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hyper_tui import paths
from hyper_tui.errors import EXIT_UNAVAILABLE, UnsafeStateError
from hyper_tui.local.store import Store

NOBODY = 65534


def test_group_or_other_writable_folders_are_refused(home):
    store = paths.store_path("local")
    Store(store).close()
    for target in (home, home / "data", store.parent):
        os.chmod(target, 0o770)
        with pytest.raises(UnsafeStateError) as err:
            Store(store)
        assert err.value.exit_code == EXIT_UNAVAILABLE
        assert str(target) in str(err.value) and "\n" not in str(err.value)
        os.chmod(target, 0o700)
    Store(store).close()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_store_owned_by_another_user_is_refused(home):
    store = paths.store_path("local")
    Store(store).close()
    os.chown(store, NOBODY, NOBODY)
    with pytest.raises(UnsafeStateError, match="owned by uid 65534"):
        Store(store, create=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_qsub_refuses_a_foreign_hyper_home(tmp_path):
    evil = tmp_path / "evil"
    (evil / "data").mkdir(parents=True)
    os.chmod(evil, 0o755)
    os.chown(evil, NOBODY, NOBODY)
    env = {**os.environ, "HYPER_HOME": str(evil)}
    r = subprocess.run([sys.executable, "-m", "hyper_tui.qcmd.qsub", "--", "true"], env=env,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == EXIT_UNAVAILABLE, (r.stdout, r.stderr)
    assert "owned by uid 65534" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (evil / "data" / "hosts").exists() or not any((evil / "data" / "hosts").iterdir())


def test_relative_hyper_home_is_resolved_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYPER_HOME", "rel")
    assert paths.data_root() == str(tmp_path / "rel" / "data")
    assert os.environ["HYPER_HOME"] == str(tmp_path / "rel")  # children inherit it absolute
    monkeypatch.chdir("/")
    assert paths.data_root() == str(tmp_path / "rel" / "data")
