"""Processes of a local host, named so that a recycled pid is never mistaken for one of ours.

A process is identified by its pid, its start time (``/proc/PID/stat`` field 22, clock ticks
since boot: a pid reused by a new process has a later one) and the host name (a state folder
on a shared disk may name a process of another machine). ``signal_if_same`` sends a signal
only when all three match. Standard library only (the daemon and ``qsub`` import it).
"""

from __future__ import annotations

import os
import sys


class Identity:
    """pid, start (clock ticks after boot when the process started) and host name. A plain
    class, not a dataclass: qsub imports this module, and dataclasses costs it milliseconds."""

    __slots__ = ("pid", "start", "host")

    def __init__(self, pid: int, start: int, host: str) -> None:
        self.pid, self.start, self.host = pid, start, host

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Identity)
                and (self.pid, self.start, self.host) == (other.pid, other.start, other.host))

    def __hash__(self) -> int:
        return hash((self.pid, self.start, self.host))

    def __repr__(self) -> str:
        return f"Identity({self.line()})"

    def line(self) -> str:
        """``pid start host``: the text of a pid file."""
        return f"{self.pid} {self.start} {self.host}"

    @classmethod
    def parse(cls, text: str) -> Identity | None:
        """From a pid file's text; None for anything else (an old one-number pid file names no
        start time, so it identifies nothing)."""
        parts = text.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return cls(int(parts[0]), int(parts[1]), parts[2])


def hostname() -> str:
    return os.uname().nodename  # socket.gethostname() without importing socket (qsub)


def start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat`` (the command name, field 2, may hold spaces and
    parentheses: split after its last ``)``); None when the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] == b"Z":
        return None
    try:
        return int(fields[19])  # fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def identity(pid: int | None = None) -> Identity | None:
    """The identity of ``pid`` (this process by default), or None if it is gone."""
    pid = os.getpid() if pid is None else pid
    start = start_time(pid)
    return None if start is None else Identity(pid, start, hostname())


def is_same(ident: Identity | None) -> bool:
    """True if ``ident`` names a live process of this host that is the one it was written for."""
    if ident is None or ident.host != hostname() or ident.pid <= 0:
        return False
    return start_time(ident.pid) == ident.start


def signal_if_same(ident: Identity | None, sig: int) -> bool:
    """Send ``sig`` to the process ``ident`` names, only if pid, start time and host all match.
    True if it was sent."""
    if not is_same(ident):
        return False
    try:
        os.kill(ident.pid, sig)  # type: ignore[union-attr]
    except OSError:
        return False
    return True


def read_identity(path: str | os.PathLike[str]) -> Identity | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return Identity.parse(fh.read())
    except (OSError, UnicodeDecodeError):
        return None


def boot_time() -> float:
    """Wall-clock time of the boot (``btime`` of /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0.0


def started_at(ident: Identity) -> float:
    """The wall-clock time ``ident`` started (to the clock tick)."""
    return boot_time() + ident.start / os.sysconf("SC_CLK_TCK")


def worker_command(*, store: str, queue: str, definition: str, region: str, worker_id: str,
                   vcpus: int, idle_timeout: float, heartbeat: float,
                   python: str | None = None) -> list[str]:
    """The command that starts a local worker: an isolated interpreter (``-I``: no
    ``PYTHONPATH``, no user site, no current-directory imports), so that a ``worker.py`` or a
    ``hyper_tui`` folder where the daemon runs cannot stand in for the agent. Job parameters
    never appear here (``ps`` shows argv to every user): they reach the job through the store."""
    return [python or sys.executable, "-I", "-m", "hyper_tui.agent", "--transport", "local",
            "--store", store, "--queue", queue, "--definition", definition, "--region", region,
            "--worker-id", worker_id, "--vcpus", str(vcpus), "--idle-timeout", f"{idle_timeout:g}",
            "--heartbeat", f"{heartbeat:g}"]


# Of the daemon's environment, what a worker gets: no PYTHONPATH (``-I`` ignores it anyway).
# The two containment settings are spelled out (importing ``containment`` would cost qsub);
# a unit test holds them equal to ``containment.SCRATCH_ENV`` and ``CGROUP2_ROOT_ENV``.
WORKER_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL",
                   "VIRTUAL_ENV", "HYPER_HOME",
                   "HYPER_SCRATCH",       # the workers' scratch folder (their jobs' TMPDIRs)
                   "HYPER_CGROUP2_ROOT")  # the daemon's choice of cgroup v2 tree
