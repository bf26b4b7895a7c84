"""A per-job sandbox: every process a job starts is found and killed at its end, and its limits
hold. Standard library only (the agent imports it on every host kind).

The mechanism depends on what the machine offers (``mechanism()`` says which):

* ``cgroup v2``: a cgroup per job under the worker's own (delegated) cgroup, with
  ``memory.max``, ``pids.max`` and ``cpuset.cpus`` where those controllers are delegated,
  killed with ``cgroup.kill``;
* ``cgroup v1``: as root, a cgroup per job in the ``memory``, ``pids``, ``cpuset`` and
  ``freezer`` hierarchies (each under the worker's own cgroup of that hierarchy), frozen,
  killed and thawed;
* ``process groups + subreaper``: the job's process group, its descendants, and whatever is
  re-parented to the worker (a child subreaper) while the job runs; memory is then bounded
  with ``RLIMIT_AS``.

A cgroup is named ``hyper-tui-<scope>/job-<key>``: ``scope`` is the worker id, so the daemon
can find and kill what a dead worker's job left (``kill_scope``). The job joins its cgroup in
the child, before ``exec``: there is no moment when it runs outside. Nothing here relies on an
environment variable: a job may drop its environment, change its session or double fork.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MECH_V2 = "cgroup v2"
MECH_V1 = "cgroup v1"
MECH_PG = "process groups + subreaper"

CGROUP_ROOT = "/sys/fs/cgroup"
# The cgroup v2 hierarchy to use, given explicitly (a mount point, e.g. of ``mount -t cgroup2``
# on a machine whose controllers are all bound to v1): then cgroup v2 is preferred, with the
# controllers it has; without memory and pids it still tracks and kills every process of a
# job, and memory falls back to RLIMIT_AS. Passed on to workers (``procs.WORKER_ENV_KEYS``).
CGROUP2_ROOT_ENV = "HYPER_CGROUP2_ROOT"
# A local worker's slot among its daemon's live workers (0, 1, ...; set by the launcher): its
# jobs' CPUs start at slot x vCPUs, so that two one-vCPU workers on two CPUs never share one.
# Without it (other agents), the process id spreads them, by chance.
CPU_SLOT_ENV = "HYPER_WORKER_SLOT"
V1_CONTROLLERS = ("memory", "pids", "cpuset", "freezer")
KILL_WAIT_S = 5.0

RLIMITS = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Limits:
    """What a job may use: the definition's ``ulimits``, ``memory_mib`` and ``vcpus``."""

    ulimits: tuple[Ulimit, ...] = ()
    memory_mib: int | None = None
    vcpus: int | None = None

    @classmethod
    def from_spec(cls, spec: dict) -> Limits:
        """From a definition's spec as stored (``hyper_tui.model.Definition`` dumped)."""
        ulimits = []
        for u in spec.get("ulimits") or ():
            name = str(u.get("name", "")).lower()
            ulimits.append(Ulimit(name, int(u.get("soft_limit", 0)), int(u.get("hard_limit", 0))))
        mem = spec.get("memory_mib")
        cpus = spec.get("vcpus")
        return cls(tuple(ulimits), int(mem) if mem else None, int(cpus) if cpus else None)


# ---- what the machine offers ----------------------------------------------------------------


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path in it ("" for the v2 hierarchy)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        for c in (ctrls.split(",") if ctrls else [""]):
            out[c] = path
    return out


def _mounts() -> dict[str, str]:
    """controller -> mount point of its v1 hierarchy, and "" -> the v2 mount point (the one
    HYPER_CGROUP2_ROOT names, if set)."""
    out: dict[str, str] = {}
    given = os.environ.get(CGROUP2_ROOT_ENV)
    if given:
        out[""] = given
    try:
        with open("/proc/self/mounts") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        where, kind, opts = parts[1], parts[2], parts[3].split(",")
        if kind == "cgroup2":
            out.setdefault("", where)
        elif kind == "cgroup":
            for c in V1_CONTROLLERS:
                if c in opts:
                    out.setdefault(c, where)
    return out


def _read(path: str) -> str:
    """A cgroup (or /proc) file's text, "" if it cannot be read. Plain system calls, no file
    object: the agent reads a few of these per job."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _counter(path: str) -> str:
    """A resident worker's cgroup counter file (``pids.current``, ``memory.oom_control``,
    ``memory.events``): one ``pread`` of a descriptor kept open (``_KEPT``, closed when the
    worker leaves its cgroup), "" if it cannot be read. Only files the kernel renders anew at
    every read: not ``cgroup.procs``, whose list cgroup v1 caches per open file."""
    fd = _KEPT.get(path)
    if fd is None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return ""
        _KEPT[path] = fd
    try:
        return os.pread(fd, 4096, 0).decode(errors="replace")
    except OSError:
        _close_kept(path)
        return ""


def _resident_file(ctrl: str, name: str) -> str:
    """The path of file ``name`` of the resident cgroup of controller ``ctrl`` (cgroup v2: the
    one cgroup, under ""), worked out once."""
    path = _RESIDENT_FILES.get((ctrl, name))
    if path is None:
        d = _RESIDENT.get(ctrl) or _RESIDENT.get("") or "/nonexistent"
        path = _RESIDENT_FILES[(ctrl, name)] = os.path.join(d, name)
    return path


def _close_kept(path: str | None = None) -> None:
    for p in [path] if path is not None else list(_KEPT):
        fd = _KEPT.pop(p, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _write(path: str, value: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.write(fd, value.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


@dataclass(frozen=True)
class _Plan:
    mechanism: str
    bases: dict[str, str]          # controller ("" for v2) -> the directory job cgroups go under
    v2_controllers: frozenset[str] = frozenset()


_PLAN: _Plan | None = None


def _plan() -> _Plan:
    global _PLAN
    if _PLAN is None:
        _PLAN = _discover()
    return _PLAN


def _discover(v2_root: str | None = None) -> _Plan:
    """What this machine offers. ``v2_root`` (default: HYPER_CGROUP2_ROOT) names a cgroup v2
    mount to use in preference to v1, with whatever controllers it has."""
    if os.environ.get("HYPER_CONTAINMENT") == "pg":  # tests of the fallback on a cgroup machine
        return _Plan(MECH_PG, {})
    mounts, own = _mounts(), _own_cgroups()
    v2_root = v2_root or os.environ.get(CGROUP2_ROOT_ENV)
    if v2_root and "" in own:
        mounts[""] = v2_root
        base = os.path.join(v2_root, own[""].lstrip("/"))
        if _is_cgroup2(v2_root) and _writable_dir(base):
            ctrls = frozenset(_read(os.path.join(base, "cgroup.controllers")).split())
            # Without memory and pids (bound to v1): tracking and kill only, no controller
            # enabled below (memory then falls back to RLIMIT_AS, see _plan_limits).
            return _Plan(MECH_V2, {"": base}, ctrls if {"memory", "pids"} <= ctrls else frozenset())
    v2 = mounts.get("")
    if v2 is not None and "" in own:
        base = os.path.join(v2, own[""].lstrip("/"))
        ctrls = frozenset(_read(os.path.join(base, "cgroup.controllers")).split())
        # Delegated with the controllers a job needs: a cgroup per job with real limits.
        if {"memory", "pids"} <= ctrls and _writable_dir(base):
            return _Plan(MECH_V2, {"": base}, ctrls)
    v1 = {c: os.path.join(mounts[c], own.get(c, "/").lstrip("/")) for c in V1_CONTROLLERS
          if c in mounts}
    if {"memory", "pids", "freezer"} <= v1.keys() and all(_writable_dir(d) for d in v1.values()):
        return _Plan(MECH_V1, v1)
    if v2 is not None and "" in own:
        base = os.path.join(v2, own[""].lstrip("/"))
        if _writable_dir(base) and os.path.exists(os.path.join(base, "cgroup.kill")):
            return _Plan(MECH_V2, {"": base}, frozenset())  # tracking and kill, no limits
    return _Plan(MECH_PG, {})


def _is_cgroup2(path: str) -> bool:
    """True if ``path`` is where a cgroup v2 hierarchy is mounted (/proc/self/mounts)."""
    want = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False
    return any(len(p) > 2 and p[2] == "cgroup2" and os.path.realpath(p[1]) == want
               for p in (line.split() for line in lines))


def mechanism() -> str:
    """Which containment this machine gets: "cgroup v2", "cgroup v1" or
    "process groups + subreaper"."""
    return _plan().mechanism


# ---- the sandbox ----------------------------------------------------------------------------


def _safe(name: str) -> str:
    """``name`` as a cgroup's name: letters, digits, ``-_.``; the rest becomes ``_``."""
    if name.isascii() and name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return name[:64]  # the common case (a worker id, a job's key): nothing to replace
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:64] or "_"


def children_of(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.update(int(p) for p in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def descendants(roots: set[int]) -> set[int]:
    found: set[int] = set()
    todo = list(roots)
    while todo:
        p = todo.pop()
        for c in children_of(p):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def _zombie_child() -> bool:
    """True if this process has a child waiting to be reaped (one system call, nothing read)."""
    try:
        return os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False
    except (OSError, AttributeError):
        return True  # cannot tell: look


def _kill(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _reap(pids: set[int]) -> None:
    for p in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(p, os.WNOHANG)


_SUBREAPER = False


def _become_subreaper() -> bool:
    global _SUBREAPER
    if not _SUBREAPER:
        try:
            import ctypes

            _SUBREAPER = ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _SUBREAPER = False
    return _SUBREAPER


def _cpus_for(vcpus: int, salt: int) -> list[int] | None:
    """``vcpus`` of the CPUs this process may use, starting at ``salt`` (spreads workers), or
    None when that is all of them."""
    try:
        allowed = sorted(_allowed_cpus())
    except (AttributeError, OSError):
        return None
    if vcpus >= len(allowed):
        return None
    start = salt % len(allowed)
    return sorted(allowed[(start + i) % len(allowed)] for i in range(vcpus))


def _cpu_salt(vcpus: int) -> int:
    """Where this worker's CPUs start: its slot (``CPU_SLOT_ENV``) times ``vcpus``, else its
    process id."""
    slot = os.environ.get(CPU_SLOT_ENV, "")
    return int(slot) * vcpus if slot.isdigit() else os.getpid()


def _allowed_cpus() -> set[int]:
    """The CPUs this process may use, before it pinned itself to its jobs' (``spawning``)."""
    return set(_UNPINNED[0]) if _UNPINNED else os.sched_getaffinity(0)


def _procs_in(directory: str) -> set[int]:
    """Every process in the cgroup ``directory`` and below."""
    out: set[int] = set()
    for p in _read(os.path.join(directory, "cgroup.procs")).split():
        with contextlib.suppress(ValueError):
            out.add(int(p))
    try:  # a cgroup directory's link count is 2 + its subdirectories: walk only if it has some
        nested = os.stat(directory).st_nlink > 2
    except OSError:
        return out
    if nested:
        for folder, _dirs, _files in os.walk(directory):
            if folder != directory:
                for p in _read(os.path.join(folder, "cgroup.procs")).split():
                    with contextlib.suppress(ValueError):
                        out.add(int(p))
    return out


def _rmdir_tree(directory: str) -> None:
    for folder, _dirs, _files in sorted(os.walk(directory), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _kill_cgroup_dirs(dirs: dict[str, str], timeout: float = KILL_WAIT_S,
                      spare: int | None = None) -> int:
    """SIGKILL every process in the cgroups ``dirs`` (and below) until none is left but
    ``spare`` (the worker itself, when the cgroup is its own: then nothing is frozen)."""
    killed: set[int] = set()
    v2 = dirs.get("") if spare is None else None
    freezer = dirs.get("freezer") if spare is None else None
    end = time.monotonic() + timeout
    while True:
        if v2 and os.path.exists(os.path.join(v2, "cgroup.kill")):
            _write(os.path.join(v2, "cgroup.kill"), "1")
        if freezer:  # frozen, nothing can fork while it is being killed
            _write(os.path.join(freezer, "freezer.state"), "FROZEN")
        pids: set[int] = set()
        for d in dirs.values():
            pids |= _procs_in(d)
        pids.discard(spare)  # type: ignore[arg-type]
        for p in pids:
            _kill(p)
        if freezer:
            _write(os.path.join(freezer, "freezer.state"), "THAWED")
        killed |= pids
        _reap(pids)
        if not pids or time.monotonic() > end:
            break
        time.sleep(0.005)
    # The dead are zombies until reaped; those re-parented to us (a subreaper) are ours to
    # reap, once their parents, killed too, are gone.
    settle = time.monotonic() + 1.0
    while time.monotonic() < settle:
        _reap(killed)
        if not any(os.path.exists(f"/proc/{p}") for p in killed):
            break
        time.sleep(0.01)
    return len(killed)


_NOTHING = contextlib.nullcontext()
_RESIDENT: dict[str, str] = {}  # controller -> the cgroup this worker process moved itself to
_KEPT: dict[str, int] = {}  # counter file of the resident cgroup -> its open descriptor
_RESIDENT_FILES: dict[tuple[str, str], str] = {}  # (controller, file name) -> its path there
_PINNED: list[int] | None = None  # the CPUs a resident worker keeps between its jobs
_UNPINNED: list[set[int]] = []     # its CPUs before that
_OOM_SEEN: dict[str, int] = {}  # resident memory cgroup -> its OOM kills at the last job's end
# The limit files of a resident worker's cgroup that hold a job's limit: path -> (the value, the
# value that lifts it). Kept between jobs; the next job with other limits changes or lifts them.
_HELD: dict[str, tuple[str, str]] = {}
MEMORY_SLACK = 4 << 20  # a kept memory limit may be this far from job + worker's usage now
# A resident worker's last plan of limits: [limits, when, rlimits, cpus, notes, unenforced,
# limit files]; the next job with the same limits reuses it for REPLAN_S seconds.
_PLANNED: list = []
REPLAN_S = 1.0


def _kept(path: str, value: int, slack: int = 0) -> bool:
    held = _HELD.get(path)
    return held is not None and held[0].isdigit() and abs(int(held[0]) - value) <= slack


def _enter_scope(plan: _Plan, scope_dir: str) -> bool:
    """Move this process, once, into ``hyper-tui-<scope>`` of every hierarchy (v1: memory,
    pids, freezer; not cpuset, which ``sched_setaffinity`` replaces); True once it is there.
    It leaves at exit (``_leave_scope``)."""
    if _RESIDENT:
        return True
    if os.environ.get("HYPER_CONTAINMENT") == "per-job":
        return False
    made: dict[str, str] = {}
    for ctrl, base in plan.bases.items():
        if ctrl == "cpuset":
            continue
        d = os.path.join(base, scope_dir)
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o755)
        made[ctrl] = d
    me = str(os.getpid())
    for d in made.values():
        if not _write(os.path.join(d, "cgroup.procs"), me):
            _leave(made, plan)
            return False
    _RESIDENT.update(made)
    import atexit

    atexit.register(_leave_scope, plan)
    return True


def _leave(dirs: dict[str, str], plan: _Plan) -> None:
    me = str(os.getpid())
    for ctrl, d in dirs.items():
        _write(os.path.join(plan.bases[ctrl], "cgroup.procs"), me)
        with contextlib.suppress(OSError):
            os.rmdir(d)


def _leave_scope(plan: _Plan) -> None:
    """At exit: back to the cgroup the worker came from, and its own removed."""
    _close_kept()
    _RESIDENT_FILES.clear()
    _leave(dict(_RESIDENT), plan)
    _RESIDENT.clear()
    _HELD.clear()
    _PLANNED.clear()


@dataclass(eq=False)
class Sandbox:
    """One job's containment. ``create`` it before the job starts, pass ``preexec`` (and
    ``start_new_session=True``) to Popen, ``attach`` the pid, ``kill_all`` at the end and
    ``close``."""

    key: str
    limits: Limits
    mechanism: str
    dirs: dict[str, str] = field(default_factory=dict)        # controller -> the job's cgroup
    notes: list[str] = field(default_factory=list)       # for this job's SYSTEM log, every job
    unenforced: list[str] = field(default_factory=list)  # limits not enforced: once per definition
    rlimits: list[tuple[int, int, int]] = field(default_factory=list)
    cpus: list[int] | None = None
    pid: int | None = None
    _before: set[int] = field(default_factory=set)            # the worker's children before the job
    _closed: bool = False
    resident: bool = False         # the cgroup is the worker's own (see create)
    _oom_before: int = 0
    _limited: list[str] = field(default_factory=list)  # the limit files this job set (or kept)

    @classmethod
    def create(cls, job_key: str, limits: Limits, *, scope: str | None = None,
               resident_ok: bool = False) -> Sandbox:
        """A sandbox for one job. ``resident_ok``: this process is only the agent, so it may
        live in its jobs' cgroup (faster on cgroup v1); otherwise each job gets its own."""
        plan = _plan()
        sb = cls(key=str(job_key), limits=limits, mechanism=plan.mechanism)
        scope_dir = f"hyper-tui-{_safe(scope or str(os.getpid()))}"
        if plan.mechanism in (MECH_V1, MECH_V2):
            try:
                if resident_ok and not _LIVE and _enter_scope(plan, scope_dir):
                    # The worker itself lives in its cgroup and the job, forked from it, is in
                    # it from its first instruction: no move of a fresh child, which costs an
                    # RCU grace period (~10 ms) per cgroup on cgroup v1.
                    sb.dirs = dict(_RESIDENT)
                    sb.resident = True
                    # The count the previous job ended with (nothing can hit a limit between
                    # two jobs: none is set then); read once, for the first job.
                    seen = _OOM_SEEN.get(sb.dirs.get("memory", sb.dirs.get("", "")))
                    sb._oom_before = sb._oom_count() if seen is None else seen
                    if sb._reuse_plan():
                        _LIVE.add(sb)
                        return sb
                else:  # another job of this process runs (agents in threads): one cgroup each
                    sb._make_cgroups(plan, scope_dir, f"job-{_safe(str(job_key))}")
            except OSError as err:
                sb._remove_dirs()
                sb.dirs = {}
                sb.mechanism = MECH_PG
                sb.notes.append(f"containment: no cgroup for this job ({err.strerror}); using "
                                f"{MECH_PG}")
        if not sb.resident:
            # A resident worker is its process's whole program (``resident_ok``): every child
            # it has is a job's. Otherwise the children it had before are not this job's.
            sb._before = {p for p in children_of(os.getpid()) if not is_zombie(p)}
        if sb.mechanism == MECH_PG:
            _become_subreaper()  # what leaves the job's group comes back to us when orphaned
        sb._plan_limits(plan)
        if sb.resident:  # a limit the last job had and this one has not is lifted now
            for f in sorted((f for f in _HELD if f not in sb._limited), key=lambda f: "memsw" not in f):
                _write(f, _HELD.pop(f)[1])  # memsw first: it may never go below memory
            _PLANNED[:] = [sb.limits, time.monotonic(), tuple(sb.rlimits), sb.cpus,
                           tuple(sb.notes), tuple(sb.unenforced), tuple(sb._limited)]
        _LIVE.add(sb)
        return sb

    def _reuse_plan(self) -> bool:
        """A resident worker's job with the limits of the job before it, planned less than
        ``REPLAN_S`` ago: its cgroup holds them already (``_HELD``), nothing is read or
        written. (The memory limit follows the worker's own usage within that delay.)"""
        if not _PLANNED or _PLANNED[0] != self.limits or time.monotonic() - _PLANNED[1] > REPLAN_S:
            return False
        _, _, rlimits, self.cpus, notes, unenforced, limited = _PLANNED
        self.rlimits, self.notes = list(rlimits), list(notes)
        self.unenforced, self._limited = list(unenforced), list(limited)
        return True

    # ---- setting up --------------------------------------------------------------------

    def _make_cgroups(self, plan: _Plan, scope_dir: str, job_dir: str) -> None:
        for ctrl, base in plan.bases.items():
            scope = os.path.join(base, scope_dir)
            job = os.path.join(scope, job_dir)
            for d, parent in ((scope, base), (job, scope)):
                try:
                    os.mkdir(d, 0o755)
                except FileExistsError:
                    pass
                if ctrl == "cpuset":  # a v1 cpuset takes no task before it has cpus and mems
                    for f in ("cpuset.cpus", "cpuset.mems"):
                        if not _read(os.path.join(d, f)).strip():
                            _write(os.path.join(d, f), _read(os.path.join(parent, f)).strip())
            self.dirs[ctrl] = job
        if plan.mechanism == MECH_V2 and plan.v2_controllers:
            # Children of the scope get the controllers (the scope itself holds no process).
            scope = os.path.dirname(self.dirs[""])
            want = " ".join(f"+{c}" for c in ("memory", "pids", "cpuset") if c in plan.v2_controllers)
            _write(os.path.join(os.path.dirname(scope), "cgroup.subtree_control"), want)
            _write(os.path.join(scope, "cgroup.subtree_control"), want)

    def _limit(self, path: str, value: str, unlimited: str, *, slack: int = 0) -> bool:
        """Write one limit file of the job's cgroup; True if it holds ``value`` (within
        ``slack``). A resident worker keeps a limit from one job to the next one that has the
        same (a write of a cgroup v1 memory limit is dear): ``_HELD``."""
        if self.resident and _kept(path, int(value), slack):
            self._limited.append(path)
            return True
        if not _write(path, value):
            return False
        self._limited.append(path)
        if self.resident:
            _HELD[path] = (value, unlimited)
        return True

    def _file(self, ctrl: str, name: str) -> str | None:
        d = self.dirs.get(ctrl)
        if d is None and self.mechanism == MECH_V2:
            d = self.dirs.get("")
        if d is None:
            return None
        path = os.path.join(d, name)
        return path if os.path.exists(path) else None

    def _plan_limits(self, plan: _Plan) -> None:
        lim = self.limits
        am_root = os.geteuid() == 0
        nproc = None
        for u in lim.ulimits:
            res = getattr(resource, RLIMITS.get(u.name, ""), None)
            if res is None:
                self.unenforced.append(f"ulimit {u.name} is not known on this machine; not applied")
                continue
            soft, hard = u.soft, u.hard
            cur_hard = resource.getrlimit(res)[1]
            if not am_root and cur_hard != resource.RLIM_INFINITY and hard > cur_hard:
                self.unenforced.append(f"ulimit {u.name}: hard limit {hard} is above this worker's "
                                  f"{cur_hard}; {cur_hard} applied")
                hard = cur_hard
                soft = min(soft, hard)
            self.rlimits.append((res, soft, hard))
            if u.name == "nproc":
                nproc = soft
        if nproc is not None:
            pids_max = self._file("pids", "pids.max")
            extra = 0
            if self.resident:  # the worker's own threads count in its cgroup
                extra = len(_read(os.path.join(self.dirs.get("pids", ""), "tasks")).split())
            if pids_max and self._limit(pids_max, str(nproc + extra), "max"):
                pass  # a per-job count that also holds for root, and for a job's own threads
            elif am_root:
                self.unenforced.append(f"ulimit nproc {nproc} is not enforced: jobs run as root and no "
                                  "pids cgroup is available")
        if lim.memory_mib:
            limit = lim.memory_mib * 1048576
            done = False
            if self.resident:  # the worker's own memory is charged there too
                usage = _read(os.path.join(self.dirs.get("memory", self.dirs.get("", "")),
                                           "memory.usage_in_bytes" if self.mechanism == MECH_V1
                                           else "memory.current")).strip()
                limit += int(usage) if usage.isdigit() else 0
            if self.mechanism == MECH_V1:
                f = self._file("memory", "memory.limit_in_bytes")
                sw = self._file("memory", "memory.memsw.limit_in_bytes")
                if f and self.resident and not _kept(f, limit, MEMORY_SLACK) and sw in _HELD:
                    _write(sw, "-1")  # memsw may never go below memory: lift it, then set both
                    _HELD.pop(sw)
                done = bool(f and self._limit(f, str(limit), "-1", slack=MEMORY_SLACK))
                if done and sw:
                    self._limit(sw, str(limit), "-1", slack=MEMORY_SLACK)  # no escape into swap
            elif self.mechanism == MECH_V2:
                f = self._file("", "memory.max")
                done = bool(f and self._limit(f, str(limit), "max", slack=MEMORY_SLACK))
                sw = self._file("", "memory.swap.max")
                if done and sw:
                    self._limit(sw, "0", "max")
            if not done:
                self.rlimits.append((resource.RLIMIT_AS, limit, limit))
                self.notes.append(f"memory_mib {lim.memory_mib} is enforced with RLIMIT_AS (address "
                                  "space per process): this machine gives the job no memory cgroup")
        if lim.vcpus:
            self.cpus = _cpus_for(lim.vcpus, _cpu_salt(lim.vcpus))
            try:
                n = len(_allowed_cpus())
            except (AttributeError, OSError):
                n = 0
                self.unenforced.append(f"vcpus {lim.vcpus}: this machine cannot pin jobs to CPUs")
            if n and lim.vcpus > n:
                self.unenforced.append(f"vcpus {lim.vcpus}: this worker may use only {n} CPU(s); not "
                                  "pinned")
            if self.cpus is not None and not self.resident:
                f = self._file("cpuset", "cpuset.cpus")
                if f:
                    _write(f, ",".join(map(str, self.cpus)))

    # ---- the child ---------------------------------------------------------------------

    def preexec(self) -> Callable[[], None] | None:
        """The function Popen runs in the child before exec (join the job's cgroup, set the
        rlimits), or None when the child has nothing to do: then Popen keeps its fast
        ``vfork`` path (a ``fork`` of the worker costs milliseconds a job). Use with
        ``start_new_session=True``, inside ``spawning()``."""
        procs = [] if self.resident else [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]
        rlimits = list(self.rlimits)
        if not procs and not rlimits:
            return None

        def child() -> None:
            me = str(os.getpid())
            for p in procs:
                with open(p, "w") as fh:
                    fh.write(me)
            for res, soft, hard in rlimits:
                resource.setrlimit(res, (soft, hard))

        return child

    def spawning(self) -> contextlib.AbstractContextManager[None]:
        """Around the Popen of the job: this thread is pinned to the job's CPUs while it
        starts the job, which inherits them from its first instruction; restored after. A
        resident worker (its process's whole program) stays pinned from one job to the next
        while their CPUs are the same: two system calls a job fewer."""
        global _PINNED
        if self.resident:
            if self.cpus != _PINNED:
                with contextlib.suppress(OSError):
                    if _PINNED is None:
                        _UNPINNED.append(os.sched_getaffinity(0))
                    os.sched_setaffinity(0, self.cpus if self.cpus is not None else _UNPINNED[0])
                    _PINNED = self.cpus
            return _NOTHING
        if self.cpus is None:
            return _NOTHING
        return self._pinned_while_spawning()

    @contextlib.contextmanager
    def _pinned_while_spawning(self) -> Iterator[None]:
        before = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, self.cpus)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, before)

    def attach(self, pid: int) -> None:
        """Record the job's leader (its process group is the job's session)."""
        self.pid = pid

    # ---- the end -----------------------------------------------------------------------

    def processes(self) -> set[int]:
        """Live processes of the job (as far as the mechanism can tell)."""
        if self.dirs:
            found: set[int] = set()
            for d in self.dirs.values():
                found |= _procs_in(d)
            found.discard(os.getpid())
            return {p for p in found if not is_zombie(p)}
        return {p for p in self._fallback_targets() if not is_zombie(p)}

    def _fallback_targets(self) -> set[int]:
        """The job's leader and its descendants, and the processes re-parented to this worker
        (a subreaper) since the job started, with theirs; never a process of another live
        sandbox of this process (a program may run several agents in threads)."""
        others: set[int] = set()
        for sb in list(_LIVE):
            if sb is not self and sb.pid is not None:
                others |= {sb.pid} | descendants({sb.pid})
        roots = {p for p in children_of(os.getpid()) if p not in self._before and p not in others}
        if self.pid is not None:
            roots.add(self.pid)
        return (roots | descendants(roots)) - others

    def kill_all(self) -> int:
        """SIGKILL every process of the job, whatever it did to its session, group or
        environment; reap those that are this process's children. Returns how many."""
        killed = 0
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.dirs:  # the cgroup holds every process of the job, re-parented or not
            if self.resident and not self._others_in_resident():
                _reap(self._leftover_zombies())
                return killed  # nothing of the job is left: the common end of a job
            killed += _kill_cgroup_dirs(self.dirs, spare=os.getpid() if self.resident else None)
            _reap(self._leftover_zombies())
            return killed
        end = time.monotonic() + KILL_WAIT_S
        while True:
            targets = self._fallback_targets()
            live = {p for p in targets if not is_zombie(p)}
            for p in live:
                _kill(p)
                with contextlib.suppress(OSError):
                    os.killpg(p, signal.SIGKILL) if os.getpgid(p) == p else None
            _reap(targets)
            killed += len(live)
            if not live or time.monotonic() > end:
                return killed
            time.sleep(0.005)

    def _others_in_resident(self) -> bool:
        """True if the resident cgroup holds a process besides this worker: one read of one
        hierarchy's member list (each of the job's processes is in every hierarchy's
        cgroup of the worker's, since they all started from it)."""
        d = self.dirs.get("pids") or self.dirs.get("freezer") or next(iter(self.dirs.values()))
        # Its task count first (one read of a kept descriptor, counting the cgroups below):
        # 1 is this worker's one thread alone. Anything else is looked at by its member list.
        tasks = _counter(_resident_file("pids", "pids.current")).strip()
        if tasks != "1":
            me = str(os.getpid())
            if any(p != me for p in _read(os.path.join(d, "cgroup.procs")).split()):
                return True
        try:  # a nested cgroup (made by a job running as root) is looked into by the full kill
            return os.stat(d).st_nlink > 2
        except OSError:
            return True

    def _leftover_zombies(self) -> set[int]:
        """Dead children of this process that appeared since the job started (its killed
        processes, re-parented to this subreaper), except other live sandboxes' leaders (their
        Popen reaps those)."""
        if not _zombie_child():
            return set()
        others = {sb.pid for sb in list(_LIVE) if sb is not self and sb.pid is not None}
        return {p for p in children_of(os.getpid())
                if p not in self._before and p not in others and is_zombie(p)}

    def oom_killed(self) -> bool:
        """True if the kernel killed a process of the job for its memory limit."""
        count = self._oom_count()
        if self.resident:
            _OOM_SEEN[self.dirs.get("memory", self.dirs.get("", ""))] = count
        return count > self._oom_before

    def _oom_count(self) -> int:
        if self.mechanism == MECH_V1:
            ctrl, name = "memory", "memory.oom_control"
        elif self.mechanism == MECH_V2:
            ctrl, name = "", "memory.events"
        else:
            return 0
        if self.resident:  # kept open; a job's own cgroup is read once, gone after
            text = _counter(_resident_file(ctrl, name))
        else:
            text = _read(os.path.join(self.dirs.get(ctrl, "/nonexistent"), name))
        at = text.find("oom_kill ")  # a line "oom_kill N" (not "oom_kill_disable N")
        if at < 0:
            return 0
        end = text.find("\n", at)
        value = text[at + 9:end if end >= 0 else None].strip()
        return int(value) if value.isdigit() else 0

    def close(self) -> None:
        """Kill what is left and remove the job's cgroups."""
        if self._closed:
            return
        self._closed = True
        try:
            self.kill_all()
            if not self.resident:  # a resident worker's limits stay for its next job (create)
                self._remove_dirs()
        finally:
            _LIVE.discard(self)

    def _remove_dirs(self) -> None:
        for d in self.dirs.values():
            _rmdir_tree(d)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(d))  # the scope, once no job of this worker is left


SCRATCH_ENV = "HYPER_SCRATCH"  # where workers keep their jobs' TMPDIRs and scripts


def default_scratch() -> str:
    """The folder a worker of this machine keeps its jobs' TMPDIRs and scripts in (and where
    the daemon looks for what a dead worker left there): ``HYPER_SCRATCH``, else the system's
    temporary folder."""
    import tempfile

    return os.environ.get(SCRATCH_ENV) or tempfile.gettempdir()


def _tmp_home_prefix(worker_id: str) -> str:
    return f"hyper-worker-{_safe(worker_id)[:40]}-"


def new_tmp_home(scratch: str, worker_id: str) -> str | None:
    """The folder of one worker's jobs' TMPDIRs: ``<scratch>/hyper-worker-<id>-<8 random>``,
    0711 (a job run under another uid passes through to its own 0700 directory; nobody lists
    it); None if none can be made."""
    import secrets

    for _ in range(5):
        path = os.path.join(scratch, _tmp_home_prefix(worker_id) + secrets.token_hex(4))
        try:
            os.mkdir(path, 0o700)
            os.chmod(path, 0o711)  # after the mkdir: whatever the umask
            return path
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def remove_tmp_homes(scratch: str, worker_id: str) -> int:
    """Remove what a dead worker left of its jobs' TMPDIRs (a worker that ends removes its
    own); how many folders."""
    import shutil

    prefix = _tmp_home_prefix(worker_id)
    try:
        names = [n for n in os.listdir(scratch) if n.startswith(prefix) and len(n) == len(prefix) + 8]
    except OSError:
        return 0
    for n in names:
        shutil.rmtree(os.path.join(scratch, n), ignore_errors=True)
    return len(names)


def kill_scope(scope: str) -> int:
    """Kill every process in the cgroups of worker ``scope`` (``hyper-tui-<scope>``, wherever
    they are in the hierarchies) and remove them: the daemon's cleanup after a dead worker.
    Returns how many processes were killed (0 without cgroups)."""
    name = f"hyper-tui-{_safe(scope)}"
    found: dict[str, str] = {}
    for ctrl, mount in _mounts().items():
        for folder, dirs, _files in os.walk(mount):
            if name in dirs:
                found[ctrl] = os.path.join(folder, name)
                break
            if folder.count("/") - mount.count("/") >= 6:
                dirs.clear()
    if not found:
        return 0
    killed = _kill_cgroup_dirs(found)
    for d in found.values():
        _rmdir_tree(d)
    return killed


_LIVE: set[Sandbox] = set()  # the sandboxes of this process not yet closed
_REPORTED: set[tuple[str, str]] = set()


def first_report(definition: str, notes: list[str]) -> list[str]:
    """The notes not yet reported for ``definition`` by this process: a limit the machine
    cannot enforce is said once per definition, not once per job."""
    new = [n for n in notes if (definition, n) not in _REPORTED]
    _REPORTED.update((definition, n) for n in new)
    return new
