"""How the workers share the store and the machine: a worker waits for the write lock in short
polls (not in SQLite's busy handler, whose sleeps are milliseconds); each worker of a daemon
gets its own CPUs."""

from __future__ import annotations

import threading
import time

import pytest

from hyper_tui import containment
from hyper_tui.local.launcher import ProcessLauncher
from hyper_tui.local.store import Store


def _hold_lock(path, seconds: float, held: threading.Event) -> threading.Thread:
    """Another connection holding the write lock for ``seconds`` (in a thread)."""
    def hold() -> None:
        other = Store(path, create=False)
        other.db.execute("BEGIN IMMEDIATE")
        other.db.execute("INSERT INTO meta VALUES ('holder', 'x')")
        held.set()
        time.sleep(seconds)
        other.db.execute("COMMIT")
        other.close()

    t = threading.Thread(target=hold)
    t.start()
    return t


def test_a_polling_writer_gets_the_lock_soon_after_it_is_released(tmp_path):
    path = tmp_path / "host" / "store.db"
    Store(path).close()
    worker = Store(path, create=False, poll_lock=True)
    assert worker.db.execute("PRAGMA busy_timeout").fetchone()[0] == 0  # our polls, not SQLite's
    held = threading.Event()
    t = _hold_lock(path, 0.2, held)
    assert held.wait(10)
    t0 = time.monotonic()
    worker.write(lambda db: db.execute("INSERT INTO meta VALUES ('worker', 'y')"))
    waited = time.monotonic() - t0
    t.join()
    assert 0.15 <= waited < 5.0
    assert worker.get_meta("holder") == "x" and worker.get_meta("worker") == "y"
    worker.close()


def test_a_polling_writer_gives_up_after_its_busy_timeout(tmp_path):
    from hyper_tui.core.errors import UnavailableError

    path = tmp_path / "host" / "store.db"
    Store(path).close()
    worker = Store(path, create=False, poll_lock=True, busy_timeout=0.1, write_attempts=2)
    held = threading.Event()
    t = _hold_lock(path, 1.5, held)
    assert held.wait(10)
    with pytest.raises(UnavailableError, match="stayed busy"):
        worker.write(lambda db: db.execute("INSERT INTO meta VALUES ('worker', 'y')"))
    t.join()
    assert worker.get_meta("worker") is None  # nothing half-written
    worker.close()


@pytest.mark.parametrize("poll_lock", [True, False])
def test_a_write_with_a_wait_gives_up_after_it_whatever_the_busy_timeout(tmp_path, poll_lock):
    """``write(wait=)``: a write that can be tried later (a worker's heartbeat) waits that long
    for another process's lock, not the store's busy timeout times its attempts; the store's
    own timeout is back afterwards."""
    from hyper_tui.core.errors import UnavailableError

    path = tmp_path / "host" / "store.db"
    Store(path).close()
    s = Store(path, create=False, poll_lock=poll_lock, busy_timeout=10.0)
    held = threading.Event()
    t = _hold_lock(path, 2.0, held)
    assert held.wait(10)
    t0 = time.monotonic()
    with pytest.raises(UnavailableError, match="stayed busy"):
        s.write(lambda db: db.execute("INSERT INTO meta VALUES ('beat', 'y')"), wait=0.2)
    assert time.monotonic() - t0 < 1.0
    t.join()
    expected = 0 if poll_lock else 10000
    assert s.db.execute("PRAGMA busy_timeout").fetchone()[0] == expected
    s.write(lambda db: db.execute("INSERT INTO meta VALUES ('beat', 'y')"), wait=0.2)
    assert s.get_meta("beat") == "y"
    s.close()


def test_each_worker_of_a_daemon_gets_the_lowest_free_cpu_slot(tmp_path, monkeypatch):
    launcher = ProcessLauncher.__new__(ProcessLauncher)
    launcher.children, launcher.slots = {}, {}
    taken = []
    for pid in (101, 102, 103):
        slot = launcher._free_slot()
        launcher.children[pid], launcher.slots[pid] = f"w{pid}", slot
        taken.append(slot)
    assert taken == [0, 1, 2]
    del launcher.children[102]  # reaped
    assert launcher._free_slot() == 1
    # One-vCPU workers in slots 0 and 1 of two CPUs: never the same CPU, whatever their pids.
    monkeypatch.setattr(containment, "_allowed_cpus", lambda: {0, 1})
    cpus = []
    for slot in ("0", "1"):
        monkeypatch.setenv(containment.CPU_SLOT_ENV, slot)
        cpus.append(containment._cpus_for(1, containment._cpu_salt(1)))
    assert cpus == [[0], [1]]
