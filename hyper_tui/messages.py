"""Every message the app's workers send back to the UI, in one place.

Workers do the I/O (through a ``HostClient``) in threads; they never touch widgets. They post
one of these small dataclasses, and the screen that asked renders it. Messages that carry a
full refresh (a jobs page, a metrics sample) may replace an older one still in the queue
(``can_replace``), so a slow UI skips stale updates instead of falling behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class HostConnected(Message):
    """The app's client is ready (or could not be made: ``error``)."""

    name: str | None
    kind: str | None
    error: str | None = None
    client: Any = None  # the SerialClient, when connected


@dataclass
class HostStatus(Message):
    """Daemon or deployment status of the current host, for the header."""

    status: Any  # hyper_tui.hosts.contract.HostStatus, None when it could not be read
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HostStatus)


@dataclass
class HostsLoaded(Message):
    hosts: list[dict[str, Any]]
    selected: str | None


@dataclass
class HostChanged(Message):
    """A host was created, selected, imported or deleted."""

    what: str
    name: str
    select: bool = False


@dataclass
class ResourcesLoaded(Message):
    kind: str
    config: Any  # hyper_tui.config.HostConfig
    status: dict[tuple[str, str], tuple[str, str]]


@dataclass
class ConfigSaved(Message):
    kind: str
    name: str
    verb: str  # added | updated | deleted
    changed: dict[str, str] = field(default_factory=dict)


@dataclass
class JobsPage(Message):
    """One page of the jobs table and the counts by state, with the time the query took."""

    rows: list[dict[str, Any]]
    counts: dict[str, int] | None
    offset: int  # -1: counts only; -2: the query failed (``error`` says why)
    elapsed_ms: float
    generation: int
    error: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsPage)


@dataclass
class JobsSubmitted(Message):
    ids: list[str]


@dataclass
class JobsCancelled(Message):
    results: list[Any]  # hyper_tui.core.jobs.CancelResult


@dataclass
class JobsProgress(Message):
    """How far a cancel of every matching job has got (``done`` of ``total``)."""

    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsProgress)


@dataclass
class JobsMatchCancelled(Message):
    """A cancel of every job that matched ``described`` (the filter, in words) is done."""

    cancelled: int
    described: str


@dataclass
class JobPosition(Message):
    """Where job ``job_id`` sits in the listing as filtered and sorted (None: not in it)."""

    job_id: str
    position: int | None


@dataclass
class JobsReleased(Message):
    results: list[Any]  # hyper_tui.core.jobs.ReleaseResult


@dataclass
class JobDetails(Message):
    job: Any  # hyper_tui.core.jobs.JobDetail


@dataclass
class LogChunk(Message):
    """Records of a job's log from ``offset``; ``first`` for the initial (tail) read."""

    ref: str
    records: list[Any]  # hyper_tui.core.jobs.LogRecord
    offset: int
    finished: bool
    first: bool = False


@dataclass
class MetricsLoaded(Message):
    metrics: dict[str, dict[str, list[tuple[float, float]]]]
    summary: dict[str, dict[str, int]]
    now: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsLoaded)


@dataclass
class DeployLines(Message):
    """A batch of events from the deploy generator: (stack, status, line) triples."""

    events: list[tuple[str, str, str]]


@dataclass
class DeployFinished(Message):
    ok: bool
    message: str
    stacks: dict[str, str] | None = None  # stack -> ACTIVE / FAILED, when the deploy ran
    log: str | None = None                # the deploy's log file


@dataclass
class DiffReady(Message):
    """A ``cdk diff`` of every stack (``hyper_tui.aws.deploy.DiffResult``), or why it failed;
    ``confirm``: ask to deploy it."""

    result: Any
    error: str | None
    confirm: bool


@dataclass
class ApplyLogLoaded(Message):
    """A host's resources with their status and apply log, and the last deploy (aws hosts:
    status, at, stacks, failure, log)."""

    rows: list[dict[str, Any]]
    last_deploy: dict[str, Any] | None = None
