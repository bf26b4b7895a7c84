"""Where things live: the hot path's own XDG directories must be platformdirs' directories."""

from __future__ import annotations

import os
import stat

import platformdirs
import pytest

from hyper_tui import paths


@pytest.mark.parametrize("config_home,data_home", [
    (None, None), ("", ""), ("  ", "\t"), ("/x/conf", "/y/data"), ("rel/conf", "rel/data")])
def test_xdg_directories_are_platformdirs(monkeypatch, tmp_path, config_home, data_home):
    monkeypatch.delenv("HYPER_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for var, value in (("XDG_CONFIG_HOME", config_home), ("XDG_DATA_HOME", data_home)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    assert paths.config_root() == platformdirs.user_config_dir(paths.APP_NAME)
    assert paths.data_root() == platformdirs.user_data_dir(paths.APP_NAME)
    assert str(paths.store_path("h")) == paths.store_file("h") == os.path.join(
        platformdirs.user_data_dir(paths.APP_NAME), "hosts", "h", "store.db")


def test_hyper_home_relocates_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPER_HOME", str(tmp_path))
    assert paths.config_dir() == tmp_path / "config"
    assert paths.host_config_file("h") == tmp_path / "config" / "hosts" / "h" / "resources.yaml"
    assert paths.host_data_dir("h") == tmp_path / "data" / "hosts" / "h"


def test_private_dirs_and_atomic_writes(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert paths.ensure_private_dir(target) is target
    for d in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    f = target / "x.json"
    paths.atomic_write_text(str(f), "one")
    paths.atomic_write_text(f, "two")
    assert f.read_text() == "two" and stat.S_IMODE(f.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.iterdir()) == ["x.json"]  # no temporary left


def test_config_stamp_follows_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPER_HOME", str(tmp_path))
    assert paths.config_stamp("h") == ""
    f = paths.host_config_file("h")
    f.parent.mkdir(parents=True)
    f.write_text("x: 1\n")
    first = paths.config_stamp("h")
    f.write_text("x: 22\n")
    assert first and paths.config_stamp("h") != first
