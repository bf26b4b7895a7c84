"""Job states, job ids and the submission types every host kind shares.

Standard library only and cheap to import (qsub's hot path): ``JobState`` is a ``str``
subclass with one member per state rather than an ``enum.Enum``, which would cost qsub a few
milliseconds of imports. A state compares, hashes, formats and is stored as its name.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from typing import Any


class JobState(str):
    """One of PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED (``JobState("X")`` checks)."""

    __slots__ = ()
    PENDING: JobState
    QUEUED: JobState
    RUNNING: JobState
    SUCCEEDED: JobState
    FAILED: JobState
    CANCELLED: JobState

    def __new__(cls, value: str) -> JobState:
        if value not in _NAMES:
            raise ValueError(f"{value!r} is not a job state (one of {', '.join(_NAMES)})")
        return _MEMBERS.get(value) or str.__new__(cls, value)

    def __repr__(self) -> str:
        return f"JobState.{str.__str__(self)}"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


_NAMES = ("PENDING", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
_MEMBERS: dict[str, JobState] = {}
for _n in _NAMES:
    _MEMBERS[_n] = JobState(_n)
    setattr(JobState, _n, _MEMBERS[_n])
del _n

PENDING, QUEUED, RUNNING = JobState.PENDING, JobState.QUEUED, JobState.RUNNING
SUCCEEDED, FAILED, CANCELLED = JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED
STATES: tuple[JobState, ...] = (PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATES: tuple[JobState, ...] = (PENDING, QUEUED, RUNNING)
FINAL_STATES: tuple[JobState, ...] = (SUCCEEDED, FAILED, CANCELLED)
# For SQL: "('PENDING','QUEUED','RUNNING')"
ACTIVE_SQL = "(" + ",".join(f"'{s}'" for s in ACTIVE_STATES) + ")"


def is_final(state: str) -> bool:
    return state in FINAL_STATES


def attempts_text(state: str, attempts: int, retries: int) -> str:
    """A job's attempts as a person reads them: how many ran, and while it is not finished,
    how many it may still get (a retry is used only by a lost worker or an exit code listed
    to retry: a finished job's "1 of 3" would read as retries it never had)."""
    if is_final(state):
        return str(attempts)
    return f"{attempts} of at most {retries + 1}"


# --------------------------------------------------------------------------------------------
# Job ids: integers from one sequence; array tasks are ``ID[INDEX]``, ``ID[]`` is the whole array

MAX_ID = 2**63 - 1  # SQLite's largest integer


def parse_job_ref(text: str) -> tuple[int, int | None, bool]:
    """``"12"`` -> (12, None, False); ``"12[3]"`` -> (12, 3, False); ``"12[]"`` -> (12, None, True)."""
    from hyper_tui.core.errors import NotFoundError, ValidationError

    head, bracket, idx = text.strip().split(".", 1)[0].partition("[")
    if bracket:
        if not idx.endswith("]"):
            head = ""  # not an id
        idx = idx[:-1]
    if not head.isdecimal() or (idx and not idx.isdecimal()):
        raise ValidationError(f"{text!r} is not a job id", fix="job ids look like 42, 42[7] or 42[]")
    jid, index = int(head), (int(idx) if idx else None)
    if jid > MAX_ID or (index is not None and index > MAX_ID):
        raise NotFoundError(f"no job {text.strip()}", fix="check the id with qstat")  # > SQLite's
    return jid, index, bool(bracket) and not idx


def format_id(job_id: int, array_id: int | None, idx: int | None) -> str:
    return f"{array_id}[{idx}]" if array_id is not None else str(job_id)


# --------------------------------------------------------------------------------------------
# What a front end submits


class ArraySpec:
    """An array range: START-END[:STEP][%MAX_RUNNING]."""

    __slots__ = ("start", "end", "step", "max_running")

    def __init__(self, start: int, end: int, step: int = 1, max_running: int | None = None) -> None:
        self.start, self.end, self.step, self.max_running = start, end, step, max_running

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArraySpec) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return f"ArraySpec({self.start}, {self.end}, {self.step}, {self.max_running})"

    @property
    def indices(self) -> range:
        return range(self.start, self.end + 1, self.step)


class Submission:
    """One submission: a job, an array (``array`` or ``array_params``), submitted as a unit.

    ``command`` is a script run by /bin/sh (or its shebang) with ``argv`` as its arguments;
    without ``command``, ``argv`` is run directly. ``depends`` holds (kind, job ref) pairs.
    """

    __slots__ = ("queue", "definition", "name", "command", "argv", "env", "cwd", "retries",
                 "timeout", "priority", "hold", "depends", "array", "array_params", "commands",
                 "user")

    def __init__(self, queue: str, definition: str, name: str, command: str | None = None,
                 argv: list[str] | None = None, env: dict[str, str] | None = None,
                 cwd: str | None = None, retries: int = 2, timeout: float | None = None,
                 priority: int = 0, hold: bool = False,
                 depends: list[tuple[str, str]] | None = None, array: ArraySpec | None = None,
                 array_params: list[dict[str, Any]] | None = None,
                 commands: list[str] | None = None, user: str | None = None) -> None:
        self.queue, self.definition, self.name = queue, definition, name
        self.command, self.argv, self.env, self.cwd = command, argv, env or {}, cwd
        self.retries, self.timeout, self.priority, self.hold = retries, timeout, priority, hold
        self.depends = depends or []
        self.array, self.array_params = array, array_params
        self.commands = commands  # qsub --stdin: one job per command, all else shared
        self.user = user  # who submitted it (core.submit.submitting_user); None: the host says

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Submission) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return f"Submission({self.queue}/{self.definition} {self.name!r})"


class CancelResult:
    """What qdel did to one job: ``outcome`` is "cancelled" or "already finished"."""

    __slots__ = ("job_id", "before", "outcome")

    def __init__(self, job_id: str, before: str, outcome: str) -> None:
        self.job_id, self.before, self.outcome = job_id, before, outcome

    @property
    def __dict__(self) -> dict[str, str]:  # type: ignore[override]
        return {"job_id": self.job_id, "before": self.before, "outcome": self.outcome}


# --------------------------------------------------------------------------------------------
# Typed result rows: what every host client returns (``hyper_tui.hosts.contract``). Plain
# ``__slots__`` classes, not dataclasses: ``dataclasses`` would put ``inspect`` on qsub's path.


class _Row:
    """A small record: keyword construction, equality, ``to_dict`` for JSON output."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(dict.fromkeys(
            (*cls.__mro__[1].__dict__.get("_fields", ()), *cls.__dict__.get("__slots__", ()))))

    def __init__(self, **values: Any) -> None:
        for k in self._fields:
            setattr(self, k, values.pop(k, None))
        if values:
            raise TypeError(f"{type(self).__name__}: unknown fields {', '.join(sorted(values))}")

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for k in self._fields:
            v = getattr(self, k)
            if isinstance(v, _Row):
                v = v.to_dict()
            elif isinstance(v, list):
                v = [x.to_dict() if isinstance(x, _Row) else x for x in v]
            out[k] = v
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._fields)})"


_JOB_FIELDS = ("id", "job_id", "array_id", "idx", "name", "queue", "definition", "state",
               "reason", "priority", "retries", "attempts", "timeout", "submitted", "started",
               "ended", "exit_code", "worker", "held", "user")


class JobRow(_Row):
    """One job in a listing. ``job_id`` is what people type (``42``, ``42[7]``); ``id`` is the
    host's own key (an integer on a local host, a string on aws)."""

    __slots__ = _JOB_FIELDS
    id: Any
    job_id: str
    array_id: Any
    idx: int | None
    name: str
    queue: str
    definition: str
    state: str
    reason: str | None
    priority: int
    retries: int
    attempts: int
    timeout: float | None
    submitted: float | None
    started: float | None
    ended: float | None
    exit_code: int | None
    worker: str | None
    held: bool
    user: str | None  # who submitted it (None: a host that did not record it)


class Attempt(_Row):
    """One run of a job: ``outcome`` is how it ended (None while it runs)."""

    __slots__ = ("attempt", "worker", "started", "ended", "exit_code", "outcome")
    attempt: int
    worker: str | None
    started: float | None
    ended: float | None
    exit_code: int | None
    outcome: str | None


class Dependency(_Row):
    """``kind`` (afterok, afterany, afternotok) on job ``on``."""

    __slots__ = ("kind", "on")
    kind: str
    on: str


class JobDetail(JobRow):
    """One job with its spec, dependencies and attempts (qstat -i, the TUI's details). For an
    array: its first task, with ``array_size`` and ``array_states`` (counts by state)."""

    __slots__ = ("command", "argv", "env", "cwd", "params", "depends", "attempt_history",
                 "array_size", "array_states", "why", "wregion")
    command: str | None
    argv: list[str] | None
    env: dict[str, str]
    cwd: str | None
    params: dict[str, Any] | None
    depends: list[Dependency]
    attempt_history: list[Attempt]
    array_size: int | None
    array_states: dict[str, int] | None
    why: str | None
    wregion: str | None


class Counts(_Row):
    """Jobs by state (every state present, zero when none)."""

    __slots__ = _NAMES

    def __init__(self, **values: int) -> None:
        super().__init__(**{s: int(values.get(s) or 0) for s in _NAMES})

    def __getitem__(self, state: str) -> int:
        return getattr(self, state)

    def get(self, state: str, default: int = 0) -> int:
        return getattr(self, state) if state in _NAMES else default

    def items(self) -> list[tuple[str, int]]:
        return [(s, getattr(self, s)) for s in _NAMES]

    @property
    def total(self) -> int:
        return sum(getattr(self, s) for s in _NAMES)


class ReleaseResult(_Row):
    """What qrls did to one ref: ``outcome`` is "released" or "not held"."""

    __slots__ = ("ref", "outcome")
    ref: str
    outcome: str


class LogRecord(_Row):
    """One record of a job's log: ``type`` is SYSTEM, STDOUT, STDERR or METRICS."""

    __slots__ = ("ts", "type", "data")
    ts: float
    type: str
    data: str

    def __init__(self, ts: float, type: str, data: str) -> None:  # noqa: A002
        self.ts, self.type, self.data = ts, type, data

    def key(self) -> tuple[float, str, str]:
        return (self.ts, self.type, self.data)


class LogChunk(_Row):
    """Records read from a job's log, the ``offset`` to read on from (opaque to callers: 0 is
    the start, with the submit event), and whether the job had finished when it was read (a
    finished chunk holds the job's last records)."""

    __slots__ = ("records", "offset", "final")
    records: list[LogRecord]
    offset: int
    final: bool


class WorkerRow(_Row):
    """A worker of a host: a local process or an aws Batch job (``count`` workers of an array)."""

    __slots__ = ("id", "pid", "region", "queue", "definition", "vcpus", "count", "started",
                 "heartbeat", "state", "jobs_done")
    id: str
    pid: int | None
    region: str
    queue: str
    definition: str
    vcpus: int
    count: int
    started: float | None
    heartbeat: float | None
    state: str
    jobs_done: int | None
