"""The host contract: what every front end may ask of a host, whatever its kind.

``HostClient`` is implemented by ``hyper_tui.local.client.LocalHostClient`` and
``hyper_tui.aws.client.AwsHostClient`` (registered in ``hosts.registry.KINDS``); the same
suite, tests/contract/test_host_contract.py, runs against both. Results are the typed rows of
``hyper_tui.core.jobs``; clients print nothing. ``WorkerLauncher`` is the only per-kind part of
scaling: the local ``ProcessLauncher`` and the aws ``BatchLauncher`` start, list and stop
workers; how many is decided once, elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hyper_tui.core.jobs import (
    CancelResult,
    Counts,
    JobDetail,
    JobRow,
    LogChunk,
    ReleaseResult,
    Submission,
    WorkerRow,
)

# (timestamp, value) points of one series; metrics() returns {name: {label: points}}
Series = list[tuple[float, float]]
Metrics = dict[str, dict[str, Series]]
Summary = dict[str, Counts]  # queue -> counts by state


@dataclass(frozen=True)
class Capabilities:
    """What a host kind can do, for front ends that must not ask for its kind."""

    daemon: bool  # a scheduler daemon runs on this machine (start-host, stop-host)
    deploy: bool  # resources are deployed with synth/deploy (a cloud host)
    local_workers: bool  # workers are processes of this machine (worker pids)
    log_poll_s: float = 0.2  # how often a log that follows a job asks for more


@dataclass(frozen=True)
class HostStatus:
    """How a host is: its daemon (local) or its deployment (aws). ``healthy`` is False when
    it cannot run jobs as it is, ``state`` "stopped" when nothing runs but starts on demand;
    ``summary`` is one line for a header."""

    host: str
    kind: str
    healthy: bool
    state: str  # "running"/"stopped" (daemon), or the deployment state (DEPLOYED, ...)
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, **self.details}


@runtime_checkable
class HostClient(Protocol):
    name: str
    kind: str
    capabilities: Capabilities

    @classmethod
    def open(cls, name: str, **options: Any) -> HostClient: ...
    @classmethod
    def kind_capabilities(cls) -> Capabilities:
        """What every host of this kind can do (``capabilities`` of a client)."""
    @classmethod
    def brief_status(cls, name: str) -> str:
        """A word or two for a list of hosts, read without opening the host or the network."""
    @classmethod
    def shutdown(cls, name: str) -> None:
        """Stop what runs on this machine for host ``name`` (before it is deleted)."""

    # resources
    def load_config(self) -> Any: ...  # hyper_tui.config.HostConfig
    def save_config(self, cfg: Any) -> dict[str, str]: ...
    def resource_status(self, kind: str | None = None) -> dict[tuple[str, str], tuple[str, str]]: ...
    def require(self, kind: str, name: str, flag: str) -> None:
        """Raise NotFoundError naming ``flag`` when the host declares no such resource."""

    # jobs
    def submit(self, subs: list[Submission]) -> list[str]: ...
    def list_jobs(self, *, queue: str | None = None, state: str | None = None,
                  name: str | None = None, limit: int = 100, offset: int = 0,
                  match: str | None = None, regex: bool = False, sort: str = "id",
                  descending: bool = True) -> list[JobRow]:
        """One page of the jobs that pass the filter, sorted by ``sort`` (one of
        ``core.job_query.SORT_COLUMNS``) over all of them. ``match`` is a substring
        (case-insensitive) of the name, the command or the reason, or a regular expression
        when ``regex``."""
    def count_jobs(self, *, queue: str | None = None, name: str | None = None,
                   state: str | None = None, match: str | None = None,
                   regex: bool = False) -> Counts: ...
    def summary(self) -> Summary: ...
    def get_job(self, ref: str) -> JobDetail: ...
    def cancel(self, refs: list[str], *, queue: str | None = None, name: str | None = None,
               everything: bool = False) -> list[CancelResult]: ...
    def release(self, refs: list[str]) -> list[ReleaseResult]: ...
    def logs(self, ref: str, *, offset: int = 0, tail: int | None = None) -> LogChunk: ...
    def job_finished(self, ref: str) -> bool: ...

    # observing
    def metrics(self, since: float) -> Metrics: ...
    def workers(self) -> list[WorkerRow]: ...
    def status(self) -> HostStatus: ...
    def emergency_stop(self) -> dict[str, Any]: ...
    def agent_transport(self, worker_id: str, queue: str, definition: str) -> Any:
        """A transport for a worker agent run by hand on this machine (``hyper-tui worker``)."""
    def close(self) -> None: ...

    # jobs by filter (the TUI's "select all matching")
    def cancel_matching(self, *, queue: str | None = None, state: str | None = None,
                        name: str | None = None, match: str | None = None, regex: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> int:
        """Cancel every active job that passes the filter of ``list_jobs``, in bounded
        batches, calling ``progress(done, total)`` after each; how many were cancelled."""
    def job_position(self, ref: str, *, queue: str | None = None, state: str | None = None,
                     match: str | None = None, regex: bool = False, sort: str = "id",
                     descending: bool = True) -> int | None:
        """The offset of job ``ref`` in ``list_jobs`` with these arguments (None: the filter
        leaves it out): the TUI's jump to a job."""


@runtime_checkable
class WorkerLauncher(Protocol):
    """Starts, lists and stops the workers of one host (Parsl's provider: no decisions)."""

    def start(self, queue: str, definition: str, region: str, count: int) -> list[str]:
        """Start ``count`` workers for (queue, definition) in ``region``; their ids."""

    def live(self, queue: str | None = None, definition: str | None = None,
             region: str | None = None) -> list[WorkerRow]:
        """The workers running now (optionally of one queue, definition or region)."""

    def stop(self, worker_ids: list[str]) -> int:
        """Stop these workers; how many were running."""
