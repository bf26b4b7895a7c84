"""The worker agent: reserve -> start (re-check) -> heartbeat -> report each result -> exit
when idle.

One loop for local workers, AWS Batch containers and on-premise machines; a Transport hides
where jobs come from (SQLite locally, SQS + DynamoDB on AWS). Standard library only.

What a job's state promises (docs/ARCHITECTURE.md, "Jobs: what a state promises") is kept
here, whatever the transport:

* A worker may *reserve* a few jobs ahead (one round trip for several short jobs), but a
  reserved job stays QUEUED and cancellable. It becomes RUNNING only in ``Transport.start``,
  which re-checks it right before its process starts: a job cancelled while reserved never
  starts. A job that turns out long gives the reservations behind it back (``release``), so
  no job waits behind another one (head-of-line).
* Each result is recorded as soon as its job ends: alone (``report``), or in the same round
  trip that starts the next reserved job (``start(next, finished=result)``), never later.
* A running job's output and SYSTEM records reach the transport at least every
  ``LOG_FLUSH_S`` (``flush_logs``); a job shorter than that writes them with its result (a
  silent short job costs no extra write). Output past the transport's ``log_cap`` bytes is
  dropped with one SYSTEM note.

A job runs as its own process group (session) inside its sandbox (``containment``: a cgroup
per job where the machine offers one, else its group, descendants and what is re-parented to
the worker, a child subreaper). Timeout and cancellation send the group SIGTERM, SIGKILL after
the grace period; when the job ends, every process of its sandbox is killed, whatever it did to
its session, group or environment, and its limits (ulimits, memory, vCPUs) held throughout.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from stat import S_IMODE, S_ISDIR
from typing import Any, Protocol

from hyper_tui import containment
from hyper_tui.containment import Limits, Sandbox, first_report
from hyper_tui.core.params import substitute
from hyper_tui.core.submit import ERROR_FILE_ENV, OUTPUT_FILE_ENV

KILL_GRACE_S = 3.0
RETRY_MAX_S = 5.0           # longest pause between two tries of an unavailable store
FINAL_REPORT_S = 60.0       # how long a stopping worker keeps trying to report its results
CANCEL_POLL_S = 0.25
METRICS_EVERY_S = 10.0
LOG_FLUSH_S = 0.25          # a running job's records reach the transport at least this often
HANDBACK_AFTER_S = 0.1      # a job running this long gives the reservations behind it back
RESERVE_AHEAD_S = 0.025     # short jobs are reserved about this much work ahead (at most max_batch)
LOG_CAP_BYTES = 1 << 30     # output kept per job when the transport names no ``log_cap``
MAX_LINE_BYTES = 1 << 20    # a longer line (no newline yet) is recorded in pieces of this size
BASE_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL")


@dataclass
class Claim:
    """One job reserved by this worker (still QUEUED), and, once ``Transport.start`` said yes,
    its running attempt ``attempt``."""

    job_id: str                  # display id: "42" or "42[7]"
    key: str                     # the transport's own key of the job (row id, item id)
    attempt: int
    queue: str
    definition: str
    name: str
    command: str | None = None
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    array_index: int | None = None
    params: dict | None = None
    retries: int = 0
    retry_exit_codes: tuple[int, ...] = ()
    keep_output: bool = True
    receipt: object = None       # transport-specific (SQS receipt handle)
    # The definition's limits (``hyper_tui.model.Definition``), enforced by the job's sandbox.
    ulimits: tuple[dict, ...] = ()   # {"name": "nofile", "soft_limit": 256, "hard_limit": 256}
    memory_mib: int | None = None
    vcpus: int | None = None


@dataclass
class Result:
    claim: Claim
    outcome: str                 # exit | timeout | cancelled | interrupted | error
    exit_code: int | None
    started: float
    ended: float
    detail: str = ""


class Transport(Protocol):
    """Where jobs come from and where their states go. Every method is one short round trip
    to the store (or a few), so that each promise above holds at the moment it is made."""

    worker_id: str

    def reserve(self, n: int) -> list[Claim]:
        """Lease up to ``n`` jobs to this worker. They stay QUEUED (cancellable, not counted as
        backlog) until ``start``; the lease lapses if this worker dies or stops."""
        ...

    def start(self, claim: Claim, finished: Result | None = None) -> bool:
        """Record ``finished`` (the previous job's result) if given, then re-check ``claim``
        and mark it RUNNING with its next attempt, in one round trip. False: it was
        cancelled or taken by another worker meanwhile; its process must not start."""
        ...

    def report(self, result: Result) -> None:
        """Record one finished attempt now: its final state (or requeue) and its attempt
        record together, with the SYSTEM records appended so far."""
        ...

    def release(self, claims: list[Claim]) -> None:
        """Give reserved jobs that will not be started back, without an attempt."""
        ...

    def heartbeat(self, running: list[Claim]) -> bool: ...      # False: this worker was declared lost
    def is_cancelled(self, claim: Claim) -> bool: ...
    def append_log(self, claim: Claim, records: list[tuple[float, str, str]]) -> None: ...
    def flush_logs(self) -> None: ...                           # appended records visible now
    def wait_for_work(self, timeout: float) -> None: ...
    def job_started(self, claim: Claim, pgid: int) -> None: ...
    def close(self) -> None: ...
    # Optional: ``transient_errors``, a tuple of exception types meaning "the store cannot be
    # written just now" (disk full, read-only, busy). The agent then keeps its results and
    # retries with backoff instead of dying and losing them. ``log_cap``: bytes of output
    # kept per job (the host's setting; LOG_CAP_BYTES when absent). ``reserve_and_start(n,
    # finished)`` -> (claims, first_started): ``finished`` recorded, up to ``n`` jobs reserved
    # and the first of them started, in one round trip (the local transport has it).


@dataclass
class AgentOptions:
    idle_timeout: float = 30.0
    max_jobs: int | None = None
    heartbeat_every: float = 5.0
    max_batch: int = 32
    base_env: dict[str, str] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    scratch_dir: str | None = None
    # The agent is its process's whole program (``python -m hyper_tui.agent``): it may move
    # itself into its jobs' cgroup. An agent embedded in another program (tests, hyper-tui
    # worker in-process) never does: the program's other children must not share its jobs' fate.
    own_process: bool = False
    # What a job gets instead of the agent's access (``job_credentials.JobAccess``: the job
    # role's credentials, its own uid); None: the agent's environment rules alone.
    job_access: Any = None


class Agent:
    def __init__(self, transport: Transport, options: AgentOptions | None = None) -> None:
        self.t = transport
        self.o = options or AgentOptions()
        self.stopping = False
        self.stop_reason = ""
        self.jobs_done = 0
        self._last_beat = 0.0
        self._pending: list[Result] = []   # results not recorded yet (the store was unavailable)
        self._reserved: deque[Claim] = deque()  # reserved, not started: still QUEUED
        # A transport that can record a result, reserve and start the first job reserved in
        # one round trip (``reserve_and_start``): one transaction a job on the local host.
        self._combined = callable(getattr(transport, "reserve_and_start", None))
        self._prestarted: Claim | None = None  # the first reserved job, RUNNING already
        self.log_cap = int(getattr(transport, "log_cap", None) or LOG_CAP_BYTES)
        self._transient: tuple[type[BaseException], ...] = tuple(
            getattr(transport, "transient_errors", ()))
        self._retry_delay = 0.0
        self.hostname = socket.gethostname()
        self.subreaper = False   # set by adopt_orphans(): leftovers of jobs come back to us
        base = self.o.base_env
        if base is None:
            base = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
        self.base_env = dict(base)
        if "USER" not in base or "LOGNAME" not in base:  # a daemon or container may not set them
            user = _user_name()
            if user:
                self.base_env.setdefault("USER", user)
                self.base_env.setdefault("LOGNAME", user)
        self._tmpdir: str | None = None  # the running job's TMPDIR (removed after the job)
        self._free_tmp: str | None = None  # the next job's TMPDIR, empty (see _job_tmpdir)
        self._tmp_home: str | None = None  # the folder of this worker's jobs' TMPDIRs
        self._euid = os.geteuid()
        self.scratch = self.o.scratch_dir or containment.default_scratch()
        self._exe_cache: dict[tuple[str, str], str] = {}
        self._last_limits: tuple[tuple, Limits] | None = None
        self._derives = bool(getattr(transport, "derives_attempt_lines", False))
        self._devnull = os.open(os.devnull, os.O_RDWR)  # stdin (and muted output) of every job
        try:
            self._home = os.getcwd()  # where a spawn returns to after a job's cwd
        except OSError:
            self._home = "/"

    # ---- lifecycle ---------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        self.stopping = True
        self.stop_reason = reason

    def adopt_orphans(self) -> None:
        """Become a child subreaper, so that every process a job started, even one that left
        its process group, ends up as our child once its parents are gone (Linux only)."""
        self.subreaper = _become_subreaper()

    def install_signal_handlers(self) -> None:
        def on_term(signum, frame):  # spot interruption, daemon shutdown
            self.request_stop(f"worker received {signal.Signals(signum).name}")
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)

    def run(self) -> int:
        """Work until idle for ``idle_timeout`` (or asked to stop); return jobs run."""
        idle_since = time.monotonic()
        batch = 1
        try:
            while not self.stopping:
                self._maybe_heartbeat([])
                if self.o.max_jobs is not None and self.jobs_done >= self.o.max_jobs:
                    break
                if not self._reserved:
                    # The last result rides in the reservation's transaction where the
                    # transport can (``reserve_and_start``); any before it go alone.
                    if not self._flush(keep=1 if self._combined else 0):
                        self._park_tmp()
                        self._backoff()  # results kept; reserve nothing until they are recorded
                        continue
                    if not self._reserve(batch):
                        self._park_tmp()  # no job to start: the last job's TMPDIR name goes
                        if self._pending:  # the store refused the result riding with it
                            self._backoff()  # kept: no idle exit until it is recorded
                            continue
                        if time.monotonic() - idle_since >= self.o.idle_timeout:
                            break
                        try:
                            self.t.wait_for_work(min(0.1, self.o.idle_timeout))
                        except self._transient as err:  # a full disk must not kill the worker
                            self._unavailable("waiting for work", err)
                            self._backoff()
                        continue
                claim = self._reserved[0]
                if claim is self._prestarted:  # started with its reservation
                    self._prestarted, started = None, True
                else:
                    started = self._start(claim)
                if started is None:
                    self._park_tmp()
                    self._backoff()  # the store is unavailable: try the same job again
                    continue
                self._reserved.popleft()
                if not started:
                    continue  # cancelled (or taken) while reserved: it never runs
                t0 = time.monotonic()
                self._pending.append(self.run_one(claim))
                self.jobs_done += 1
                # Short jobs: reserve several at a time, about RESERVE_AHEAD_S of them (a job
                # of higher priority submitted meanwhile waits at most that long behind them);
                # long ones: one at a time, so the others stay free for other workers.
                took = time.monotonic() - t0
                batch = (min(self.o.max_batch, batch * 2, max(1, int(RESERVE_AHEAD_S / max(took, 1e-4))))
                         if took < 0.05 else 1)
                idle_since = time.monotonic()
        finally:
            self._release_reserved()
            if self._tmp_home:
                _remove_tree(self._tmp_home)
                self._tmp_home = self._free_tmp = None
            end = time.monotonic() + FINAL_REPORT_S
            while not self._flush() and time.monotonic() < end:
                self._backoff()
            if self._pending:
                _say(f"could not report {len(self._pending)} result(s); the daemon will requeue "
                     "those jobs")
        return self.jobs_done

    def _reserve(self, batch: int) -> bool:
        want = batch
        if self.o.max_jobs is not None:
            want = min(want, self.o.max_jobs - self.jobs_done)
        try:
            if self._combined:
                finished = self._pending[0] if self._pending else None
                claims, started = self.t.reserve_and_start(want, finished)
                self._pending.clear()
                self._prestarted = claims[0] if started else None
            else:
                claims = self.t.reserve(want)
            self._reserved.extend(claims)
        except self._transient as err:
            self._unavailable("reserving jobs", err)
            return False
        self._retry_delay = 0.0
        return bool(self._reserved)

    def _start(self, claim: Claim) -> bool | None:
        """Start ``claim`` in the transport, recording the last result in the same round trip;
        None if the store cannot be written just now (nothing changed, results kept)."""
        if len(self._pending) > 1 and not self._flush():
            return None
        finished = self._pending[0] if self._pending else None
        try:
            ok = self.t.start(claim, finished)
        except self._transient as err:
            self._unavailable(f"start of job {claim.job_id}", err)
            return None
        self._pending.clear()
        self._retry_delay = 0.0
        return ok

    def _release_reserved(self) -> None:
        """Give back what this worker reserved and will not start (stopping, or a long job)."""
        if not self._reserved:
            return
        claims = list(self._reserved)
        self._reserved.clear()
        try:
            self.t.release(claims)
        except self._transient as err:  # their leases lapse by themselves
            self._unavailable(f"release of {len(claims)} reserved job(s)", err,
                              then="their leases lapse by themselves")

    def _flush(self, keep: int = 0) -> bool:
        """Record the pending results (all but the last ``keep``), each in its own round trip;
        False (and the unrecorded ones kept) if the store cannot be written just now."""
        while len(self._pending) > keep:
            result = self._pending[0]
            try:
                self.t.report(result)
            except self._transient as err:
                self._unavailable(f"report of job {result.claim.job_id}", err)
                return False
            self._pending.pop(0)
            self._retry_delay = 0.0
        return True

    def _unavailable(self, what: str, err: BaseException, *, then: str = "will retry") -> None:
        if not self._retry_delay:  # once per outage, not once per try
            _say(f"{what} failed, {then}: {err}")
        # Never wait longer than a heartbeat interval: once the store is back, the worker must
        # beat (and report) well within its lease, or it would be taken for lost.
        cap = max(0.05, min(RETRY_MAX_S, self.o.heartbeat_every))
        self._retry_delay = min(cap, max(0.05, self._retry_delay * 2))

    def _backoff(self) -> None:
        time.sleep(self._retry_delay or 0.05)

    def _is_cancelled(self, c: Claim) -> bool:
        try:
            return self.t.is_cancelled(c)
        except self._transient as err:
            self._unavailable("cancellation check", err)
            return False

    def _maybe_heartbeat(self, running: list[Claim]) -> None:
        now = time.monotonic()
        if now - self._last_beat >= self.o.heartbeat_every:
            self._last_beat = now
            try:
                alive = self.t.heartbeat(running)
            except self._transient as err:  # the lease covers a short outage; try again later
                self._unavailable("heartbeat", err)
                return
            if not alive:
                self.request_stop("this worker was declared lost (missed heartbeats)")

    # ---- one job -----------------------------------------------------------------------

    def job_env(self, c: Claim) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(self.o.extra_env)
        env.update(c.env or {})
        idx = "" if c.array_index is None else str(c.array_index)
        env.update({
            "HYPER_JOB_ID": c.job_id, "HYPER_JOB_NAME": c.name, "HYPER_ARRAY_INDEX": idx,
            "HYPER_ATTEMPT": str(c.attempt), "HYPER_QUEUE": c.queue,
            "HYPER_DEFINITION": c.definition, "HYPER_WORKER_ID": self.t.worker_id,
            "PBS_JOBID": c.job_id, "PBS_JOBNAME": c.name, "PBS_ARRAY_INDEX": idx,
            "PBS_QUEUE": c.queue, "LSB_JOBID": c.job_id, "LSB_JOBINDEX": idx or "0",
            "AWS_BATCH_JOB_ARRAY_INDEX": idx, "AWS_BATCH_JOB_ATTEMPT": str(c.attempt),
        })
        if self._tmpdir:
            env["TMPDIR"] = self._tmpdir
        return env

    def _command(self, c: Claim) -> tuple[list[str], str | None]:
        """The argv to run, and a temporary script file to remove afterwards."""
        if c.command is None:
            return list(c.argv or ["true"]), None
        text = substitute(c.command, c.params or {})
        args = list(c.argv or [])
        # Never in argv (``ps`` shows it to every local user): the text may hold ``-p`` values
        # (qsub substitutes them into it), and those may be secrets. It runs from a 0700 file
        # in the scratch folder instead, removed when the job ends.
        fd, path = tempfile.mkstemp(prefix=f"hyper-{c.key}-", suffix=".job", dir=self.scratch)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o700)
        if text.startswith("#!"):
            return [path, *args], path
        # ``$0`` stays the job's name and ``$@`` its arguments, as with ``sh -c``.
        return ["/bin/sh", "-c", '__hyper_script=$1; shift; . "$__hyper_script"', c.name, path,
                *args], path

    def _resolve(self, argv: list[str], c: Claim) -> list[str]:
        """argv with its program resolved along the job's PATH once (cached), so the child
        does one execve instead of trying every PATH entry: this matters for tiny jobs."""
        prog = argv[0]
        if "/" in prog:
            return argv
        path = (c.env or {}).get("PATH") or self.base_env.get("PATH") or os.defpath
        key = (prog, path)
        found = self._exe_cache.get(key)
        if found is None:
            import shutil

            found = shutil.which(prog, path=path) or prog
            if len(self._exe_cache) > 256:
                self._exe_cache.clear()
            self._exe_cache[key] = found
        return [found, *argv[1:]]

    def run_one(self, c: Claim) -> Result:
        """Run one started job, with its own TMPDIR (emptied and taken away afterwards,
        whatever happened)."""
        self._tmpdir = self._job_tmpdir(c)
        try:
            return self._run_job(c)
        finally:
            if self._tmpdir:
                self._keep_tmpdir(self._tmpdir)
                self._tmpdir = None

    # A job's TMPDIR is ``<scratch>/hyper-worker-<id>-<tag>/hyper-job-<key>``: one directory
    # of this worker's, renamed for each job, inside a folder of the worker's own (0711: others
    # may pass through to a job run under another uid, never list it). One rename a job in a
    # folder no other process writes, instead of a mkdir and an rmdir in a shared /tmp (each
    # a journalled inode allocation or release, under the folder's lock). A job that leaves
    # the directory empty and unchanged hands it on (``_free_tmp``): the next job's start
    # renames it from the last job's name to its own, and a worker left with no job to start
    # renames it to ``free`` at once (``_park_tmp``). A job that leaves anything there, or
    # changes the directory, has it removed as soon as it ends. The worker's folder goes with
    # the worker (the daemon removes that of a worker it finds dead: ``containment``).

    def _job_tmpdir(self, c: Claim) -> str | None:
        home = self._tmp_home or self._make_tmp_home()
        if home is None:
            return _job_tmpdir(self.scratch, c)
        path = f"{home}/hyper-job-{c.key}"
        free, self._free_tmp = self._free_tmp, None
        try:
            if free is not None:
                os.rename(free, path)
            else:
                os.mkdir(path, 0o700)
            return path
        except OSError:
            if free is not None:
                _remove_tree(free)
            return _job_tmpdir(self.scratch, c)

    def _make_tmp_home(self) -> str | None:
        self._tmp_home = containment.new_tmp_home(self.scratch, self.t.worker_id)
        return self._tmp_home

    def _keep_tmpdir(self, path: str) -> None:
        """A finished job's TMPDIR: kept for the next job if the job left it as it got it
        (an empty 0700 directory of ours), else removed now."""
        try:
            st = os.lstat(path)
            clean = (S_ISDIR(st.st_mode) and st.st_uid == self._euid
                     and S_IMODE(st.st_mode) == 0o700)
            if clean:
                with os.scandir(path) as entries:
                    clean = next(entries, None) is None
        except OSError:
            clean = False
        if clean and self._free_tmp is None and path.startswith(f"{self._tmp_home}/"):
            self._free_tmp = path
        else:
            _remove_tree(path)

    def _park_tmp(self) -> None:
        """No job to hand the free TMPDIR to: the last job's name goes now."""
        free = self._free_tmp
        if free is None or free.endswith("/free"):
            return
        try:
            os.rename(free, f"{self._tmp_home}/free")
            self._free_tmp = f"{self._tmp_home}/free"
        except OSError:
            self._free_tmp = None
            _remove_tree(free)

    def _limits(self, c: Claim) -> Limits:
        """The claim's limits (the same object for every job of a definition: built once)."""
        key = (c.ulimits, c.memory_mib, c.vcpus)
        if self._last_limits is None or self._last_limits[0] != key:
            self._last_limits = (key, Limits.from_spec(
                {"ulimits": c.ulimits, "memory_mib": c.memory_mib, "vcpus": c.vcpus}))
        return self._last_limits[1]

    def _run_job(self, c: Claim) -> Result:
        started = time.time()
        # A transport that ``derives_attempt_lines`` (local: from the job and attempt rows)
        # stores no record for the start and the exit of an attempt; the others get them here.
        derived = self._derives
        log: list[tuple[float, str, str]] = [] if derived else [
            (started, "SYSTEM", f"started attempt {c.attempt} on worker {self.t.worker_id} "
                                f"({self.hostname})")]
        try:
            argv, tmp = self._command(c)
        except (OSError, ValueError) as err:  # ValueError: a parameter cannot be substituted
            ended = time.time()
            log.append((ended, "SYSTEM", f"could not prepare the job: {err}"))
            self.t.append_log(c, log)
            return Result(c, "error", None, started, ended, f"could not prepare the job: {err}")
        cwd = c.cwd if c.cwd and os.path.isdir(c.cwd) else None
        if c.cwd and cwd is None:
            log.append((started, "SYSTEM", f"working directory {c.cwd} is missing; using {self.scratch}"))
            cwd = self.scratch
        files = _OutputFiles.open(c, cwd, log)
        capture = bool(c.keep_output or files)
        sandbox = Sandbox.create(c.key, self._limits(c), scope=self.t.worker_id,
                                 resident_ok=self.o.own_process)
        if sandbox.notes or sandbox.unenforced:
            log.extend((started, "SYSTEM", note)
                       for note in sandbox.notes + first_report(c.definition, sandbox.unenforced))
        env, preexec = self.job_env(c), sandbox.preexec()
        if self.o.job_access is not None:
            log.extend((started, "SYSTEM", note)
                       for note in self.o.job_access.prepare(env, [tmp, self._tmpdir]))
            preexec = self.o.job_access.preexec(preexec)
        try:
            with sandbox.spawning():
                if preexec is None and self.o.own_process and _SPAWN:
                    proc = self._spawn(self._resolve(argv, c), cwd, env, capture=capture)
                else:
                    out = subprocess.PIPE if capture else self._devnull
                    proc = subprocess.Popen(self._resolve(argv, c), stdin=self._devnull,
                                            stdout=out, stderr=out, cwd=cwd, env=env,
                                            start_new_session=True, close_fds=True,
                                            preexec_fn=preexec)
        except (OSError, subprocess.SubprocessError) as err:
            sandbox.close()
            if self.o.job_access is not None:
                self.o.job_access.release(env)
            ended = time.time()
            log.append((ended, "SYSTEM", f"could not start the job: {err}"))
            self.t.append_log(c, log)
            if files:
                files.close()
            if tmp:
                _unlink(tmp)
            return Result(c, "exit", 127, started, ended, f"could not start: {err}")
        sandbox.attach(proc.pid)
        self.t.job_started(c, proc.pid)
        try:
            outcome, code, detail = self._supervise(c, proc, log, sandbox, files)
        finally:
            if files:
                files.close()
        ended = time.time()
        sandbox.close()  # every process the job started, in its group or not
        if self.o.job_access is not None:
            self.o.job_access.release(env)  # its credentials' token opens nothing now
        if tmp:
            _unlink(tmp)
        if outcome == "exit":
            if not derived:
                log.append((ended, "SYSTEM", f"exit code {code} after {ended - started:.3f}s"))
        else:
            log.append((ended, "SYSTEM", f"{outcome}: {detail}"))
        self.t.append_log(c, log)
        return Result(c, outcome, code, started, ended, detail)

    def _spawn(self, argv: list[str], cwd: str | None, env: dict[str, str], *,
               capture: bool) -> _Spawned:
        """Start a job with ``posix_spawn`` (a vfork and an exec, set up in C): what Popen
        does for a job whose sandbox needs nothing done in the child, at a fraction of its
        cost. Only in an agent that is its process's whole program: it changes the process's
        working directory for the moment of the spawn. Every descriptor of this process but
        the three given is close-on-exec (Python opens them so, SQLite too)."""
        dup2 = os.POSIX_SPAWN_DUP2
        pipes: list[int] = []
        try:
            if capture:
                r_out, w_out = os.pipe()
                pipes += [r_out, w_out]
                r_err, w_err = os.pipe()
                pipes += [r_err, w_err]
                actions = [(dup2, self._devnull, 0), (dup2, w_out, 1), (dup2, w_err, 2)]
            else:
                actions = [(dup2, self._devnull, 0), (dup2, self._devnull, 1),
                           (dup2, self._devnull, 2)]
            if cwd is not None:
                os.chdir(cwd)
            try:
                pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True,
                                     setsigdef=_SPAWN_SIGDEF)
            finally:
                if cwd is not None:
                    os.chdir(self._home)
        except BaseException:
            for fd in pipes:
                os.close(fd)
            raise
        if not capture:
            return _Spawned(pid, None, None)
        os.close(w_out)
        os.close(w_err)
        return _Spawned(pid, _Fd(r_out), _Fd(r_err))

    def _stream_log(self, c: Claim, log: list) -> None:
        """A running job's records so far, made visible now (``qlog -f`` follows them)."""
        if not log:
            return
        self.t.append_log(c, log[:])
        log.clear()
        try:
            self.t.flush_logs()
        except self._transient as err:  # kept by the transport; the next flush retries
            self._unavailable("log flush", err)

    def _supervise(self, c: Claim, proc, log: list, sandbox: Sandbox | None = None,
                   files: _OutputFiles | None = None) -> tuple[str, int | None, str]:
        # One poll set (not epoll: a job's two pipes and its pidfd need no kernel object of
        # their own): the pipes' read ends by descriptor -> the kind of record they give.
        poller = select.poll()
        streams: dict[int, str] = {}
        reader = _OutputReader(log, cap=self.log_cap) if c.keep_output else _NoReader()
        for stream, kind in ((proc.stdout, "STDOUT"), (proc.stderr, "STDERR")):
            if stream is not None:
                fd = stream.fileno()
                if not isinstance(stream, _Fd):  # ours are read only when poll says so
                    os.set_blocking(fd, False)
                poller.register(fd, _POLL_IN)
                streams[fd] = kind
        begun = time.monotonic()
        deadline = begun + c.timeout if c.timeout else None
        next_check = begun + CANCEL_POLL_S
        next_metrics = begun + METRICS_EVERY_S
        next_flush = begun + LOG_FLUSH_S
        killing: tuple[str, str] | None = None
        kill_at = 0.0

        def drain(fd: int) -> None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            kind = streams[fd]
            if not chunk:
                poller.unregister(fd)
                del streams[fd]
                reader.close(kind)
            else:
                reader.feed(kind, chunk)
                if files:
                    files.write(kind, chunk)

        # A short job has often ended by now (its exit beat the spawn's return): no pidfd then.
        code: int | None = proc.poll()
        exited_at = time.monotonic() if code is not None else 0.0
        pidfd = _pidfd(proc.pid) if code is None else None
        if pidfd is not None:
            poller.register(pidfd, _POLL_IN)
        while True:
            for fd, _ in poller.poll(50 if pidfd is not None else 5):
                if fd == pidfd:
                    poller.unregister(pidfd)
                    os.close(pidfd)
                    pidfd = None
                elif fd in streams:
                    drain(fd)
            if code is None:
                code = proc.poll()
                if code is not None:
                    exited_at = time.monotonic()
                    if pidfd is not None:
                        poller.unregister(pidfd)
                        os.close(pidfd)
                        pidfd = None
            if code is not None:
                if not streams:
                    break
                if time.monotonic() - exited_at > 0.1:
                    # The leader is gone but something of its group holds the output open.
                    _killpg(proc.pid, signal.SIGKILL)
                    for fd, _ in poller.poll(200):
                        if fd in streams:
                            drain(fd)
                    streams.clear()
                    break
                continue
            now = time.monotonic()
            if killing is None and deadline is not None and now >= deadline:
                killing = ("timeout", f"ran past its timeout of {c.timeout:g}s; killed")
                _killpg(proc.pid, signal.SIGTERM)
                kill_at = now + KILL_GRACE_S
            if now >= next_check:
                next_check = now + CANCEL_POLL_S
                if killing is None and self._is_cancelled(c):
                    killing = ("cancelled", "process group sent SIGTERM")
                    _killpg(proc.pid, signal.SIGTERM)
                    kill_at = now + KILL_GRACE_S
                if killing is None and self.stopping:
                    killing = ("interrupted", self.stop_reason)
                    _killpg(proc.pid, signal.SIGTERM)
                    kill_at = now + KILL_GRACE_S
                self._maybe_heartbeat([c])
            if killing is not None and now >= kill_at:
                _killpg(proc.pid, signal.SIGKILL)
                kill_at = now + 1.0
            if now >= next_metrics:
                next_metrics = now + METRICS_EVERY_S
                log.append((time.time(), "METRICS", _group_metrics(proc.pid)))
            if self._reserved and now - begun >= HANDBACK_AFTER_S:
                self._release_reserved()  # a long job: the jobs behind it go to other workers
            if now >= next_flush or len(log) >= 5000:
                next_flush = now + LOG_FLUSH_S
                self._stream_log(c, log)
        reader.close("STDOUT")
        reader.close("STDERR")
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if killing is not None:
            return killing[0], code, killing[1]
        if sandbox is not None and sandbox.oom_killed():
            return "error", code, f"out of memory (limit {c.memory_mib} MiB)"
        return "exit", code, ""


_SPAWN = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")
_POLL_IN = select.POLLIN | select.POLLERR | select.POLLHUP
_SPAWN_SIGDEF = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ", "SIGXFZ")
                      if hasattr(signal, n))  # what Popen's restore_signals resets


class _Fd:
    """A pipe's read end, as the supervisor needs it (``fileno``, ``close``). Left blocking:
    the supervisor reads it once each time ``poll`` says it is readable (or at its end),
    which never blocks; setting it non-blocking would cost two system calls a job."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Spawned:
    """A job started by ``posix_spawn``: what the supervisor uses of a ``Popen``."""

    __slots__ = ("pid", "stdout", "stderr", "returncode")

    def __init__(self, pid: int, stdout: _Fd | None, stderr: _Fd | None) -> None:
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: as Popen says then
                self.returncode = 0
                return 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class _OutputFiles:
    """The files a job asked its output to go to (qsub -o/-e, ``#PBS -o``, ``#BSUB -e``),
    named in its environment (``core.submit.OUTPUT_FILE_ENV``/``ERROR_FILE_ENV``) with id
    placeholders expanded for this job. Both streams to one file when they name the same path
    (PBS's ``-j oe``). Written as the output comes, beside the job's log."""

    def __init__(self, streams: dict[str, int]) -> None:
        self.streams = streams  # STDOUT/STDERR -> fd

    @classmethod
    def open(cls, c: Claim, cwd: str | None, log: list) -> _OutputFiles | None:
        """``cwd``: the job's working directory (None: the worker's)."""
        env = c.env
        if not env or (OUTPUT_FILE_ENV not in env and ERROR_FILE_ENV not in env):
            return None
        from hyper_tui.core.submit import expand_output_path

        cwd = cwd or os.getcwd()
        streams: dict[str, int] = {}
        by_path: dict[str, int] = {}
        for kind, var in (("STDOUT", OUTPUT_FILE_ENV), ("STDERR", ERROR_FILE_ENV)):
            template = (c.env or {}).get(var)
            if not template:
                continue
            path = os.path.join(cwd, os.path.expanduser(expand_output_path(
                template, job_id=c.job_id, index=c.array_index, name=c.name)))
            c.env[var] = path  # the job sees the file it writes to, as under LSF
            if path not in by_path:
                try:
                    by_path[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                except OSError as err:
                    log.append((time.time(), "SYSTEM", f"could not open the output file {path} "
                                                       f"({err.strerror}); output is in qlog only"))
                    continue
            streams[kind] = by_path[path]
        return cls(streams) if streams else None

    def write(self, kind: str, chunk: bytes) -> None:
        fd = self.streams.get(kind)
        if fd is None:
            return
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        except OSError:  # a full disk: the log keeps the output
            self.streams.pop(kind, None)

    def close(self) -> None:
        for fd in set(self.streams.values()):
            try:
                os.close(fd)
            except OSError:
                pass
        self.streams.clear()

    def __bool__(self) -> bool:
        return True


class _NoReader:
    """The reader of a job whose definition keeps no output (``enable_qlog: false``): output
    goes to its files only."""

    def feed(self, kind: str, chunk: bytes) -> None:
        pass

    def close(self, kind: str) -> None:
        pass


class _OutputReader:
    """Turns a job's output chunks into log records, one per line, in time linear in the
    output (a line is joined once, however many chunks it came in), and keeps at most ``cap``
    bytes of it: past that, output is read and dropped, with one SYSTEM note."""

    def __init__(self, log: list[tuple[float, str, str]], *, cap: int) -> None:
        self.log = log
        self.cap = cap
        self.kept = 0
        self.cut = False
        self.partial: dict[str, bytearray] = {"STDOUT": bytearray(), "STDERR": bytearray()}

    def feed(self, kind: str, chunk: bytes) -> None:
        buf = self.partial[kind]
        ts = time.time()
        start = 0
        nl = chunk.find(b"\n")
        while nl >= 0:
            if buf:
                buf += chunk[start:nl]
                self._line(ts, kind, bytes(buf))
                buf.clear()
            else:
                self._line(ts, kind, chunk[start:nl])
            start = nl + 1
            nl = chunk.find(b"\n", start)
        if start < len(chunk):
            buf += chunk[start:] if start else chunk
            if len(buf) >= MAX_LINE_BYTES:  # a very long line: kept in pieces, never re-read
                self._line(ts, kind, bytes(buf))
                buf.clear()

    def close(self, kind: str) -> None:
        """The stream ended: its last line, if it had no newline."""
        buf = self.partial[kind]
        if buf:
            self._line(time.time(), kind, bytes(buf))
            buf.clear()

    def _line(self, ts: float, kind: str, data: bytes) -> None:
        if self.cut:
            return
        self.kept += len(data) + 1
        if self.kept > self.cap:
            self.cut = True
            self.log.append((ts, "SYSTEM", f"output cut: the job wrote more than the log cap of "
                                           f"{self.cap:,} bytes (host setting log_cap_bytes); "
                                           "the rest was dropped"))
            return
        self.log.append((ts, kind, data.decode(errors="replace")))


def _say(msg: str) -> None:
    """A line for the worker's log (stderr); never fails (the disk may be full)."""
    try:
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker: {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _user_name() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return None


def _job_tmpdir(scratch: str, c: Claim) -> str | None:
    """A private temporary directory for one job (its TMPDIR), or None if none can be made."""
    try:
        return tempfile.mkdtemp(prefix=f"hyper-job-{c.key}-", dir=scratch)
    except OSError:
        return None


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when ``pid`` exits (Linux 5.3+), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _become_subreaper() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _group_metrics(pgid: int) -> str:
    """CPU seconds and resident memory of every process in the job's group (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    cpu = 0.0
    rss = 0
    procs = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return "{}"
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) != pgid:
            continue
        procs += 1
        cpu += (int(fields[11]) + int(fields[12])) / ticks
        rss += int(fields[21]) * page
    return f'{{"processes": {procs}, "cpu_seconds": {cpu:.2f}, "rss_mib": {rss / 1048576:.1f}}}'


def run_agent(transport: Transport, options: AgentOptions | None = None,
              on_start: Callable[[Agent], None] | None = None) -> int:
    agent = Agent(transport, options)
    agent.install_signal_handlers()
    agent.adopt_orphans()
    if on_start:
        on_start(agent)
    try:
        return agent.run()
    finally:
        transport.close()
