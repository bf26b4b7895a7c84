"""Helpers of the fault-injection tests: a configured local host, store reads, the invariants
every run must keep, and the process table (/proc) checks.

Every wait polls with a generous deadline: the machine has two cores and other suites run at
the same time, so nothing here asserts on a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hyper_tui import paths
from hyper_tui.core.jobs import FINAL_STATES
from hyper_tui.local.store import Store

SCALE = float(os.environ.get("HYPER_RELIABILITY_SCALE", "1") or "1")


def scaled(n: int, minimum: int = 1) -> int:
    """``n`` times HYPER_RELIABILITY_SCALE (default 1 = the issue's sizes)."""
    return max(minimum, int(round(n * SCALE)))


def deadline_for(jobs: int, per_s: float = 40.0, base: float = 120.0) -> float:
    """A generous time limit for ``jobs`` short jobs on a slow, shared machine."""
    return base + jobs / per_s


@dataclass
class RelHost:
    """The local host of one test, configured for fault injection."""

    name: str
    marker: str                      # a value in every job's environment (RELIABILITY_RUN)
    workers: int
    lease: float
    faults: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return paths.host_data_dir(self.name)

    @property
    def store_path(self) -> Path:
        return paths.store_path(self.name)

    def store(self) -> Store:
        return Store(self.store_path, create=False)

    def rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        s = self.store()
        try:
            return s.read(sql, args)
        finally:
            s.close()

    def daemon_pid(self) -> int | None:
        from hyper_tui.local.daemon_control import daemon_pid

        return daemon_pid(self.name)

    def worker_pids(self) -> dict[str, int]:
        return {wid: pid for wid, pid in self.rows("SELECT id, pid FROM workers WHERE pid IS NOT NULL")}

    def qsub_env_args(self) -> list[str]:
        return ["-v", f"RELIABILITY_RUN={self.marker}"]


def make_host(*, workers: int = 4, lease: float = 4.0, idle: float = 30.0) -> RelHost:
    """Create the default local host in the current HYPER_HOME with ``workers`` worker slots,
    a short lease (so lost workers are noticed quickly) and the given idle timeout."""
    from hyper_tui import config
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    registry.resolve(None)  # first use: creates host "local"
    cfg = config.load("local")
    cfg.clusters["default"].max_vcpus = workers
    cfg.clusters["default"].compute_envs = 1
    cfg.host.settings.lease_seconds = lease
    cfg.host.settings.worker_idle_timeout_s = idle
    config.save(cfg)
    apply_config(cfg)
    return RelHost(name="local", marker=uuid.uuid4().hex, workers=workers, lease=lease)


def qsub(*args: str) -> tuple[int, str, str]:
    """``qsub`` in-process (through ``run_main``, like the command line), capturing output."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from hyper_tui.qcmd import qsub as qsub_mod

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = qsub_mod.main(list(args))
    return code, out.getvalue(), err.getvalue()


def qdel(*args: str) -> tuple[int, str, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from hyper_tui.qcmd import qdel as qdel_mod

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = qdel_mod.main(list(args))
    return code, out.getvalue(), err.getvalue()


def submit(h: RelHost, *args: str, retries: int = 0) -> int:
    """``qsub ARGS`` of one job on ``h`` (its marker in the job's environment, ``retries``
    retries); the job's id. A refused submission fails the test with qsub's message."""
    code, out, err = qsub(*h.qsub_env_args(), "-r", str(retries), *args)
    assert code == 0, err
    return int(out.strip())


def wait_running(h: RelHost, n: int, *, timeout: float = 60) -> None:
    """Until at least ``n`` jobs of ``h`` are RUNNING."""
    wait_until(lambda: h.rows("SELECT count(*) FROM jobs WHERE state='RUNNING'")[0][0] >= n,
               timeout=timeout, what=f"{n} running jobs")


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2):
    """``predicate()``'s first true value, polled every ``interval`` s (tests.conftest.wait_for)."""
    from tests.conftest import wait_for

    return wait_for(predicate, timeout=timeout, interval=interval, what=what)


def state_counts(h: RelHost) -> Counter:
    return Counter(dict(h.rows("SELECT state, count(*) FROM jobs GROUP BY state")))


def wait_all_final(h: RelHost, expected: int, *, timeout: float, on_tick=None) -> Counter:
    """Poll until ``expected`` jobs exist and every one is final; ``on_tick(counts)`` runs on
    each poll (the fault injectors use it)."""
    end = time.monotonic() + timeout
    counts: Counter = Counter()
    while time.monotonic() < end:
        counts = state_counts(h)
        if sum(counts.values()) >= expected and all(s in FINAL_STATES for s in +counts):
            return counts
        if on_tick:
            on_tick(counts)
        time.sleep(0.1 if on_tick else 0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s: jobs by state {dict(counts)}")


@dataclass
class Audit:
    jobs: int
    by_state: Counter
    lost: int                 # jobs missing, or not in exactly one final state
    duplicated: int           # jobs with more than one succeeded attempt
    disagree: list[str]       # jobs whose row and attempts disagree
    attempts: int             # attempt rows in total
    lost_attempts: int        # attempts ended by a lost worker (requeued or failed)

    def line(self, name: str, faults: int, extra: str = "") -> str:
        return (f"RELIABILITY {name}: jobs={self.jobs} faults={faults} lost={self.lost} "
                f"duplicated={self.duplicated} attempts={self.attempts} "
                f"requeued_after_lost_worker={self.lost_attempts} "
                f"states={dict(sorted(self.by_state.items()))}{(' ' + extra) if extra else ''}")


def audit(h: RelHost, expected_ids: list[int] | None = None, *, exact_attempts: bool = True) -> Audit:
    """Check the invariants of a finished run from the store.

    * every job is in exactly one final state; none of ``expected_ids`` is missing;
    * at most one attempt per job has outcome ``succeeded``, and the job is SUCCEEDED exactly
      when its last attempt succeeded; a CANCELLED or FAILED job has no succeeded attempt;
    * (``exact_attempts``) the attempts are counted: the job's ``attempts`` equals its number
      of attempt rows, numbered 1..n.
    """
    jobs = {jid: (state, attempts) for jid, state, attempts in
            h.rows("SELECT id, state, attempts FROM jobs")}
    per_job: dict[int, list[tuple[int, str | None]]] = {}
    for jid, attempt, outcome in h.rows("SELECT job_id, attempt, outcome FROM attempts ORDER BY job_id, attempt"):
        per_job.setdefault(jid, []).append((attempt, outcome))
    lost = 0
    if expected_ids is not None:
        lost += len(set(expected_ids) - set(jobs))
    disagree: list[str] = []
    duplicated = 0
    lost_attempts = 0
    for jid, (state, n) in jobs.items():
        if state not in FINAL_STATES:
            lost += 1
            disagree.append(f"{jid}: not final ({state})")
            continue
        rows = per_job.get(jid, [])
        outcomes = [o for _, o in rows]
        lost_attempts += outcomes.count("lost")
        ok = outcomes.count("succeeded")
        if ok > 1:
            duplicated += 1
            disagree.append(f"{jid}: {ok} succeeded attempts {rows}")
        if state == "SUCCEEDED" and (not rows or rows[-1][1] != "succeeded"):
            disagree.append(f"{jid}: SUCCEEDED but last attempt is {rows[-1:] or 'missing'}")
        if state != "SUCCEEDED" and ok:
            disagree.append(f"{jid}: {state} but an attempt succeeded {rows}")
        if exact_attempts and [a for a, _ in rows] != list(range(1, n + 1)):
            disagree.append(f"{jid}: attempts={n} but attempt rows {rows}")
    return Audit(jobs=len(jobs), by_state=Counter(s for s, _ in jobs.values()), lost=lost,
                 duplicated=duplicated, disagree=disagree, attempts=sum(len(v) for v in per_job.values()),
                 lost_attempts=lost_attempts)


def assert_succeeded_attempts_ran(h: RelHost, head: int, ran: Path) -> None:
    """Every task of array ``head`` that SUCCEEDED really ran, in the attempt recorded as its
    succeeded one (``ran``: a line ``<index> <attempt>`` per run, as the tasks wrote it)."""
    executed = {tuple(map(int, line.split())) for line in ran.read_text().split("\n") if line}
    for idx, attempts in h.rows("SELECT idx, attempts FROM jobs WHERE array_id=? AND state='SUCCEEDED'",
                                (head,)):
        assert (idx, attempts) in executed, f"task {idx} SUCCEEDED in attempt {attempts} but never ran it"


# --------------------------------------------------------------------------------------------
# The process table


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of ``pid`` from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[1]), int(fields[2])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def pids_with_env(marker: str) -> list[int]:
    """Live processes whose environment holds RELIABILITY_RUN=marker and HYPER_JOB_ID (the jobs
    of this test's host and whatever they started)."""
    want = f"RELIABILITY_RUN={marker}".encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if want in env and any(e.startswith(b"HYPER_JOB_ID=") for e in env) and alive(int(name)):
            out.append(int(name))
    return out


def children_of(pids: set[int]) -> list[tuple[int, int, str]]:
    """(pid, ppid, state) of every process whose parent is in ``pids``."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[1] in pids:
                out.append((int(name), st[1], st[0]))
    return out


def cmdline(pid: int) -> str:
    """The command line of ``pid`` (arguments joined by spaces); "" when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def process_tree(pid: int) -> set[int]:
    """``pid`` and every live descendant of it."""
    from hyper_tui.containment import descendants

    return {pid} | descendants({pid})


def _cmd(pid: int) -> str:
    cmd = cmdline(pid)[:80]
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return cmd or fh.read().strip()
    except OSError:
        return cmd or "?"


def zombies_of(pids: set[int]) -> list[tuple[int, int, str]]:
    return [c for c in children_of(pids) if c[2] == "Z"]


def assert_no_leftovers(h: RelHost, *, timeout: float = 30.0) -> None:
    """No job process of this host survives, and no zombie lingers under its daemon or workers
    (a zombie may exist for an instant before it is reaped: poll)."""
    wait_until(lambda: not pids_with_env(h.marker), timeout=timeout,
               what="every job process of the host to be gone")

    def no_zombies():
        owners = set(h.worker_pids().values())
        d = h.daemon_pid()
        if d:
            owners.add(d)
        z = zombies_of(owners)
        return True if not z else (False, [(pid, ppid, _cmd(pid), _cmd(ppid)) for pid, ppid, _ in z])

    wait_until(lambda: no_zombies() is True, timeout=timeout,
               what=f"no zombie under the daemon or its workers {no_zombies()}")


def kill(pid: int, sig: int = signal.SIGKILL) -> bool:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        return True
    return False


def integrity_ok(h: RelHost) -> str:
    return h.rows("PRAGMA integrity_check")[0][0]


def holds_write_lock(pid: int, shm: Path) -> bool:
    """True if ``pid`` holds SQLite's WAL write lock (an exclusive POSIX lock on byte 120 of the
    ``-shm`` file), i.e. it is inside a write transaction."""
    try:
        inode = shm.stat().st_ino
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False
    for line in lines:
        parts = line.split()
        if "->" in parts:
            continue  # a waiter, not a holder
        try:
            i = parts.index("POSIX")
            mode, owner, dev, start = parts[i + 2], int(parts[i + 3]), parts[i + 4], parts[i + 5]
        except (ValueError, IndexError):
            continue
        if owner == pid and mode == "WRITE" and dev.endswith(f":{inode}") and start == "120":
            return True
    return False


# --------------------------------------------------------------------------------------------
# Escapes: a job's processes that leave its environment, session and group


# Four escapes, each writing its pid: none carries the job's environment, group or session.
ESCAPES = r"""
env -i setsid sleep 300 & echo $! >> {pids}
nohup sleep 301 >/dev/null 2>&1 & echo $! >> {pids}
( setsid sh -c 'echo $$ >> {pids}; exec sleep 302' & )
python3 -c '
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.environ.clear()
        open("{pids}", "a").write(f"{{os.getpid()}}\n")
        time.sleep(300)
    os._exit(0)
'
while [ "$(wc -l < {pids})" -lt 4 ]; do sleep 0.05; done
"""
ESCAPEES = 4


def escapees(files: list[Path]) -> list[int]:
    """The pids the escapes wrote into ``files`` (one file per job)."""
    return [int(p) for f in files if f.exists() for p in f.read_text().split()]


def leaked_escapees(files: list[Path], timeout: float = 15.0) -> int:
    """Escapees still alive once the jobs are final (polled: the kill is not instant)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = [p for p in escapees(files) if alive(p)]
        if not left:
            return 0
        time.sleep(0.1)
    return len([p for p in escapees(files) if alive(p)])


def wait_escapees_started(files: list[Path]) -> None:
    wait_until(lambda: all(f.exists() and len(f.read_text().split()) >= ESCAPEES for f in files),
               timeout=60, what="every job's escapees to start")
