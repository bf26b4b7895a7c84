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


# --------------------------------------------------------------------------------------------
# Job ids: integers from one sequence; array tasks are ``ID[INDEX]``, ``ID[]`` is the whole array

MAX_ID = 2**63 - 1  # SQLite's largest integer


def parse_job_ref(text: str) -> tuple[int, int | None, bool]:
    """``"12"`` -> (12, None, False); ``"12[3]"`` -> (12, 3, False); ``"12[]"`` -> (12, None, True)."""
    from hyper_tui.errors import NotFoundError, ValidationError

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
                 "timeout", "priority", "hold", "depends", "array", "array_params", "commands")

    def __init__(self, queue: str, definition: str, name: str, command: str | None = None,
                 argv: list[str] | None = None, env: dict[str, str] | None = None,
                 cwd: str | None = None, retries: int = 2, timeout: float | None = None,
                 priority: int = 0, hold: bool = False,
                 depends: list[tuple[str, str]] | None = None, array: ArraySpec | None = None,
                 array_params: list[dict[str, Any]] | None = None,
                 commands: list[str] | None = None) -> None:
        self.queue, self.definition, self.name = queue, definition, name
        self.command, self.argv, self.env, self.cwd = command, argv, env or {}, cwd
        self.retries, self.timeout, self.priority, self.hold = retries, timeout, priority, hold
        self.depends = depends or []
        self.array, self.array_params = array, array_params
        self.commands = commands  # qsub --stdin: one job per command, all else shared

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
