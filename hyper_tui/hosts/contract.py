"""The host contract: what every front end may ask of a host, whatever its kind.

``HostClient`` is implemented by ``hyper_tui.local.client.LocalHostClient`` and
``hyper_tui.aws.client.AwsHostClient`` (registered in ``hosts.registry.KINDS``); the same
suite, tests/contract/test_host_contract.py, runs against both. Results are the typed rows of
``hyper_tui.core.jobs``; clients print nothing. ``WorkerLauncher`` is the only per-kind part of
scaling: the local ``ProcessLauncher`` and the aws ``BatchLauncher`` start, list and stop
workers; how many is decided once, elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hyper_tui.core.host import Capabilities, HostStatus, Metrics, Series, Summary
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

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["Capabilities", "HostClient", "HostStatus", "Metrics", "Series", "Summary",
           "WorkerLauncher"]

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
    @classmethod
    def import_host(cls, name: str, **options: Any) -> dict[str, Any]:
        """Register host ``name`` deployed elsewhere (``hosts import-deployment``); what was
        found. A kind with nothing deployed (``Capabilities.deploy`` False) raises UsageError."""

    # resources
    def load_config(self) -> Any: ...  # hyper_tui.config.HostConfig
    def save_config(self, cfg: Any) -> dict[str, str]: ...
    def resource_status(self, kind: str | None = None) -> dict[tuple[str, str], tuple[str, str]]: ...
    def require(self, kind: str, name: str, flag: str) -> None:
        """Raise NotFoundError naming ``flag`` when the host declares no such resource."""
    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """The declared resources of ``kind`` as plain dicts, read without the validating
        loader where the kind can: qsub picks its queue and definition, and the definition's
        defaults (``core.submit.definition_defaults``), from them."""

    # jobs
    def submit(self, subs: list[Submission]) -> list[str]: ...
    def list_jobs(self, *, queue: str | None = None, state: str | None = None,
                  name: str | None = None, limit: int = 100, offset: int = 0,
                  match: str | None = None, regex: bool = False, sort: str = "id",
                  descending: bool = True, user: str | None = None) -> list[JobRow]:
        """One page of the jobs that pass the filter, sorted by ``sort`` (one of
        ``core.job_query.SORT_COLUMNS``) over all of them. ``match`` is a substring
        (case-insensitive) of the name, the command or the reason, or a regular expression
        when ``regex``; ``user`` the submitting user's name, exactly."""
    def count_jobs(self, *, queue: str | None = None, name: str | None = None,
                   state: str | None = None, match: str | None = None,
                   regex: bool = False, user: str | None = None) -> Counts: ...
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
    def close(self) -> None: ...

    # deploying (Capabilities.deploy; a kind without it raises a one-line UsageError)
    def synth(self, out: str | None = None) -> list[Path]:
        """Write the host's deployment templates (offline); the files written."""
    def deploy(self, out: str | None = None, *, lookups: bool = True,
               on_event: Callable[[Any], None] | None = None, cancel: Any = None) -> Any:
        """Deploy the host, calling ``on_event`` per progress event (``stack``, ``status``,
        ``line``); the result has ``status``, ``stacks``, ``failure`` and ``log_path``."""
    def diff(self, out: str | None = None, *, lookups: bool = True,
             on_event: Callable[[Any], None] | None = None, cancel: Any = None) -> Any:
        """What a deploy would change, per stack (``stacks``: each with ``summary()`` and
        ``lines``), and ``assembly``, the templates to deploy for exactly that."""
    def bootstrap(self, *, on_event: Callable[[Any], None] | None = None,
                  cancel: Any = None) -> Any:
        """Prepare the cloud account for deploys, with scoped permissions."""
    def bootstrap_policies(self) -> dict[str, dict[str, Any]]:
        """The policy documents ``bootstrap`` creates, by name."""
    def import_retained(self, assembly: str | None = None, out: str | None = None) -> Any:
        """Find the host's retained resources that exist outside their stacks and write the
        ``cdk import`` resource-mapping files (``plan``, ``files``, ``commands()``)."""
    def refresh_lookups(self) -> dict[str, Any]:
        """Look up what synth needs from the cloud and keep it, so that synth stays offline."""
    def refresh_weights(self, queue: str | None = None) -> dict[str, dict[str, int]]:
        """Recompute the 'auto' region weights of ``queue`` (default: every auto queue)."""

    # the control plane on this machine (Capabilities.daemon; else a one-line UsageError)
    def start(self) -> int | None:
        """Start the host's daemon unless it runs; its pid."""
    def serve(self) -> int:
        """Run the daemon in the foreground until it stops; its exit code."""
    def stop(self) -> bool:
        """Stop the daemon and its workers; whether it was running."""

    # jobs by filter (the TUI's "select all matching")
    def cancel_matching(self, *, queue: str | None = None, state: str | None = None,
                        name: str | None = None, match: str | None = None, regex: bool = False,
                        user: str | None = None,
                        progress: Callable[[int, int], None] | None = None) -> int:
        """Cancel every active job that passes the filter of ``list_jobs``, in bounded
        batches, calling ``progress(done, total)`` after each; how many were cancelled."""
    def job_position(self, ref: str, *, queue: str | None = None, state: str | None = None,
                     match: str | None = None, regex: bool = False, sort: str = "id",
                     descending: bool = True, user: str | None = None) -> int | None:
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
