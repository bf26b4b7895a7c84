"""The local host's scheduler daemon: one per host, started on demand.

Each loop it: reaps workers that died and requeues their jobs (killing what they left
running), expires silent workers' leases, releases jobs whose dependencies are met (the rules
of ``core.lifecycle``), decides the workers wanted per (queue, definition, region) with
``core.scaling.decide`` (the aws scaler's decision), starts them, records why queued jobs wait, samples metrics, and
purges jobs past their retention. Standard library only (a small, long-lived process).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hyper_tui import containment, paths
from hyper_tui.core import scaling
from hyper_tui.core.errors import (
    EXIT_UNAVAILABLE,
    DamagedStoreError,
    HyperError,
    UnavailableError,
)
from hyper_tui.core.lifecycle import (
    after_lost_worker,
    dependency_state,
    judge_dependencies,
    queued_reason,
)
from hyper_tui.local import jobs as local_jobs
from hyper_tui.local import procs
from hyper_tui.local.launcher import ProcessLauncher, child_file, pgid_file
from hyper_tui.local.store import Store, clear_damaged, log_path, mark_damaged, unwritable

LOOP_S = 0.1          # at most ten scheduling passes a second
WAKE_S = 0.02         # how often the store is polled for news
IDLE_STEP_S = 1.0     # a pass at least this often (leases, dependencies, metrics)
METRICS_EVERY_S = 2.0
STATE_COUNTS_SHARE = 0.02  # the most of the daemon's time the active-job counts may take
PURGE_EVERY_S = 3600.0
MAX_SPAWN_PER_LOOP = 8
INTEGRITY_EVERY_S = 60.0    # PRAGMA quick_check this often (the WAL is checked every pass)
PAUSE_S = 2.0               # a tick of the pause watch this late: the daemon was paused
PAUSE_TICK_S = 0.25
OLD_WORKER_GRACE_S = 10.0   # a previous daemon's worker asked to stop: SIGKILL after this


@dataclass
class Pair:
    """A (queue, definition) as ``core.scaling.decide`` reads it (``ScalingPair``)."""

    queue: str
    definition: str
    cluster: str
    ratio: float
    vcpus: int
    weights: dict[str, int]      # of the host's regions only
    max_running: int | None = None
    max_vcpus: int = 1           # the cluster's (the machine's CPUs when it sets none)


class Daemon:
    def __init__(self, host: str) -> None:
        self.host = host
        # Set by run(): this process is the daemon (a child subreaper whose only children are
        # its workers and the orphans of their jobs). A Daemon used inside another program
        # (tests, tools) never kills that program's children as orphans.
        self.reaps_orphans = False
        self.data_dir = paths.host_data_dir(host)
        for d in (self.data_dir, self.data_dir / "logs", self.data_dir / "run"):
            paths.ensure_private_dir(d)
        # Short waits for the write lock: a worker hung inside a transaction must not stall
        # the loop that kills it when its lease expires (a failed write is retried next loop).
        self.store = Store(paths.store_path(host), busy_timeout=0.5, write_attempts=6)
        self.stopping = False
        self.children: dict[int, str] = {}  # pid -> worker id
        self.last_metrics = 0.0
        self.last_purge = 0.0
        self.last_max_id = 0
        self.next_state_counts = 0.0
        self.unwritable_at = 0.0  # last time the store was full or read-only
        self.settings = self._host_settings()
        self.launcher = ProcessLauncher(host, self.store, settings=self.settings,
                                        children=self.children)
        # Liveness (see _adopt_and_expire)
        self.resumed_at = 0.0                # wall time this daemon last resumed from a pause
        self._resume_seen = 0.0
        self.stopped_since: dict[int, float] = {}          # child pid -> first seen stopped
        self.child_idents: dict[str, procs.Identity] = {}  # wid -> identity of our child
        self.idents: dict[str, procs.Identity] = {}        # wid -> identity of other workers
        self.stopping_old: dict[str, float] = {}           # previous daemon's worker -> SIGKILL at
        self.last_integrity = 0.0

    # ---- config from the store (the CLI applies the YAML there) -------------------------

    def _host_settings(self) -> dict:
        raw = self.store.get_meta("host")
        host = json.loads(raw) if raw else {}
        return host.get("settings", {})

    def _pairs(self) -> tuple[list[Pair], dict[str, dict], dict[str, dict]]:
        res = self.store.resources()
        by = {k: {r["name"]: r["spec"] for r in res if r["kind"] == k}
              for k in ("regions", "clusters", "queues", "definitions")}
        regions = by["regions"]
        cpu = os.cpu_count() or 1
        pairs = []
        for qname, q in by["queues"].items():
            weights = {r: w for r, w in (q.get("weights") or {}).items() if isinstance(w, int)}
            if not weights:
                weights = {r: 1 for r in regions}
            weights = {r: w for r, w in weights.items() if r in regions}
            max_vcpus = int(by["clusters"].get(q["cluster"], {}).get("max_vcpus", cpu))
            for dname, d in by["definitions"].items():
                pairs.append(Pair(qname, dname, q["cluster"], float(d.get("jobs_to_workers_ratio", 1)),
                                  int(d.get("vcpus", 1)), weights, q.get("max_running"), max_vcpus))
        return pairs, by["clusters"], regions

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        _become_subreaper()
        self.reaps_orphans = True
        threading.Thread(target=self._watch_pauses, name="pause-watch", daemon=True).start()
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        self._adopt_and_expire(startup=True)
        idle_exit = float(self.settings.get("daemon_idle_exit_s", 900.0))
        idle_since = time.monotonic()
        last_step = 0.0
        version = None
        while not self.stopping:
            # Work only when the store changed (a commit by qsub, a worker, qdel), a child
            # exited, or once a second; otherwise a cheap data_version poll every 20 ms. No
            # pass comes sooner than LOOP_S after the last: no poll before then either (a
            # stream of jobs changes the store at every commit).
            time.sleep(max(WAKE_S, last_step + LOOP_S - time.monotonic()))
            now = time.monotonic()
            try:
                current = self.store.data_version()
            except Exception:
                current = None
            if (current == version and now - last_step < IDLE_STEP_S and not self._child_exited()):
                continue
            if now - last_step < LOOP_S:
                continue
            version, last_step = current, now
            if not self.store.path.exists():
                _log(f"the store {self.store.path} is gone (host deleted?); stopping")
                break
            try:
                busy = self.step()
            except DamagedStoreError:  # a write found the WAL gone: say why and stop
                self._store_damaged(full=True)
                busy = True
            except Exception as err:  # keep scheduling; the store may be full for a while
                if unwritable(err):
                    self.unwritable_at = time.time()
                _log(f"loop error: {type(err).__name__}: {err}")
                time.sleep(1.0)
                busy = True
            if busy:
                idle_since = now
            elif now - idle_since > idle_exit:
                _log(f"idle for {idle_exit:g}s (no jobs, no workers); stopping (qsub restarts it)")
                break
        self.shutdown()

    def _child_exited(self) -> bool:
        """True if a worker of ours has exited (without reaping it)."""
        for pid in self.children:
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                        return True
            except OSError:
                return True
        return False

    def _on_term(self, signum, frame) -> None:
        self.stopping = True

    def step(self) -> bool:
        """One scheduling pass; True while there is anything to do (jobs or workers)."""
        if self._store_damaged():  # first: a write into a deleted WAL would be lost
            return True
        self.reap()
        self._adopt_and_expire()
        self._sweep()
        self.release_dependents()
        self.scale()
        now = time.time()
        if now - self.last_metrics >= METRICS_EVERY_S:
            self.sample_metrics(now)
        if now - self.last_purge >= PURGE_EVERY_S:
            self.purge(now)
        return bool(self.children) or self.store.one(
            "SELECT 1 FROM jobs WHERE state IN ('PENDING','QUEUED','RUNNING') "
            "UNION ALL SELECT 1 FROM workers LIMIT 1") is not None

    def _sweep(self) -> None:
        """Arrays cancelled whole (qdel): their waiting tasks' rows are turned CANCELLED by a
        thread of their own, on its own connection, in short transactions (``jobs.
        sweep_cancelled``), so that this loop is never held up by a million rows."""
        thread = getattr(self, "_sweeper", None)
        if (thread is not None and thread.is_alive()) or not local_jobs.cancelled_arrays(self.store):
            return

        def sweep() -> None:
            try:
                store = Store(self.store.path, create=False)
            except HyperError as err:
                _log(f"sweep of cancelled arrays: {err}")
                return
            try:
                while local_jobs.cancelled_arrays(store):
                    local_jobs.sweep_cancelled(store, budget_s=1.0)
            except HyperError as err:  # busy or full: the next pass starts another
                _log(f"sweep of cancelled arrays: {err}")
            finally:
                store.close()

        self._sweeper = threading.Thread(target=sweep, name="sweep-cancelled", daemon=True)
        self._sweeper.start()

    # ---- workers -----------------------------------------------------------------------

    def reap(self) -> None:
        """Collect exited children: workers (requeue their jobs) and orphans of jobs."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            wid = self.children.pop(pid, None)
            if wid is None:
                continue  # an orphaned job process re-parented to us: reaped, no zombie
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                self.lost_worker(wid, f"worker {wid} died ({_describe_exit(code)})")
            else:
                self._drop_worker_row(wid)
                with contextlib.suppress(OSError):
                    child_file(self.data_dir, wid).unlink()
                containment.kill_scope(wid)  # its cgroup, and anything a job left in it

    def _adopt_and_expire(self, *, startup: bool = False) -> None:
        """Judge every worker's liveness.

        * A worker this daemon started is its child: its process is its liveness (``reap``
          sees it die). A heartbeat it cannot write (the lock, a full disk, a pause) is no
          death; only a child stopped (SIGSTOP) for a whole lease is hung, and killed.
        * A worker of a daemon before this one (its ``run/<id>.child`` names its identity) is
          stopped: SIGTERM (its job is interrupted and requeued without using a retry), then
          SIGKILL after a grace period. So ``stop-host`` after a crash leaves none running.
        * Any other worker (``hyper-tui worker``, an on-premise agent) keeps a lease: lost when
          its process is gone or it is silent for a lease.

        Signals go only to the process a worker's identity names (pid, start time, host): a
        recycled pid is never signalled. A pause of the daemon itself (a SIGSTOP, a suspended
        machine) extends every lease by the pause before anyone is judged."""
        lease = float(self.settings.get("lease_seconds", 15.0))
        self._note_pause(lease)
        now = time.time()
        mine = {wid: pid for pid, wid in self.children.items()}
        lost: list[tuple[str, str]] = []
        rows = self.store.read("SELECT id, pid, heartbeat, started FROM workers")
        for wid, pid, beat, started in rows:
            if wid in mine:
                self._remember_child(wid, mine[wid])
                stopped = self._stopped_for(mine[wid])
                if stopped > lease:  # our unreaped child: its pid cannot have been reused
                    self.children.pop(mine[wid], None)
                    with contextlib.suppress(OSError):
                        os.kill(mine[wid], signal.SIGKILL)
                    lost.append((wid, f"worker {wid} was stopped (SIGSTOP) for {stopped:.0f}s"))
                continue
            who = self._identify(wid, pid, max(beat or 0, self._touched_at(wid)), started)
            alive = procs.is_same(who)
            previous = procs.read_identity(child_file(self.data_dir, wid))
            if alive and previous is not None and previous == who and wid not in self.stopping_old:
                procs.signal_if_same(who, signal.SIGTERM)
                self.stopping_old[wid] = time.monotonic() + OLD_WORKER_GRACE_S
                _log(f"worker {wid} (pid {pid}) of a previous daemon: asked to stop")
                continue
            if wid in self.stopping_old:
                if alive and time.monotonic() < self.stopping_old[wid]:
                    continue
                self.stopping_old.pop(wid, None)
                if alive:
                    procs.signal_if_same(who, signal.SIGKILL)
                    lost.append((wid, f"worker {wid} of a previous daemon did not stop in time"))
                else:
                    lost.append((wid, f"worker {wid} of a previous daemon stopped"))
                continue
            if not alive and (startup or now - (beat or 0) > 1.0):
                lost.append((wid, f"worker {wid} (pid {pid}) is gone"))
                continue
            sign = max(beat or 0, self._touched_at(wid), self.unwritable_at, self.resumed_at)
            if now - sign > lease:
                if not self._store_writable():
                    continue  # a full or read-only disk: nobody can heartbeat, silence proves nothing
                procs.signal_if_same(who, signal.SIGKILL)
                lost.append((wid, f"worker {wid} missed its heartbeat for {lease:g}s"))
        for wid, why in lost:
            self.lost_worker(wid, why)

    def _finish_old_workers(self, deadline: float) -> None:
        """At shutdown: the previous daemon's workers asked to stop are waited for until
        ``deadline`` (monotonic), then killed; their jobs are requeued."""
        while self.stopping_old:
            for wid in list(self.stopping_old):
                who = self.idents.get(wid)
                if not procs.is_same(who):
                    self.stopping_old.pop(wid)
                    self.lost_worker(wid, f"worker {wid} of a previous daemon stopped")
                elif time.monotonic() >= deadline:
                    procs.signal_if_same(who, signal.SIGKILL)
                    self.stopping_old.pop(wid)
                    self.lost_worker(wid, f"worker {wid} of a previous daemon did not stop in time")
            time.sleep(0.05)

    def _store_damaged(self, *, full: bool = False) -> bool:
        """Check the store (its WAL every pass, ``PRAGMA quick_check`` at start and every
        INTEGRITY_EVERY_S). A damaged store is marked (``store.damaged``: qsub refuses, hosts
        status says why) and this daemon stops: its workers are stopped, nothing more runs."""
        now = time.monotonic()
        lost = self.store.wal_lost()  # two system calls: every pass
        if lost is None and not full and now - self.last_integrity < INTEGRITY_EVERY_S:
            return False
        self.last_integrity = now
        why = lost or self.store.damage()
        if why is None:
            return False
        if lost:
            # This connection still has the deleted WAL open: its commits (acknowledged
            # submissions among them) go into the database file before anything else happens.
            saved = self.store.save_orphaned_wal()
            why += ("; its commits were saved into the database file" if saved else
                    "; its commits could not be saved (the index was reset)")
        with contextlib.suppress(OSError):
            mark_damaged(str(self.data_dir), why)
        _log(f"the store is damaged ({why}): accepting no work and stopping; restore or repair "
             f"{self.store.file}, then start the host again")
        self.stopping = True
        return True

    def _note_pause(self, lease: float) -> None:
        """After a pause of this daemon (seen by ``_watch_pauses``), children seen stopped
        during it start their count again: the whole machine may have been stopped."""
        if self.resumed_at != self._resume_seen:
            self._resume_seen = self.resumed_at
            self.stopped_since.clear()

    def _watch_pauses(self) -> None:
        """A thread ticking every PAUSE_TICK_S: a tick late by more than PAUSE_S (monotonic or
        wall clock: a SIGSTOP stops both for us, a suspended machine only the monotonic one)
        means this process did not run; every lease then starts again from the resume. A
        slow pass of the loop (a store busy for seconds) does not stop this thread."""
        mono, wall = time.monotonic(), time.time()
        while not self.stopping:
            time.sleep(PAUSE_TICK_S)
            m, w = time.monotonic(), time.time()
            gap = max(m - mono, w - wall) - PAUSE_TICK_S
            if gap > PAUSE_S:
                self.resumed_at = w
                _log(f"the daemon did not run for {gap:.1f}s (paused?); every lease extended by it")
            mono, wall = m, w

    def _stopped_for(self, pid: int) -> float:
        """How long (by this daemon's clock) child ``pid`` has been seen stopped, else 0."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = b""
        if state not in (b"T", b"t"):
            self.stopped_since.pop(pid, None)
            return 0.0
        return time.monotonic() - self.stopped_since.setdefault(pid, time.monotonic())

    def _remember_child(self, wid: str, pid: int) -> None:
        """Write ``run/<wid>.child``: the identity of a worker this daemon started, so that the
        next daemon (after a crash of this one) knows it is a daemon's worker, and which."""
        if wid in self.child_idents:
            return
        who = procs.identity(pid)
        if who is None:
            return
        self.child_idents[wid] = who
        if procs.read_identity(child_file(self.data_dir, wid)) == who:
            return  # written by the launcher as it started the worker
        with contextlib.suppress(OSError):
            paths.atomic_write_text(child_file(self.data_dir, wid), who.line() + "\n")

    def _identify(self, wid: str, pid: int | None, beat: float | None,
                  started: float | None) -> procs.Identity | None:
        """The identity of a worker this daemon did not start: the process at its pid the
        first time it is seen, if that process existed before the worker's last heartbeat (a
        process started later cannot be the one that wrote it: the pid was reused)."""
        known = self.idents.get(wid)
        if known is not None or not pid:
            return known
        who = procs.identity(pid)
        if who is None:
            return None
        if procs.started_at(who) > max(beat or 0, started or 0) + 2.0:
            return None
        self.idents[wid] = who
        return who

    def _touched_at(self, wid: str) -> float:
        try:
            return os.stat(pgid_file(self.data_dir, wid)).st_mtime
        except OSError:
            return 0.0

    def _store_writable(self) -> bool:
        """Probe with a tiny write. Busy counts as writable: a hung lock holder is exactly the
        worker that must be found silent and killed."""
        try:
            self.store.write(lambda db: db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('daemon_probe', ?)", (str(time.time()),)))
        except UnavailableError as err:
            if unwritable(err):
                self.unwritable_at = time.time()
                return False
        return True

    def lost_worker(self, wid: str, why: str) -> None:
        """Kill what the worker's job left running, then requeue (or fail) its jobs."""
        self._kill_leftovers(wid)
        now = time.time()

        def tx(db):
            db.execute("UPDATE workers SET state='LOST' WHERE id=?", (wid,))
            rows = db.execute("SELECT id, attempts, retries FROM jobs WHERE worker=? AND "
                              "state='RUNNING'", (wid,)).fetchall()
            for jid, attempts, retries in rows:
                o = after_lost_worker(attempts=attempts, retries=retries, why=why)
                db.execute("UPDATE jobs SET state=?, reason=?, worker=NULL, ended=? "
                           "WHERE id=? AND state='RUNNING' AND worker=?",
                           (o.state, o.reason, None if o.state == "QUEUED" else now, jid, wid))
                db.execute("INSERT OR REPLACE INTO attempts (job_id, attempt, worker, started, ended, "
                           "exit_code, outcome) VALUES (?,?,?,(SELECT started FROM jobs WHERE id=?),?,"
                           "NULL,'lost')", (jid, attempts, wid, jid, now))
                db.execute("INSERT INTO events (job_id, ts, type, data) VALUES (?,?,?,?)",
                           (jid, now, "SYSTEM", o.reason))
            db.execute("UPDATE jobs SET worker=NULL, lease_until=NULL WHERE worker=? AND state='QUEUED'", (wid,))
            db.execute("DELETE FROM workers WHERE id=?", (wid,))
            return len(rows)

        try:
            n = self.store.write(tx)
        except DamagedStoreError:  # nothing can be recorded: the next daemon finds it lost
            _log(f"{why}; not recorded (the store is damaged)")
            return
        _log(f"{why}; {n} running job(s) requeued or failed")

    def _kill_leftovers(self, wid: str) -> None:
        """Every process a dead worker's job left: its cgroups (found by the worker's id, in
        whatever hierarchy), else its process group (if that group is still the job's) and
        the orphans re-parented to this daemon (a child subreaper). No environment marker."""
        killed = containment.kill_scope(wid)
        path = pgid_file(self.data_dir, wid)
        try:
            _key, pgid = path.read_text().split()
            pgid_i = int(pgid)
        except (OSError, ValueError):
            pgid_i = 0
        if pgid_i and _group_belongs_to(pgid_i, path):
            with contextlib.suppress(OSError):
                os.killpg(pgid_i, signal.SIGKILL)
        if self.reaps_orphans:
            killed += self._kill_orphans()
        for f in (path, child_file(self.data_dir, wid)):
            with contextlib.suppress(OSError):
                f.unlink()
        containment.remove_tmp_homes(containment.default_scratch(), wid)  # its jobs' TMPDIRs
        self.child_idents.pop(wid, None)
        self.idents.pop(wid, None)
        if killed:
            _log(f"killed {killed} process(es) left by worker {wid}'s job")

    def _kill_orphans(self) -> int:
        """SIGKILL the children of this daemon that are not its workers (orphans of jobs,
        re-parented here) and all their descendants; reap them."""
        killed = 0
        for _ in range(50):
            roots = {p for p in containment.children_of(os.getpid()) if p not in self.children}
            live = {p for p in roots | containment.descendants(roots) if not containment.is_zombie(p)}
            for p in live:
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            killed += len(live)
            for p in roots:
                with contextlib.suppress(OSError):
                    os.waitpid(p, os.WNOHANG)
            if not live:
                break
            time.sleep(0.01)
        return killed

    def _drop_worker_row(self, wid: str) -> None:
        if self.store.wal_lost():
            return  # a damaged store records nothing more (the next daemon cleans up)
        self.store.write(lambda db: db.execute("DELETE FROM workers WHERE id=? AND NOT EXISTS "
                                               "(SELECT 1 FROM jobs WHERE worker=? AND state='RUNNING')",
                                               (wid, wid)))
        # A worker that exited 0 while holding a job (it should not) is treated as lost.
        if self.store.one("SELECT 1 FROM jobs WHERE worker=? AND state='RUNNING'", (wid,)):
            self.lost_worker(wid, f"worker {wid} exited while running a job")

    # ---- dependencies ------------------------------------------------------------------

    def release_dependents(self) -> None:
        # CROSS JOIN keeps deps (a few rows) the outer loop: driven from jobs' state index it
        # read every PENDING job each pass, 140 ms a second with a held 1M-task array.
        heads = self.store.read("SELECT DISTINCT d.job_id FROM deps d CROSS JOIN jobs j "
                                "ON j.id=d.job_id WHERE j.state='PENDING'")
        for (head,) in heads:
            deps = self.store.read("SELECT dep_id, kind FROM deps WHERE job_id=?", (head,))
            verdict, reason = judge_dependencies(
                (f"{abs(dep_id)}{'[]' if dep_id < 0 else ''}",
                 dependency_state(kind, self._dep_states(dep_id) or ["CANCELLED"]))
                for dep_id, kind in deps)
            if verdict == "cancel":
                self._set_batch(head, "CANCELLED", reason, time.time())
            elif verdict == "release":
                self._set_batch(head, "QUEUED", None, None, only_unheld=True)

    def _dep_states(self, dep_id: int) -> list[str]:
        """The states of what a dependency waits for (a negative id: every task of an array).
        ``dependency_state`` needs only which states occur, so an array costs one probe of
        the (array_id, state) index per state, never a read of its tasks."""
        if dep_id < 0:  # (an array cancelled whole counts as cancelled before its rows are)
            return local_jobs.array_states(self.store, -dep_id)
        return list(local_jobs.job_states(self.store, [dep_id]).values())

    def _set_batch(self, head: int, state: str, reason: str | None, ended: float | None,
                   only_unheld: bool = False) -> None:
        held = " AND held=0" if only_unheld else ""

        def tx(db):
            is_array = db.execute("SELECT array_id FROM jobs WHERE id=?", (head,)).fetchone()
            where = "array_id=?" if is_array and is_array[0] == head else "id=?"
            db.execute(f"UPDATE jobs SET state=?, reason=?, ended=? WHERE {where} AND state='PENDING'{held}",
                       (state, reason, ended, head))
            if state == "CANCELLED" or not db.execute(
                    f"SELECT 1 FROM jobs WHERE {where} AND state='PENDING' LIMIT 1", (head,)).fetchone():
                db.execute("DELETE FROM deps WHERE job_id=?", (head,))

        self.store.write(tx)

    # ---- scaling -----------------------------------------------------------------------

    def scale(self) -> None:
        """Observe the store, decide with ``core.scaling.decide`` (the aws scaler's decision),
        then act: start the workers it launches (at most MAX_SPAWN_PER_LOOP a pass), ask idle
        workers of pairs with nothing to do to give their vCPUs back, and record why each
        pair's queued jobs wait (the ``status:`` rows qstat shows)."""
        pairs, _clusters, regions = self._pairs()
        if not pairs:
            return
        observed, idle = self._observe(pairs)
        cpu = os.cpu_count() or 1
        slots = {r: scaling.local_region_slots(spec.get("worker_slots"), cpu)
                 for r, spec in regions.items()}
        decisions = scaling.decide(pairs, observed, region_slots=slots)
        busy_pairs = {key for key, o in observed.items() if o.queued}
        status: dict[str, dict] = {}
        spawned = 0
        for p, d in zip(pairs, decisions, strict=True):
            o = observed[(p.queue, p.definition)]
            current = sum(o.workers.get(r, 0) for r in p.weights)
            if o.queued == 0 and o.running == 0 and current == 0:
                continue
            launched = {x.region: x.count for x in d.launches}
            starting = 0
            for r, n in sorted(d.split.items()):
                if n - o.workers.get(r, 0) > launched.get(r, 0):
                    # Short of vCPUs: an idle worker of a pair with nothing to do gives its back.
                    self._stop_one_idle(idle, busy_pairs, p,
                                        [(q, dd, pid) for q, dd, pid in idle.get((p.cluster, r), [])])
                add = min(launched.get(r, 0), MAX_SPAWN_PER_LOOP - spawned)
                self.launcher.start(p.queue, p.definition, r, add, vcpus=p.vcpus)
                spawned += add
                starting += add
            if d.limited and not d.launches and o.queued:
                # At the queue's max_running: an idle worker of another definition of the queue
                # with nothing to do makes room.
                self._stop_one_idle(idle, busy_pairs, p, [x for xs in idle.values() for x in xs
                                                          if x[0] == p.queue])
            queue_running = None
            if p.max_running and o.queued:
                queue_running = self.store.one("SELECT count(*) FROM jobs WHERE queue=? AND "
                                               "state='RUNNING'", (p.queue,))[0]
            status[f"status:{p.queue}/{p.definition}"] = {
                "backlog": o.queued, "running": o.running, "workers": current + starting,
                "desired": d.desired, "cap": d.cap,
                "split": {r: d.split.get(r, 0) for r in p.weights},
                "reason": queued_reason(
                    backlog=o.queued, cluster=p.cluster, definition=p.definition,
                    max_vcpus=p.max_vcpus, vcpus=p.vcpus, cap=d.cap, workers=current,
                    starting=starting, ratio=p.ratio, queue_running=queue_running,
                    max_running=p.max_running)}
        self._write_status(status)

    def _observe(self, pairs: list[Pair]) -> tuple[dict[tuple[str, str], scaling.PairObservation],
                                                  dict[tuple[str, str], list[tuple[str, str, int]]]]:
        """Each pair's queued and running jobs (counted up to what could matter) and workers
        per region with the vCPUs they hold; and the idle workers per (cluster, region)."""
        by_pair = {(p.queue, p.definition): p for p in pairs}
        workers: dict[tuple[str, str], dict[str, int]] = {}
        vcpus: dict[tuple[str, str], dict[str, int]] = {}
        idle: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        for w in self.launcher.live():
            pid, q, d, r, v, state = w.pid, w.queue, w.definition, w.region, w.vcpus, w.state
            p = by_pair.get((q, d))
            if p is None:
                continue
            per = workers.setdefault((q, d), {})
            per[r] = per.get(r, 0) + 1
            held = vcpus.setdefault((q, d), {})
            held[r] = held.get(r, 0) + (v or 1)
            if state == "IDLE" and pid:
                idle.setdefault((p.cluster, r), []).append((q, d, pid))
        observed = {}
        for p in pairs:
            key = (p.queue, p.definition)
            live = sum(1 for w in p.weights.values() if w > 0)
            cap = scaling.worker_cap(p.max_vcpus, p.vcpus) * max(1, live)
            observed[key] = scaling.PairObservation(
                queued=self._count("QUEUED", p, limit=cap * math.ceil(p.ratio) + 1),
                running=self._count("RUNNING", p, limit=cap + 1),
                workers=workers.get(key, {}), vcpus=vcpus.get(key, {}))
        return observed, idle

    def _stop_one_idle(self, idle: dict[tuple[str, str], list[tuple[str, str, int]]],
                       busy_pairs: set[tuple[str, str]], p: Pair,
                       candidates: list[tuple[str, str, int]]) -> None:
        """SIGTERM the first idle worker of ``candidates`` whose pair has nothing queued (not
        ``p``'s own); it exits and its vCPUs are free at the next pass."""
        for q, d, pid in candidates:
            if (q, d) in busy_pairs or (q, d) == (p.queue, p.definition):
                continue
            wid = self.children.get(pid)
            if wid is None:  # not this daemon's child: never signalled (a recycled pid)
                continue
            self.launcher.stop([wid])
            for key, xs in idle.items():
                idle[key] = [x for x in xs if x[2] != pid]
            return

    def _count(self, state: str, p: Pair, *, limit: int) -> int:
        row = self.store.one("SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state=? AND queue=? "
                             "AND definition=? AND (state != 'QUEUED' OR worker IS NULL) "  # reserved: taken
                             f"AND NOT {local_jobs.WAITING_IN_CANCELLED} LIMIT ?)",  # cancelled whole
                             (state, p.queue, p.definition, limit))
        return row[0] if row else 0

    def _write_status(self, status: dict[str, dict]) -> None:
        if not status:
            return
        new = {k: json.dumps(v, sort_keys=True) for k, v in status.items()}
        old = dict(self.store.read("SELECT key, value FROM meta WHERE key LIKE 'status:%'"))
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        if changed:
            self.store.write(lambda db: db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)",
                                                       list(changed.items())))

    # ---- metrics and retention ---------------------------------------------------------

    def sample_metrics(self, now: float) -> None:
        dt = now - self.last_metrics if self.last_metrics else METRICS_EVERY_S
        rows: list[tuple[float, str, str, float]] = []
        if now >= self.next_state_counts:
            # Counting the active jobs reads one index entry per job (240 ms for a held
            # 1M-task array): it is sampled at most every METRICS_EVERY_S and spaced so that
            # it takes at most STATE_COUNTS_SHARE of the daemon's time.
            t0 = time.perf_counter()
            for q, st, n in self.store.read("SELECT queue, state, count(*) FROM jobs WHERE state "
                                            "IN ('PENDING','QUEUED','RUNNING') GROUP BY queue, state"):
                rows.append((now, f"jobs_{st.lower()}", q, n))
            self.next_state_counts = now + (time.perf_counter() - t0) / STATE_COUNTS_SHARE
        max_id = (self.store.one("SELECT seq FROM sqlite_sequence WHERE name='jobs'") or (0,))[0]
        if self.last_max_id:
            rows.append((now, "submitted_per_s", "", max(0, max_id - self.last_max_id) / dt))
        self.last_max_id = max_id
        since = self.last_metrics or now - dt
        # INDEXED BY: left to itself SQLite scans every job through (queue, state) for this.
        for q, n in self.store.read("SELECT queue, count(*) FROM jobs INDEXED BY jobs_ended "
                                    "WHERE ended IS NOT NULL AND ended > ? GROUP BY queue", (since,)):
            rows.append((now, "finished_per_s", q, n / dt))
        for r, n, v in self.store.read("SELECT region, count(*), sum(vcpus) FROM workers "
                                       "GROUP BY region"):
            rows.append((now, "workers", r, n))
            rows.append((now, "vcpus", r, v or 0))
        for d, n in self.store.read("SELECT definition, count(*) FROM jobs WHERE state='QUEUED' "
                                    "GROUP BY definition"):
            rows.append((now, "backlog", d, n))
        self.last_metrics = now
        if rows:
            self.store.write(lambda db: db.executemany("INSERT INTO metrics VALUES (?,?,?,?)", rows))

    def purge(self, now: float) -> None:
        self.last_purge = now
        days = float(self.settings.get("job_retention_days", 30))
        cutoff = now - days * 86400

        def tx(db):
            ids = [r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE ended IS NOT NULL AND ended < ? AND state IN "
                "('SUCCEEDED','FAILED','CANCELLED') LIMIT 100000", (cutoff,))]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM attempts WHERE job_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM events WHERE job_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
            db.execute("DELETE FROM specs WHERE id NOT IN (SELECT spec_id FROM jobs)")
            db.execute("DELETE FROM arrays WHERE id NOT IN (SELECT id FROM jobs)")
            db.execute("DELETE FROM metrics WHERE ts < ?", (cutoff,))
            return ids

        ids = self.store.write(tx)
        for jid in ids:
            with contextlib.suppress(OSError):
                log_path(self.data_dir, jid).unlink()
        if ids:
            _log(f"purged {len(ids)} job(s) finished more than {days:g} days ago")

    # ---- shutdown ----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop workers: their running jobs are killed and requeued without using a retry."""
        for pid in list(self.children):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.children and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for pid, wid in list(self.children.items()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            self.lost_worker(wid, f"worker {wid} did not stop in time")
        self._finish_old_workers(deadline)
        self.reap()
        self.store.close()


# --------------------------------------------------------------------------------------------


def _log(msg: str) -> None:
    try:
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # the log is on a full disk: keep scheduling


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _group_belongs_to(pgid: int, run_file: Path) -> bool:
    """True if the process group ``pgid`` named in a worker's run file is still the job's: its
    leader lives on this host and started before the file was last written (a group id reused
    by a later process has a later start)."""
    who = procs.identity(pgid)
    if who is None:
        return False
    try:
        written = os.stat(run_file).st_mtime
    except OSError:
        return False
    return procs.started_at(who) <= written + 1.0


def _become_subreaper() -> None:
    """Orphans of dead workers' jobs are re-parented to the daemon, which reaps them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def pid_file(host: str) -> Path:
    """``daemon.pid``: ``pid start-time host`` of the running daemon (``procs.Identity``)."""
    return paths.host_data_dir(host) / "daemon.pid"


def lock_file(host: str) -> Path:
    return paths.host_data_dir(host) / "daemon.lock"


def run_daemon(host: str) -> int:
    """Run the host's daemon (one per host: a lock); the exit code. State another user owns or
    can write, or an unreadable store, is refused with one line in the log (exit 6)."""
    try:
        return _run_daemon(host)
    except HyperError as err:
        _log(f"daemon for host {host} cannot start: {err}")
        return err.exit_code


def _run_daemon(host: str) -> int:
    paths.ensure_private_dir(paths.host_data_dir(host))
    lock_fd = os.open(lock_file(host), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _log(f"a daemon for host {host} is already running")
        with contextlib.suppress(OSError):
            marker = paths.host_data_dir(host) / "daemon.starting"
            starting = procs.read_identity(marker)
            if starting is not None and starting.pid == os.getpid():
                marker.unlink()
        return 0
    # A stop may come as soon as the pid file exists, before the loop handles signals: it is
    # kept, so that the previous daemon's workers are still stopped (SIGTERM's default would
    # end this process there and then, leaving them running).
    early: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: early.append(signum))
    me = procs.identity()
    paths.atomic_write_text(pid_file(host), f"{me.line() if me else os.getpid()}\n")
    with contextlib.suppress(OSError):
        (paths.host_data_dir(host) / "daemon.starting").unlink()
    _log(f"daemon for host {host} started (pid {os.getpid()}, containment: "
         f"{containment.mechanism()})")
    try:
        daemon = Daemon(host)
        if daemon._store_damaged(full=True):
            daemon.store.close()
            return EXIT_UNAVAILABLE
        clear_damaged(str(daemon.data_dir))  # checked healthy: accept work again
        signal.signal(signal.SIGTERM, daemon._on_term)
        signal.signal(signal.SIGINT, daemon._on_term)
        daemon.stopping = bool(early)
        daemon.run()
    finally:
        with contextlib.suppress(OSError):
            pid_file(host).unlink()
        _log(f"daemon for host {host} stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hyper_tui.local.daemon")
    p.add_argument("--host", required=True)
    args = p.parse_args(argv)
    return run_daemon(args.host)


if __name__ == "__main__":
    sys.exit(main())
