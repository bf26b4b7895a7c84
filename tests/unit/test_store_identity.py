"""A store's logs are keyed by its id: a store recreated by hand never shows an old store's
output; a store marked damaged accepts no submission."""

from __future__ import annotations

import os

import pytest

from hyper_tui.errors import EXIT_UNAVAILABLE, DamagedStoreError
from hyper_tui.local.store import Store, clear_damaged, log_path, mark_damaged


def test_a_recreated_store_has_its_own_logs(tmp_path):
    folder = tmp_path / "host"
    s = Store(folder / "store.db")
    old = log_path(folder, 1)
    old.parent.mkdir(parents=True)
    old.write_text("old job 1's output\n")
    s.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{folder}/store.db{suffix}"):
            os.unlink(f"{folder}/store.db{suffix}")
    s = Store(folder / "store.db")
    new = log_path(folder, 1)
    s.close()
    assert new != old and not new.exists()
    assert (folder / "store.id").read_text().strip() in str(new)


def test_a_damaged_store_refuses_new_work(tmp_path):
    folder = tmp_path / "host"
    s = Store(folder / "store.db")
    mark_damaged(str(folder), "PRAGMA quick_check: page 7 is never used")
    with pytest.raises(DamagedStoreError) as err:
        s.write_new_work(lambda db: db.execute("INSERT INTO meta VALUES ('x', 'y')"))
    assert err.value.exit_code == EXIT_UNAVAILABLE and "page 7" in str(err.value)
    assert s.get_meta("x") is None
    clear_damaged(str(folder))
    s.write_new_work(lambda db: db.execute("INSERT INTO meta VALUES ('x', 'y')"))
    assert s.get_meta("x") == "y"
    s.close()


def test_damage_is_found(tmp_path):
    folder = tmp_path / "host"
    s = Store(folder / "store.db")
    assert s.damage() is None
    os.unlink(f"{folder}/store.db-wal")
    assert "WAL" in (s.damage() or "")
    s.close()
