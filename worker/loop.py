"""The worker agent: claim -> run each in series -> heartbeat -> report -> exit when idle.

One loop for local workers, AWS Batch containers and on-premise machines; a Transport hides
where jobs come from (SQLite locally, SQS + DynamoDB on AWS). Standard library only.

A job runs as its own process group (session) inside its sandbox (``containment``: a cgroup
per job where the machine offers one, else its group, descendants and what is re-parented to
the worker, a child subreaper). Timeout and cancellation send the group SIGTERM, SIGKILL after
the grace period; when the job ends, every process of its sandbox is killed, whatever it did to
its session, group or environment, and its limits (ulimits, memory, vCPUs) held throughout.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hyper_tui.agent.containment import Limits, Sandbox, first_report
from hyper_tui.agent.params import substitute

KILL_GRACE_S = 3.0
RETRY_MAX_S = 5.0           # longest pause between two tries of an unavailable store
FINAL_REPORT_S = 60.0       # how long a stopping worker keeps trying to report its results
CANCEL_POLL_S = 0.25
METRICS_EVERY_S = 10.0
BASE_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL")


@dataclass
class Claim:
    """One attempt of one job, leased to this worker."""

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
    worker_id: str

    def claim(self, n: int) -> list[Claim]: ...
    def report(self, results: list[Result]) -> None: ...
    def heartbeat(self, running: list[Claim]) -> bool: ...      # False: this worker was declared lost
    def is_cancelled(self, claim: Claim) -> bool: ...
    def append_log(self, claim: Claim, records: list[tuple[float, str, str]]) -> None: ...
    def wait_for_work(self, timeout: float) -> None: ...
    def job_started(self, claim: Claim, pgid: int) -> None: ...
    def close(self) -> None: ...
    # Optional: ``transient_errors``, a tuple of exception types meaning "the store cannot be
    # written just now" (disk full, read-only, busy). The agent then keeps its results and
    # retries with backoff instead of dying and losing them.


@dataclass
class AgentOptions:
    idle_timeout: float = 30.0
    max_jobs: int | None = None
    heartbeat_every: float = 5.0
    max_batch: int = 8
    base_env: dict[str, str] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    scratch_dir: str | None = None


class Agent:
    def __init__(self, transport: Transport, options: AgentOptions | None = None) -> None:
        self.t = transport
        self.o = options or AgentOptions()
        self.stopping = False
        self.stop_reason = ""
        self.jobs_done = 0
        self._last_beat = 0.0
        self._pending: list[Result] = []
        self._transient: tuple[type[BaseException], ...] = tuple(
            getattr(transport, "transient_errors", ()))
        self._retry_delay = 0.0
        self.hostname = socket.gethostname()
        self.subreaper = False   # set by adopt_orphans(): leftovers of jobs come back to us
        base = self.o.base_env
        if base is None:
            base = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
        self.base_env = base
        self.scratch = self.o.scratch_dir or tempfile.gettempdir()
        self._exe_cache: dict[tuple[str, str], str] = {}
        self._devnull = os.open(os.devnull, os.O_RDWR)  # stdin (and muted output) of every job

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
                if not self._flush():
                    self._backoff()  # results kept; claim nothing until they are recorded
                    continue
                want = batch
                if self.o.max_jobs is not None:
                    want = min(want, self.o.max_jobs - self.jobs_done)
                try:
                    claims = self.t.claim(want)
                except self._transient as err:
                    self._unavailable("claim", err)
                    self._backoff()
                    continue
                self._retry_delay = 0.0
                if not claims:
                    if time.monotonic() - idle_since >= self.o.idle_timeout:
                        break
                    try:
                        self.t.wait_for_work(min(0.1, self.o.idle_timeout))
                    except self._transient as err:  # a full disk must not kill the worker
                        self._unavailable("waiting for work", err)
                        self._backoff()
                    continue
                t0 = time.monotonic()
                for i, claim in enumerate(claims):
                    if self.stopping:
                        now = time.time()
                        for rest in claims[i:]:
                            self._pending.append(Result(rest, "interrupted", None, now, now,
                                                        self.stop_reason))
                        break
                    self._pending.append(self.run_one(claim))
                    self.jobs_done += 1
                # Short jobs: take several per claim; long ones: one at a time, so the
                # others stay free for other workers.
                per_job = (time.monotonic() - t0) / len(claims)
                batch = min(self.o.max_batch, batch * 2) if per_job < 0.05 else 1
                idle_since = time.monotonic()
        finally:
            end = time.monotonic() + FINAL_REPORT_S
            while not self._flush() and time.monotonic() < end:
                self._backoff()
            if self._pending:
                _say(f"could not report {len(self._pending)} result(s); the daemon will requeue "
                     "those jobs")
        return self.jobs_done

    def _flush(self) -> bool:
        """Report the pending results; False (and the results kept) if the store cannot be
        written just now."""
        if self._pending:
            results = self._pending
            try:
                self.t.report(results)
            except self._transient as err:
                self._unavailable(f"report of {len(results)} result(s)", err)
                return False
            self._pending = []
            self._retry_delay = 0.0
        return True

    def _unavailable(self, what: str, err: BaseException) -> None:
        if not self._retry_delay:  # once per outage, not once per try
            _say(f"{what} failed, will retry: {err}")
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
        import subprocess

        started = time.time()
        log: list[tuple[float, str, str]] = [
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
        out = subprocess.PIPE if c.keep_output else self._devnull
        sandbox = Sandbox.create(c.key, Limits.from_spec(
            {"ulimits": c.ulimits, "memory_mib": c.memory_mib, "vcpus": c.vcpus}),
            scope=self.t.worker_id)
        log.extend((started, "SYSTEM", note)
                   for note in sandbox.notes + first_report(c.definition, sandbox.unenforced))
        try:
            proc = subprocess.Popen(self._resolve(argv, c), stdin=self._devnull, stdout=out, stderr=out,
                                    cwd=cwd, env=self.job_env(c), start_new_session=True,
                                    close_fds=True, preexec_fn=sandbox.preexec())
        except (OSError, subprocess.SubprocessError) as err:
            sandbox.close()
            ended = time.time()
            log.append((ended, "SYSTEM", f"could not start the job: {err}"))
            self.t.append_log(c, log)
            if tmp:
                _unlink(tmp)
            return Result(c, "exit", 127, started, ended, f"could not start: {err}")
        sandbox.attach(proc.pid)
        self.t.job_started(c, proc.pid)
        outcome, code, detail = self._supervise(c, proc, log, sandbox)
        ended = time.time()
        sandbox.close()  # every process the job started, in its group or not
        if tmp:
            _unlink(tmp)
        if outcome == "exit":
            log.append((ended, "SYSTEM", f"exit code {code} after {ended - started:.3f}s"))
        else:
            log.append((ended, "SYSTEM", f"{outcome}: {detail}"))
        self.t.append_log(c, log)
        return Result(c, outcome, code, started, ended, detail)

    def _supervise(self, c: Claim, proc, log: list,
                   sandbox: Sandbox | None = None) -> tuple[str, int | None, str]:
        sel = selectors.DefaultSelector()
        partial: dict[str, bytes] = {}
        for stream, kind in ((proc.stdout, "STDOUT"), (proc.stderr, "STDERR")):
            if stream is not None:
                os.set_blocking(stream.fileno(), False)
                sel.register(stream, selectors.EVENT_READ, kind)
                partial[kind] = b""
        deadline = time.monotonic() + c.timeout if c.timeout else None
        next_check = time.monotonic() + CANCEL_POLL_S
        next_metrics = time.monotonic() + METRICS_EVERY_S
        killing: tuple[str, str] | None = None
        kill_at = 0.0
        code: int | None = None

        def drain(key, kind: str) -> bool:
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(key.fileobj)
                if partial.get(kind):
                    log.append((time.time(), kind, partial[kind].decode(errors="replace")))
                    partial[kind] = b""
                return False
            data = partial[kind] + chunk
            *lines, partial[kind] = data.split(b"\n")
            ts = time.time()
            log.extend((ts, kind, ln.decode(errors="replace")) for ln in lines)
            if len(log) > 500:
                self.t.append_log(c, log[:])
                log.clear()
            return True

        pidfd = _pidfd(proc.pid)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ, "EXIT")
        exited_at = 0.0
        while True:
            timeout = 0.05 if pidfd is not None else 0.005
            for key, _ in sel.select(timeout=timeout):
                if key.data == "EXIT":
                    sel.unregister(pidfd)
                    os.close(pidfd)
                    pidfd = None
                else:
                    drain(key, key.data)
            if code is None:
                code = proc.poll()
                if code is not None:
                    exited_at = time.monotonic()
                    if pidfd is not None:
                        sel.unregister(pidfd)
                        os.close(pidfd)
                        pidfd = None
            if code is not None:
                if not sel.get_map():
                    break
                if time.monotonic() - exited_at > 0.1:
                    # The leader is gone but something of its group holds the output open.
                    _killpg(proc.pid, signal.SIGKILL)
                    for key, _ in sel.select(timeout=0.2):
                        drain(key, key.data)
                    for key in list(sel.get_map().values()):
                        sel.unregister(key.fileobj)
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
        sel.close()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if killing is not None:
            return killing[0], code, killing[1]
        if sandbox is not None and sandbox.oom_killed():
            return "error", code, f"out of memory (limit {c.memory_mib} MiB)"
        return "exit", code, ""


def _say(msg: str) -> None:
    """A line for the worker's log (stderr); never fails (the disk may be full)."""
    try:
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker: {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


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
