"""The local host's store: SQLite in WAL mode, the queue and the record of everything.

Standard library only (``qsub``, the daemon and the workers all import it). Every write is one
short ``BEGIN IMMEDIATE`` transaction, retried with backoff when another process holds the
lock, so "database is locked" never reaches a user. Claims are one
``UPDATE ... RETURNING``: two workers can never run the same attempt.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time

from hyper_tui import leanjson, paths
from hyper_tui.core.errors import DamagedStoreError, UnavailableError

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path
    from typing import Any, TypeVar

    T = TypeVar("T")

SCHEMA_VERSION = 7  # 2: jobs.lease_until (a QUEUED job reserved by ``worker`` until then)
# 3: index jobs_array_idx (an array task by its index: qdel/qstat of ID[i] in O(log n))
# 4: jobs.user (who submitted it), NULL for the store's owner (meta 'owner': a store is private
#    to the user who runs it), so the common case costs a row nothing; an older store's jobs
#    are its owner's, and no row is rewritten
# 5: arrays.cancelled/cancel_reason/swept/swept_upto: a whole array cancelled at once, its
#    waiting tasks' rows turned CANCELLED afterwards by the daemon (jobs.sweep_cancelled)
# 6: no index jobs_worker: a worker's running jobs are found through jobs_claim (state
#    first; running jobs are few), and each start and end of a job writes one index less
# 7: the indexes that hold a job's state end in ``id DESC``, and attempts is WITHOUT ROWID.
#    A stream of jobs leaves QUEUED at its lowest id and enters RUNNING and SUCCEEDED with
#    its highest: in id-descending order all three places are the edges of neighbouring
#    ranges, most often one index page, where ascending order puts them pages apart (the
#    claim reads its index backwards to keep priority first, then the lowest id). A job's
#    transaction writes 8.8 pages to the WAL instead of 11 (tests/engine/test_store_pages.py).

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL,
    status TEXT NOT NULL, log TEXT NOT NULL DEFAULT '', updated REAL NOT NULL,
    PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS specs (
    id INTEGER PRIMARY KEY, command TEXT, argv TEXT, env TEXT, cwd TEXT);
CREATE TABLE IF NOT EXISTS arrays (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, max_running INTEGER,
    cancelled REAL, cancel_reason TEXT, swept INTEGER NOT NULL DEFAULT 0, swept_upto INTEGER);
CREATE INDEX IF NOT EXISTS arrays_unswept ON arrays (id) WHERE cancelled IS NOT NULL AND swept = 0;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    array_id INTEGER, idx INTEGER,
    name TEXT NOT NULL, queue TEXT NOT NULL, definition TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    spec_id INTEGER NOT NULL, params TEXT,
    retries INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    timeout REAL, submitted REAL NOT NULL, started REAL, ended REAL,
    exit_code INTEGER, worker TEXT, pgid INTEGER, held INTEGER NOT NULL DEFAULT 0,
    lease_until REAL, user TEXT);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, queue, definition, priority, id DESC);
CREATE INDEX IF NOT EXISTS jobs_queue_state ON jobs (queue, state, id DESC);
CREATE INDEX IF NOT EXISTS jobs_name ON jobs (name);
CREATE INDEX IF NOT EXISTS jobs_array ON jobs (array_id, state, id DESC) WHERE array_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_array_idx ON jobs (array_id, idx) WHERE array_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_reserved ON jobs (worker) WHERE state = 'QUEUED' AND worker IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_ended ON jobs (ended) WHERE ended IS NOT NULL;
CREATE TABLE IF NOT EXISTS deps (
    job_id INTEGER NOT NULL, dep_id INTEGER NOT NULL, kind TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deps_job ON deps (job_id);
CREATE TABLE IF NOT EXISTS attempts (
    job_id INTEGER NOT NULL, attempt INTEGER NOT NULL, worker TEXT, started REAL,
    ended REAL, exit_code INTEGER, outcome TEXT, PRIMARY KEY (job_id, attempt)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, ts REAL NOT NULL,
    type TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, pid INTEGER, region TEXT, queue TEXT, definition TEXT,
    vcpus INTEGER, started REAL, heartbeat REAL, state TEXT, jobs_done INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS metrics (
    ts REAL NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_name_ts ON metrics (name, ts);
"""


def _rebuild_changed(db: sqlite3.Connection) -> None:
    """Drop what an older store has under a name ``SCHEMA`` now defines otherwise (an index
    with other columns; attempts with a rowid); the ``SCHEMA`` statements then create it."""
    want: dict[str, str] = {}
    for stmt in SCHEMA.split(";"):
        words = stmt.split()
        if len(words) > 5 and words[0] == "CREATE" and words[1] in ("TABLE", "INDEX"):
            want[words[5]] = " ".join(stmt.split()).replace(" IF NOT EXISTS", "")
    for kind, name, sql in db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS "
                                      "NOT NULL AND type IN ('table', 'index')").fetchall():
        if name not in want or " ".join(sql.split()) == want[name]:
            continue
        if kind == "index":
            db.execute(f"DROP INDEX {name}")
        elif name == "attempts":  # its rows are kept: copied into the new table
            db.execute("ALTER TABLE attempts RENAME TO attempts_before_7")
            db.execute(want[name])
            db.execute("INSERT OR REPLACE INTO attempts SELECT job_id, attempt, worker, started, "
                       "ended, exit_code, outcome FROM attempts_before_7")
            db.execute("DROP TABLE attempts_before_7")


# A worker's connection copies the WAL into the database once it holds this many pages (64 MB
# of 4 KiB pages; SQLite's default is 1,000). A stream of jobs rewrites the same few pages: a
# copy writes each once for thousands of commits, and its two fsyncs come 4 times less often
# than at 4,000 (1.5% more jobs a second on the 2-core machine, measured in pairs of runs).
WORKER_AUTOCHECKPOINT_PAGES = 16000
LOCK_POLL_S = 0.0001   # ``poll_lock``: the pause between two tries of the write lock at first
LOCK_POLL_TRIES = 30   # then doubling pauses
LOCK_SPIN_TRIES = 40   # before those: tries as soon as the CPU is free (about 5 us each)


def _busy(err: sqlite3.Error) -> bool:
    """True if ``err`` means another connection holds the lock (try again), nothing worse."""
    text = str(err)
    return "locked" in text or "busy" in text


_DISK_FULL = ("disk is full", "database or disk is full", "disk I/O error")
_READONLY = ("readonly database", "read-only")


def unwritable(err: BaseException) -> bool:
    """True when nobody can write the store just now (its disk is full or read-only), as
    opposed to one process holding the lock."""
    return bool(getattr(err, "unwritable", False))


def _jitter() -> float:
    """1.0 to 2.0: spreads the retries of processes that collided on the lock."""
    import random  # only on contention: qsub must start fast

    return 1 + random.random()


def _read_only(path: str) -> UnavailableError | None:
    """The error for a store whose directory cannot be written (read-only filesystem, or no
    write permission), or None if it can."""
    d = os.path.dirname(path)
    try:
        if os.statvfs(d).f_flag & os.ST_RDONLY:
            e = UnavailableError(f"{d} is on a read-only filesystem; nothing was changed",
                                 fix="remount it read-write (mount -o remount,rw) and run the "
                                     "command again")
            e.unwritable = True  # type: ignore[attr-defined]
            return e
    except OSError:
        return None
    if not os.access(d, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        e = UnavailableError(f"{d} is read-only; nothing was changed",
                             fix="make it writable (chmod u+w) and run the command again")
        e.unwritable = True  # type: ignore[attr-defined]
        return e
    return None


def _friendly(err: sqlite3.Error, path: str) -> UnavailableError:
    text = str(err)
    folder = os.path.dirname(path)
    if any(s in text for s in _READONLY + ("unable to open", "disk I/O error")):
        ro = _read_only(path)
        if ro is not None:
            return ro
    if any(s in text for s in _DISK_FULL):
        e = UnavailableError(f"the disk holding {folder} is full; nothing was changed",
                             fix="free some space and run the command again")
        e.unwritable = True  # type: ignore[attr-defined]
        return e
    if any(s in text for s in _READONLY):
        e = UnavailableError(f"{folder} is read-only; nothing was changed",
                             fix="make it writable (chmod u+w) and run the command again")
        e.unwritable = True  # type: ignore[attr-defined]
        return e
    if "unable to open" in text:
        return UnavailableError(f"cannot open the store {path}",
                                fix="check the directory exists and is writable")
    return UnavailableError(f"store {path}: {text}")


class Store:
    """One connection to a local host's store. Not shared between threads."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, busy_timeout: float = 10.0,
                 write_attempts: int = 60, poll_lock: bool = False) -> None:
        """``busy_timeout`` (seconds SQLite waits for a lock) and ``write_attempts`` bound how
        long a write may wait for another process's transaction; the daemon keeps them short
        so that a worker hung inside a transaction cannot stall its loop past the lease.

        ``poll_lock``: wait for the write lock here, polling it every ``LOCK_POLL_S`` at first,
        instead of in SQLite's busy handler, whose first sleep is 1 ms and next ones 2, 5 and
        10 ms: far longer than the transactions of a worker (a fraction of a millisecond), so
        two workers that collide would leave a CPU idle for milliseconds. For the workers;
        reads then retry in ``read`` (they meet a lock only while a WAL is recovered)."""
        self.file = os.fspath(path)
        self.write_attempts = write_attempts
        self.busy_timeout = busy_timeout
        self.poll_lock = poll_lock
        folder = os.path.dirname(self.file)
        # Another user's store (or one they can write) would run their jobs as you.
        paths.check_private(folder, self.file, roots=create)
        if create:
            try:
                paths.ensure_private_dir(os.path.dirname(self.file))
                # Created 0600 before SQLite opens it: its -wal and -shm take its mode.
                os.close(os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600))
            except OSError:
                pass  # a read-only or full disk: SQLite's own error says which
        elif not os.path.exists(self.file):
            raise UnavailableError(f"no store at {self.file}")
        # A WAL deleted under open connections: opening now would let SQLite start a new WAL
        # and reset the shared index, and every commit still only in the deleted file (that the
        # daemon can yet save, see ``save_orphaned_wal``) would be lost to all.
        wal_before = _wal_orphaned(self.file)
        self.wal = False  # until the journal mode is known (the migration below writes)
        self._wal_fd: tuple[int, int, int] | None = None  # (fd, st_dev, st_ino) of our -wal
        self._wal_path = self.file + "-wal"
        self._wal_scan_after = 0.0
        try:
            self.db = sqlite3.connect(self.file, timeout=busy_timeout, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=OFF")
            if create:
                self._migrate()
                for p in (self.file, self.file + "-wal", self.file + "-shm"):
                    try:
                        os.chmod(p, 0o600)
                    except OSError:
                        pass
            if poll_lock:  # opened (and migrated) with SQLite's handler; from now on, ours
                self.db.execute("PRAGMA busy_timeout=0")
                # A checkpoint (the WAL copied into the database, two fsyncs) is milliseconds
                # in the middle of a stream of jobs, and once the WAL is past the threshold
                # SQLite tries again after every commit while a reader holds it: a worker
                # checkpoints 16 times less often than SQLite's default, each copy then
                # writes a hot page once for thousands of commits. (A daemon that checkpoints
                # instead was tried: on a full disk its copies let the WAL restart, and the
                # kept results and the jobs after them stalled; tests/reliability/test_disk_full.)
                self.db.execute(f"PRAGMA wal_autocheckpoint={WORKER_AUTOCHECKPOINT_PAGES}")
        except sqlite3.Error as err:
            refuse_if_damaged(folder)  # the daemon said why: that, not SQLite's guess
            raise _friendly(err, self.file) from None
        self.wal = mode.lower() == "wal"
        if self.wal:
            fd = self._wal_handle()
            if (fd is not None and wal_before[0] is not None and os.fstat(fd).st_ino != wal_before[0]
                    and wal_before[1] is not None and _ino(self.file + "-shm") == wal_before[1]):
                # Deleted between the check above and SQLite's open, which made a new one under
                # the same index (a last connection closing deletes its index first).
                self.close()
                self._refuse_lost_wal(f"its WAL file {self.file}-wal was replaced while the store "
                                      "was opened")

    # ---- integrity ---------------------------------------------------------------------

    def damage(self) -> str | None:
        """What is wrong with the store, or None: ``PRAGMA quick_check`` fails, or its WAL file
        disappeared under this connection (the commits in it are then lost to every other
        process). Meant for the daemon: at start and periodically."""
        lost = self.wal_lost()
        if lost:
            return lost
        try:
            rows = self.db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as err:
            if _busy(err):
                return None
            return f"PRAGMA quick_check failed: {err}"
        if rows and rows[0][0] != "ok":
            return f"PRAGMA quick_check: {rows[0][0]}" + (f" (and {len(rows) - 1} more)"
                                                         if len(rows) > 1 else "")
        return None

    def _wal_handle(self) -> int | None:
        """The descriptor SQLite writes this connection's WAL through (found once in
        /proc/self/fd, checked by inode after), or None where it cannot be found."""
        found = self._wal_stat()
        return None if found is None else found[0]

    def _wal_stat(self) -> tuple[int, os.stat_result] | None:
        """``_wal_handle`` and its ``fstat`` (one system call where the descriptor is known)."""
        if self._wal_fd is not None:
            fd, dev, ino = self._wal_fd
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == (dev, ino):
                    return fd, st
            except OSError:
                pass
            self._wal_fd = None
        if time.monotonic() < self._wal_scan_after:
            return None  # not found a moment ago: a scan per write would cost too much
        self._wal_scan_after = time.monotonic() + 1.0
        want = os.path.realpath(self.file) + "-wal"
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:
            return None
        for name in fds:
            try:
                target = os.readlink(f"/proc/self/fd/{name}")
            except OSError:
                continue
            if target == want or target == want + " (deleted)":
                fd = int(name)
                try:
                    st = os.fstat(fd)
                except OSError:
                    continue
                self._wal_fd = (fd, st.st_dev, st.st_ino)
                return fd, st
        return None

    def wal_lost(self) -> str | None:
        """Why this connection's WAL is no longer the store's (deleted or replaced under it:
        what is committed now would be lost), or None. Two system calls."""
        if not self.wal:
            return None
        found = self._wal_stat()
        if found is None:
            return None
        st = found[1]
        try:
            on_disk = os.stat(self._wal_path)
        except FileNotFoundError:
            on_disk = None
        except OSError:
            return None
        if st.st_nlink == 0 or on_disk is None:
            return f"its WAL file {self.file}-wal was deleted while the store was open"
        if (on_disk.st_dev, on_disk.st_ino) != (st.st_dev, st.st_ino):
            return f"its WAL file {self.file}-wal was replaced while the store was open"
        return None

    def _refuse_lost_wal(self, why: str, *, committed: bool = False) -> None:
        """Mark the store damaged (qsub refuses, the daemon saves what it can and stops) and
        raise DamagedStoreError."""
        folder = os.path.dirname(self.file)
        _mark_first(folder, why)
        raise DamagedStoreError(
            f"the store in {folder} is damaged ({why}); "
            + ("this submission may not have been kept: it is not acknowledged" if committed
               else "nothing was accepted"),
            fix="stop the host (hyper-tui hosts stop-host: its daemon saves the deleted WAL's "
                "commits), then start it again" + ("; check qstat before submitting again"
                                                   if committed else ""))

    def save_orphaned_wal(self) -> bool:
        """After this connection's WAL was deleted under it: copy every commit it holds into
        the database file (a checkpoint through this connection, which still has the deleted
        file open), if the shared index still describes that file (no other process has reset
        it). True if everything was saved."""
        fd = self._wal_handle()
        if fd is None:
            return False
        try:
            with open(self.file + "-shm", "rb") as fh:
                shm = fh.read(48)
            head = os.pread(fd, 32, 0)
            size = os.fstat(fd).st_size
        except OSError:
            return False
        if len(shm) < 48 or len(head) < 32:
            return False
        max_frame = int.from_bytes(shm[16:20], sys.byteorder)
        page = int.from_bytes(shm[14:16], sys.byteorder)
        page = 65536 if page == 1 else page
        if max_frame == 0:
            return True  # nothing in it that the database file lacks
        if shm[32:40] != head[16:24] or size < 32 + max_frame * (page + 24):
            return False  # the index is another file's now: a checkpoint would copy garbage
        for _ in range(20):
            try:
                busy, log, done = self.db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            except sqlite3.Error:
                busy, log, done = 1, 1, 0
            if not busy and done == log:
                return True
            time.sleep(0.05)
        return False

    @property
    def path(self) -> Path:
        """The store's file as a ``Path`` (``file`` is the same as a string)."""
        from pathlib import Path

        return Path(self.file)

    def _migrate(self) -> None:
        have = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if have:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row and int(row[0]) == SCHEMA_VERSION:
                self._sync_store_id()
                return
        def create(db: sqlite3.Connection) -> None:
            cols = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            if cols and "lease_until" not in cols:  # a version 1 store
                db.execute("ALTER TABLE jobs ADD COLUMN lease_until REAL")
            if cols and "user" not in cols:  # a store before version 4
                db.execute("ALTER TABLE jobs ADD COLUMN user TEXT")
            acols = {r[1] for r in db.execute("PRAGMA table_info(arrays)")}
            if acols and "cancelled" not in acols:  # before version 5
                for col in ("cancelled REAL", "cancel_reason TEXT",
                            "swept INTEGER NOT NULL DEFAULT 0", "swept_upto INTEGER"):
                    db.execute(f"ALTER TABLE arrays ADD COLUMN {col}")
            db.execute("DROP INDEX IF EXISTS jobs_worker")
            _rebuild_changed(db)  # before version 7: the state indexes and attempts, as now
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            from hyper_tui.core.submit import submitting_user

            db.execute("INSERT OR IGNORE INTO meta VALUES ('owner', ?)", (submitting_user(),))
            if not have:  # a new store: its logs live apart from any store before it
                import uuid

                db.execute("INSERT OR REPLACE INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))
        self.write(create)
        self._sync_store_id()

    def _sync_store_id(self) -> None:
        """Keep ``store.id`` beside the store equal to its ``store_id`` (``log_path`` reads it
        without opening the database)."""
        sid = self.get_meta("store_id") or ""
        if _read_store_id(os.path.dirname(self.file)) != sid:
            paths.atomic_write_text(os.path.join(os.path.dirname(self.file), STORE_ID_FILE),
                                    sid + "\n")
            _STORE_IDS.pop(os.path.dirname(self.file), None)

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass

    # ---- transactions ------------------------------------------------------------------

    def write(self, fn: Callable[[sqlite3.Connection], T], *, attempts: int | None = None,
              wait: float | None = None) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction, retrying while the database is
        busy (bounded, with jittered backoff). Disk full and read-only turn into one-line
        errors; the transaction is rolled back, so nothing is half-written.

        ``wait``: give up (``UnavailableError``) once another process has held the write lock
        this many seconds, for a write that can be tried again later (a worker's heartbeat or
        log flush, whose loop must go on enforcing its job's timeout and draining its output
        meanwhile)."""
        attempts = 1 if wait is not None else (attempts or self.write_attempts)
        delay = 0.002
        for attempt in range(attempts):
            try:
                if self.poll_lock:
                    self._begin_polling(self.busy_timeout if wait is None else wait)
                elif wait is not None:  # SQLite's busy handler, for this one wait
                    self.db.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
                    try:
                        self.db.execute("BEGIN IMMEDIATE")
                    finally:
                        self.db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
                else:
                    self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                if _busy(err):
                    if attempt == attempts - 1:
                        break
                    time.sleep(delay * _jitter())
                    delay = min(delay * 2, 0.25)
                    continue
                raise _friendly(err, self.file) from None
            lost = self.wal_lost() if self.wal else None
            if lost:  # a commit now would go to a file no longer on disk
                self._rollback()
                self._refuse_lost_wal(lost)
            try:
                result = fn(self.db)
                self.db.execute("COMMIT")
                return result
            except sqlite3.OperationalError as err:
                self._rollback()
                if _busy(err) and attempt < attempts - 1:
                    time.sleep(delay * _jitter())
                    delay = min(delay * 2, 0.25)
                    continue
                raise _friendly(err, self.file) from None
            except sqlite3.Error as err:
                self._rollback()
                raise _friendly(err, self.file) from None
            except BaseException:
                self._rollback()
                raise
        raise UnavailableError(f"the store {self.file} stayed busy; nothing was changed",
                               fix="try again; if it persists, stop the daemon (hosts stop-host)")

    def _begin_polling(self, timeout: float) -> None:
        """``BEGIN IMMEDIATE``, trying again while another connection holds the write lock:
        ``LOCK_SPIN_TRIES`` tries as soon as the CPU is free (2% more jobs a second with two
        workers, measured in pairs of runs), then every ``LOCK_POLL_S`` for ``LOCK_POLL_TRIES``
        tries (a worker's transaction is shorter than that), then with a doubling pause of at
        most 25 ms (as SQLite's busy handler), for up to ``timeout`` seconds. A try costs a
        few system calls."""
        tries = 0
        end = 0.0
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                if not _busy(err):
                    raise
                now = time.monotonic()
                if not tries:
                    end = now + timeout
                elif now >= end:
                    raise
                tries += 1
                if tries <= LOCK_SPIN_TRIES:
                    # Another worker's transaction is a fraction of a millisecond: try again
                    # as soon as the CPU is free (a sleep would wake up well after its commit,
                    # and this worker's job slot idles meanwhile).
                    os.sched_yield()
                    continue
                over = tries - LOCK_SPIN_TRIES - LOCK_POLL_TRIES
                time.sleep(LOCK_POLL_S if over <= 0 else min(0.025, LOCK_POLL_S * (1 << min(over, 8))))

    def write_new_work(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``write`` for new work (a submission): refused (``DamagedStoreError``, exit 6) while
        the store is marked damaged, and checked again after the commit, so that nothing is
        acknowledged into a store the daemon has found broken."""
        folder = os.path.dirname(self.file)
        refuse_if_damaged(folder)
        try:
            result = self.write(fn)
        except UnavailableError:
            refuse_if_damaged(folder)  # the daemon's finding says more than SQLite's error
            raise
        if self.wal_lost():  # deleted between the check before the commit and now
            self._refuse_lost_wal(f"its WAL file {self.file}-wal was deleted while this submission "
                                  "was written", committed=True)
        refuse_if_damaged(folder)
        return result

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def read(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        delay = 0.002
        for _ in range(40):
            try:
                return self.db.execute(sql, tuple(args)).fetchall()
            except sqlite3.OperationalError as err:
                if _busy(err):
                    time.sleep(delay)
                    delay = min(delay * 2, 0.25)
                    continue
                raise _friendly(err, self.file) from None
        raise UnavailableError(f"the store {self.file} stayed busy")

    def one(self, sql: str, args: Iterable[Any] = ()) -> tuple | None:
        rows = self.read(sql, args)
        return rows[0] if rows else None

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "is there news?" poll."""
        try:
            return self.db.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as err:  # a full disk can fail even this read of the WAL index
            raise _friendly(err, self.file) from None

    # ---- meta and resources ------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key=?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.write(lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value)))

    def resources(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT kind, name, spec, status, log, updated FROM resources"
        rows = self.read(sql + (" WHERE kind=?" if kind else "") + " ORDER BY kind, name",
                         (kind,) if kind else ())
        return [{"kind": k, "name": n, "spec": leanjson.loads(s), "status": st, "log": lg,
                 "updated": up} for k, n, s, st, lg, up in rows]

    def resource_spec(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self.one("SELECT spec FROM resources WHERE kind=? AND name=?", (kind, name))
        return leanjson.loads(row[0]) if row else None


STORE_ID_FILE = "store.id"
DAMAGED_FILE = "store.damaged"
_STORE_IDS: dict[str, str] = {}


def _read_store_id(folder: str) -> str | None:
    try:
        with open(os.path.join(folder, STORE_ID_FILE), encoding="ascii") as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def log_path(data_dir: Path, job_id: int | str) -> Path:
    """Where a local job's output is kept (written by its worker, read by qlog and the TUI):
    ``<host data>/logs/<store id>/<id // 10000>/<id>.log``, so that a store recreated by hand
    never shows an old store's output (a store made before store ids keeps
    ``logs/<id // 10000>/``)."""
    n = int(job_id)
    key = os.fspath(data_dir)
    sid = _STORE_IDS.get(key)
    if sid is None:
        sid = _read_store_id(key) or ""
        _STORE_IDS[key] = sid
    base = data_dir / "logs" / sid if sid else data_dir / "logs"
    return base / str(n // 10000) / f"{n}.log"


def _ino(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _wal_orphaned(file: str) -> tuple[int | None, int | None]:
    """Before a connection opens ``file``: raise DamagedStoreError if its WAL was deleted while
    other processes have the store open (its ``-shm`` index is in use, its ``-wal`` gone: a
    last connection closing deletes the index first, so only a hand can leave this); else the
    inodes of the WAL and the index (None for a missing one)."""
    wal = _ino(file + "-wal")
    try:
        shm = os.stat(file + "-shm")
    except OSError:
        return wal, None  # no index: a store closed cleanly (or new)
    if wal is not None or not _locked(shm.st_dev, shm.st_ino):
        return wal, shm.st_ino  # a leftover index nobody uses: SQLite rebuilds it
    folder = os.path.dirname(file)
    why = f"its WAL file {file}-wal was deleted while the store was open"
    _mark_first(folder, why)
    raise DamagedStoreError(f"the store in {folder} is damaged ({why}); nothing was accepted",
                            fix="stop the host (hyper-tui hosts stop-host: its daemon saves the "
                                "deleted WAL's commits), then start it again")


def _locked(dev: int, ino: int) -> bool:
    """True if some process holds a POSIX lock on the file (dev, ino) (/proc/locks)."""
    want = f"{os.major(dev):02x}:{os.minor(dev):02x}:{ino}"
    try:
        with open("/proc/locks") as fh:
            text = fh.read()
    except OSError:
        return True  # cannot tell: assume in use
    return any(want in line.split() for line in text.splitlines())


def _mark_first(folder: str, why: str) -> None:
    """``mark_damaged`` unless the store is marked already (the daemon's reason says more)."""
    try:
        fd = os.open(os.path.join(folder, DAMAGED_FILE), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (why.replace("\n", " ") + "\n").encode())
    finally:
        os.close(fd)


def mark_damaged(folder: str, why: str) -> None:
    """Record that the store in ``folder`` is damaged (the daemon, on a failed check): ``qsub``
    refuses and ``hosts status`` says why until a daemon finds it healthy again."""
    paths.atomic_write_text(os.path.join(folder, DAMAGED_FILE), why.replace("\n", " ") + "\n")


def clear_damaged(folder: str) -> None:
    try:
        os.unlink(os.path.join(folder, DAMAGED_FILE))
    except FileNotFoundError:
        pass


def damaged_reason(folder: str) -> str | None:
    """Why the store in ``folder`` was found damaged, or None."""
    try:
        with open(os.path.join(folder, DAMAGED_FILE), encoding="utf-8") as fh:
            return fh.read().strip() or "damaged"
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot read {DAMAGED_FILE}: {err.strerror}"


def refuse_if_damaged(folder: str) -> None:
    """Raise ``DamagedStoreError`` (exit 6) if the store in ``folder`` is marked damaged:
    nothing may be acknowledged that could then be lost."""
    why = damaged_reason(folder)
    if why:
        raise DamagedStoreError(f"the store in {folder} is damaged ({why}); nothing was accepted",
                                fix="restore or repair store.db, then run `hyper-tui hosts "
                                    "start-host` (it checks the store again)")


def now() -> float:
    return time.time()


def encode(value: Any) -> str | None:
    return None if value is None else leanjson.dumps(value)
