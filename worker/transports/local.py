"""The local transport: the worker agent's side of a local host's SQLite store.

* **reserve**: one ``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE`` leases QUEUED jobs to
  this worker (``worker`` set, ``lease_until`` a lease ahead) while they stay QUEUED: still
  cancellable, and not backlog for the daemon. A lease lapses by itself, and the daemon
  clears the leases of a worker it finds lost.
* **start**: ``state='QUEUED' AND worker=<us>`` -> RUNNING with the next attempt and the real
  start time, in one statement: a job cancelled (or taken over after its lease lapsed) while
  reserved never starts. The previous job's result rides in the same transaction.
* **report**: one short transaction per result (``_record``, the one place where a result
  becomes a state). It only applies to the attempt this worker holds (``state='RUNNING' AND
  worker=? AND attempts=?``), so a cancelled or requeued job is never overwritten; the
  attempt row is written with it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hyper_tui import paths
from hyper_tui.agent.loop import LOG_CAP_BYTES, Claim, Result
from hyper_tui.core.errors import UnavailableError
from hyper_tui.core.lifecycle import attempt_outcome, outcome_to_state
from hyper_tui.local.launcher import pgid_file
from hyper_tui.local.store import Store, log_path

# How long a heartbeat, a log flush or a hand-back of reserved jobs waits for another
# process's write lock before it is left for later: these writes come from the loop that
# supervises a running job (a heartbeat and a flush are tried again; handed-back leases lapse).
BACKGROUND_WAIT_S = 0.2


class LocalTransport:
    # The store cannot be written just now (disk full, read-only, busy): the agent keeps its
    # results and retries.
    transient_errors = (UnavailableError, OSError)
    # The SYSTEM lines "started attempt N on worker W (host)" and "exit code C after Ts" are
    # not stored: qlog derives them from the job's row and its attempt rows (two event rows a
    # job fewer). ``hyper_tui.local.client.attempt_lines`` writes them.
    derives_attempt_lines = True

    def __init__(self, store_path: str | Path, *, worker_id: str, queue: str, definition: str,
                 region: str = "local", vcpus: int = 1) -> None:
        self.store = Store(Path(store_path), create=False, poll_lock=True)
        self.data_dir = Path(store_path).parent
        self.worker_id = worker_id
        self.queue = queue
        self.definition = definition
        self.region = region
        spec = self.store.resource_spec("definitions", definition) or {}
        self.retry_exit_codes = tuple(spec.get("retry_exit_codes") or ())
        self.keep_output = bool(spec.get("enable_qlog", True))
        self.def_env = {str(k): str(v) for k, v in (spec.get("environment") or {}).items()}
        self.ulimits = tuple(spec.get("ulimits") or ())  # the job's sandbox enforces these
        self.memory_mib = spec.get("memory_mib")
        self.vcpus = spec.get("vcpus")
        qspec = self.store.resource_spec("queues", queue) or {}
        self.max_running = qspec.get("max_running")
        settings = self._host_settings()
        self.lease = float(settings.get("lease_seconds", 15.0))
        self.log_cap = int(settings.get("log_cap_bytes", LOG_CAP_BYTES))
        self._specs: dict[int, tuple] = {}
        self._events: list[tuple[int, float, str, str]] = []  # SYSTEM records not yet written
        self._version = self.store.data_version()
        self._row: tuple[str, float] = ("IDLE", 0.0)  # the worker row as last written: state, when
        self._row_next: tuple[str, float, int] | None = None
        self._done_unwritten = 0  # jobs done that the worker row does not count yet
        paths.ensure_private_dir(self.data_dir / "run")
        self._pgid_fd = os.open(pgid_file(self.data_dir, worker_id), os.O_RDWR | os.O_CREAT, 0o600)
        t = time.time()
        self.store.write(lambda db: db.execute(
            "INSERT INTO workers (id, pid, region, queue, definition, vcpus, started, heartbeat, state) "
            "VALUES (?,?,?,?,?,?,?,?, 'IDLE') ON CONFLICT(id) DO UPDATE SET pid=excluded.pid, "
            "heartbeat=excluded.heartbeat, state='IDLE'",
            (worker_id, os.getpid(), region, queue, definition, vcpus, t, t)))

    def _host_settings(self) -> dict:
        raw = self.store.get_meta("host")
        return (json.loads(raw) if raw else {}).get("settings", {})

    # ---- reserve and start -------------------------------------------------------------

    # A QUEUED job is free for this worker unless another live lease holds it.
    _FREE = "(worker IS NULL OR lease_until IS NULL OR lease_until < ?)"
    # Jobs that count against a max-running limit: running, or reserved to start soon.
    _TAKEN = "(state='RUNNING' OR (state='QUEUED' AND worker IS NOT NULL AND lease_until >= ?))"

    def reserve(self, n: int) -> list[Claim]:
        return self.reserve_and_start(n, start_first=False)[0]

    def reserve_and_start(self, n: int, finished: Result | None = None, *,
                          start_first: bool = True) -> tuple[list[Claim], bool]:
        """``reserve(n)``, with the previous job's result recorded and the first reserved job
        started (``start``) in the same transaction: one transaction a job, not one more per
        batch. Returns the claims and whether the first one is RUNNING now."""
        def tx(db):
            t = time.time()  # in the transaction: a retried one starts its job when it commits
            if finished is not None:
                self._record(db, finished, t)
            rows, specs = self._reserve_rows(db, n, t)
            first = min(rows) if rows else None  # the first claim (claims are in id order)
            started = (first is not None and start_first
                       and self._start_row(db, first[0], first[6], t))
            if started or finished is not None:
                self._worker_row(db, "BUSY" if started else "IDLE", t, finished is not None)
            return rows, specs, started

        self._row_next = None
        rows, specs, started = self._write(tx)
        self._row_committed()
        return self._claims(rows, specs), started

    def _reserve_rows(self, db, n: int, t: float) -> tuple[list[tuple], dict]:
        """Lease up to ``n`` free QUEUED jobs to this worker (in the caller's transaction):
        their rows and the specs this worker has not read yet."""
        limit = n
        if self.max_running:
            taken = db.execute(f"SELECT count(*) FROM jobs WHERE queue=? AND {self._TAKEN}",
                               (self.queue, t)).fetchone()[0]
            limit = min(limit, self.max_running - taken)
            if limit <= 0:
                return [], {}
        blocked, room = self._throttled_arrays(db, t)
        sql = (f"SELECT id, array_id FROM jobs WHERE state='QUEUED' AND queue=? AND "
               f"definition=? AND {self._FREE}")
        args: list = [self.queue, self.definition, t]
        # Arrays cancelled whole whose waiting tasks are not swept yet: none of theirs.
        gone = [r[0] for r in db.execute("SELECT id FROM arrays WHERE cancelled IS NOT NULL "
                                         "AND swept=0")]
        blocked = set(blocked) | set(gone)
        if blocked:
            sql += f" AND (array_id IS NULL OR array_id NOT IN ({','.join('?' * len(blocked))}))"
            args += list(blocked)
        sql += " ORDER BY priority DESC, id LIMIT ?"
        picked = []
        for jid, aid in db.execute(sql, (*args, limit + (16 if room else 0))).fetchall():
            if aid in room:
                if room[aid] <= 0:
                    continue
                room[aid] -= 1
            picked.append(jid)
            if len(picked) >= limit:
                break
        if not picked:
            return [], {}
        marks = ",".join("?" * len(picked))
        rows = db.execute(
            f"UPDATE jobs SET worker=?, lease_until=? WHERE id IN ({marks}) AND +state='QUEUED' "
            f"AND {self._FREE} RETURNING id, array_id, idx, name, spec_id, params, attempts, "
            "retries, timeout", (self.worker_id, t + self.lease, *picked, t)).fetchall()
        specs = {}
        need = {r[4] for r in rows} - self._specs.keys()
        if need:
            marks = ",".join("?" * len(need))
            for sid, cmd, argv, env, cwd in db.execute(
                    f"SELECT id, command, argv, env, cwd FROM specs WHERE id IN ({marks})",
                    tuple(need)):
                specs[sid] = (cmd, json.loads(argv) if argv else None,
                              json.loads(env) if env else {}, cwd)
        return rows, specs

    def _claims(self, rows: list[tuple], specs: dict) -> list[Claim]:
        self._specs.update(specs)
        if len(self._specs) > 4096:
            self._specs = {k: self._specs[k] for k in list(self._specs)[-1024:]}
        claims = []
        for jid, aid, idx, name, sid, params, attempts, retries, timeout in sorted(rows):
            cmd, argv, env, cwd = self._specs[sid]
            claims.append(Claim(
                job_id=f"{aid}[{idx}]" if aid is not None else str(jid), key=str(jid),
                attempt=attempts + 1, queue=self.queue, definition=self.definition, name=name,
                command=cmd, argv=argv, env={**self.def_env, **env}, cwd=cwd, timeout=timeout,
                array_index=idx if aid is not None else None,
                params=json.loads(params) if params else None, retries=retries,
                retry_exit_codes=self.retry_exit_codes, keep_output=self.keep_output,
                ulimits=self.ulimits, memory_mib=self.memory_mib, vcpus=self.vcpus))
        return claims

    def start(self, claim: Claim, finished: Result | None = None) -> bool:
        def tx(db) -> bool:
            t = time.time()
            if finished is not None:
                self._record(db, finished, t)
            started = self._start_row(db, int(claim.key), claim.attempt - 1, t)
            if started or finished is not None:
                self._worker_row(db, "BUSY" if started else "IDLE", t, finished is not None)
            return started

        self._row_next = None
        started = self._write(tx)
        self._row_committed()
        return started

    def _start_row(self, db, key: int, attempts: int, t: float) -> bool:
        """Reserved job ``key`` -> RUNNING (in the caller's transaction), unless it was
        cancelled or taken meanwhile. The attempt number is the one the reservation saw: a
        job requeued and reserved again meanwhile (our lease lapsed) is another worker's now."""
        started = db.execute(
            "UPDATE jobs SET state='RUNNING', attempts=attempts+1, started=?, reason=NULL, "
            "lease_until=NULL WHERE id=? AND state='QUEUED' AND worker=? AND attempts=? AND "
            "(array_id IS NULL OR NOT EXISTS (SELECT 1 FROM arrays a WHERE a.id=jobs.array_id "
            "AND a.cancelled IS NOT NULL))", (t, key, self.worker_id, attempts)).rowcount > 0
        if not started:  # cancelled (or taken) while reserved: drop what is left of our lease
            db.execute("UPDATE jobs SET worker=NULL, lease_until=NULL WHERE id=? AND worker=? "
                       "AND lease_until IS NOT NULL", (key, self.worker_id))
        return started

    def release(self, claims: list[Claim]) -> None:
        if not claims:
            return
        keys = [int(c.key) for c in claims]

        def tx(db) -> None:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                db.execute(f"UPDATE jobs SET worker=NULL, lease_until=NULL WHERE id IN "
                           f"({','.join('?' * len(chunk))}) AND +state='QUEUED' AND worker=?",
                           (*chunk, self.worker_id))

        # A long job hands its reservations back from the loop that supervises it: never a long
        # wait for another process's lock (if it cannot be had, the leases lapse by themselves).
        self._write(tx, wait=BACKGROUND_WAIT_S)

    def _throttled_arrays(self, db, t: float) -> tuple[set[int], dict[int, int]]:
        """Arrays with a %max-running limit that still have queued tasks: those at their limit
        (running or reserved: blocked) and the room left in the others."""
        blocked: set[int] = set()
        room: dict[int, int] = {}
        for aid, most in db.execute(
                "SELECT a.id, a.max_running FROM arrays a WHERE a.max_running IS NOT NULL AND "
                "EXISTS (SELECT 1 FROM jobs j WHERE j.array_id=a.id AND j.state='QUEUED')"):
            running = db.execute(f"SELECT count(*) FROM jobs WHERE array_id=? AND {self._TAKEN}",
                                 (aid, t)).fetchone()[0]
            if running >= most:
                blocked.add(aid)
            else:
                room[aid] = most - running
        return blocked, room

    # ---- report ------------------------------------------------------------------------

    def report(self, result: Result) -> None:
        def tx(db) -> None:
            t = time.time()
            self._record(db, result, t)
            self._worker_row(db, "IDLE", t, True)

        self._row_next = None
        self._write(tx)
        self._row_committed()

    # The worker row says BUSY or IDLE at once; while the worker stays busy, its count of jobs
    # done is written at most this often (a stream of short jobs writes it once, not per job).
    ROW_EVERY_S = 1.0

    def _worker_row(self, db, state: str, t: float, finished: bool) -> None:
        """The worker row, in the caller's transaction, when its state changes or its count is
        ``ROW_EVERY_S`` old (liveness is ``heartbeat``'s own write). Safe to run again when the
        store retries the transaction: what it changes is kept aside until ``_row_committed``."""
        done = self._done_unwritten + finished
        if state == self._row[0] and t - self._row[1] < self.ROW_EVERY_S:
            self._row_next = (self._row[0], self._row[1], done)
            return
        db.execute("UPDATE workers SET state=?, heartbeat=?, jobs_done=jobs_done+? WHERE id=?",
                   (state, t, done, self.worker_id))
        self._row_next = (state, t, 0)

    def _row_committed(self) -> None:
        if self._row_next is not None:
            state, t, self._done_unwritten = self._row_next
            self._row = (state, t)
            self._row_next = None

    def _record(self, db, r: Result, t: float) -> None:
        """The one place where a result becomes a state: the job row and its attempt row,
        written in the caller's transaction."""
        c = r.claim
        tr = outcome_to_state(r.outcome, exit_code=r.exit_code, detail=r.detail, attempt=c.attempt,
                              retries=c.retries, retry_exit_codes=c.retry_exit_codes)
        held = 0
        if tr.state is not None:
            held = db.execute(
                "UPDATE jobs SET state=?, reason=?, ended=?, exit_code=?, "
                "worker=CASE WHEN ? THEN NULL ELSE worker END, retries=retries+? "
                "WHERE id=? AND state='RUNNING' AND worker=? AND attempts=?",
                (tr.state, tr.reason, None if tr.requeue else r.ended, r.exit_code, tr.requeue,
                 tr.refund, int(c.key), self.worker_id, c.attempt)).rowcount
        if held:
            outcome = attempt_outcome(r.outcome, r.exit_code)
            db.execute("INSERT OR REPLACE INTO attempts (job_id, attempt, worker, started, ended, "
                       "exit_code, outcome) VALUES (?,?,?,?,?,?,?)",
                       (int(c.key), c.attempt, self.worker_id, r.started, r.ended, r.exit_code,
                        outcome))
        else:
            # The attempt was taken from this worker before it reported: qdel won the race
            # with the job's end (qdel wrote the attempt row with the state; we add when the
            # process really ended), or the lease expired and the job was requeued (keep the
            # daemon's record of a lost attempt). Never "succeeded".
            row = db.execute("SELECT state, attempts FROM jobs WHERE id=?", (int(c.key),)).fetchone()
            outcome = ("cancelled" if row and row[0] == "CANCELLED" and row[1] == c.attempt
                       else "lost")
            db.execute("INSERT INTO attempts (job_id, attempt, worker, started, ended, exit_code, "
                       "outcome) VALUES (?,?,?,?,?,?,?) ON CONFLICT (job_id, attempt) DO UPDATE "
                       "SET ended=excluded.ended, exit_code=excluded.exit_code "
                       "WHERE attempts.outcome='cancelled' AND excluded.outcome='cancelled'",
                       (int(c.key), c.attempt, self.worker_id, r.started, r.ended, r.exit_code,
                        outcome))

    # ---- liveness ----------------------------------------------------------------------

    def heartbeat(self, running: list[Claim]) -> bool:
        t = time.time()
        try:  # proof of life that needs no free space: the daemon also reads this file's mtime
            os.utime(self._pgid_fd)
        except OSError:
            pass

        def tx(db) -> int:
            return db.execute("UPDATE workers SET heartbeat=? WHERE id=? AND state != 'LOST'",
                              (t, self.worker_id)).rowcount

        # Only the heartbeat row: it must get through even when a fuller write cannot (a
        # full disk can still take an in-place update), or the daemon would find us silent.
        # Never a long wait for the lock: the beat comes from the loop that enforces the
        # running job's timeout and drains its output (the pid file's mtime says we live).
        return self.store.write(tx, wait=BACKGROUND_WAIT_S) > 0

    def is_cancelled(self, claim: Claim) -> bool:
        row = self.store.one("SELECT state, worker, attempts FROM jobs WHERE id=?", (int(claim.key),))
        return row is None or row[0] != "RUNNING" or row[1] != self.worker_id or row[2] != claim.attempt

    def _write(self, fn, wait: float | None = None):
        """``store.write(fn)`` that also writes the buffered SYSTEM records in the same
        transaction; they leave the buffer only once it has committed."""
        n = len(self._events)

        def tx(db):
            result = fn(db)
            if n:
                db.executemany("INSERT INTO events (job_id, ts, type, data) VALUES (?,?,?,?)",
                               self._events[:n])
            return result

        result = self.store.write(tx, wait=wait)
        del self._events[:n]
        return result

    def append_log(self, claim: Claim, records: list[tuple[float, str, str]]) -> None:
        """SYSTEM records go to the store's events table (with the next transaction: a short
        job then needs no log file at all); output and metrics go to the job's log file."""
        if not records:
            return
        self._events.extend((int(claim.key), ts, kind, data) for ts, kind, data in records
                            if kind == "SYSTEM")
        records = [r for r in records if r[1] != "SYSTEM"]
        if not records:
            return
        path = log_path(self.data_dir, claim.key)
        text = "".join(f"{ts:.6f}\t{kind}\t{data}\n" for ts, kind, data in records)
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except FileNotFoundError:
                paths.ensure_private_dir(path.parent)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return  # a full or read-only disk must not kill the worker; logs are best effort
        try:
            os.write(fd, text.encode())
        except OSError:
            pass  # a full disk must not kill the worker; the job's state is still reported
        finally:
            os.close(fd)

    def flush_logs(self) -> None:
        """Output is in its log file already; the SYSTEM records buffered for the next
        transaction are written now (a running job's events show within a second)."""
        if self._events:
            self._write(lambda db: None, wait=BACKGROUND_WAIT_S)  # kept, if busy, for the next

    def job_started(self, claim: Claim, pgid: int) -> None:
        # One fixed-width write over the last one: no truncation (a journalled metadata
        # change) per job. Readers split on whitespace.
        data = f"{claim.key} {pgid}".ljust(39).encode() + b"\n"
        try:
            if len(data) > 40:
                os.ftruncate(self._pgid_fd, 0)
            os.pwrite(self._pgid_fd, data, 0)
        except OSError:
            pass  # full disk: the daemon then finds the job's processes by their environment

    def wait_for_work(self, timeout: float) -> None:
        """Sleep until another process commits (``PRAGMA data_version``) or ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.store.data_version()
            if v != self._version:
                self._version = v
                return
            time.sleep(0.003)

    def close(self) -> None:
        try:
            def tx(db) -> None:  # reservations go with the worker row (the agent released them)
                db.execute("UPDATE jobs SET worker=NULL, lease_until=NULL WHERE worker=? AND "
                           "state='QUEUED'", (self.worker_id,))
                db.execute("DELETE FROM workers WHERE id=?", (self.worker_id,))

            self._write(tx)
        except Exception:
            pass
        try:
            os.close(self._pgid_fd)
            os.unlink(pgid_file(self.data_dir, self.worker_id))
        except OSError:
            pass
        self.store.close()
