"""What a host is and can do, as the front ends see it: its capabilities, its status and its
metrics series. Beside the job rows of ``core.jobs`` so that the host kinds (``hyper_tui.local``,
``hyper_tui.aws``) return them without importing the host contract (``hyper_tui.hosts``), which
imports the kinds. Standard library only; ``dataclasses`` is off qsub's path (qsub never builds
these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hyper_tui.core.jobs import Counts

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
    # ... backing off to at most this while the log stays quiet (a cloud's log reads are
    # rate-limited per account: CloudWatch's FilterLogEvents takes a few a second in all)
    log_poll_max_s: float = 0.2
    # list_jobs/count_jobs take ``finished_since``: active jobs plus those that ended since
    # then (qstat without -x); a kind without it lists every finished job
    finished_since: bool = False


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
    # A host with a daemon on this machine (``Capabilities.daemon``); None for the others.
    daemon_running: bool | None = None
    daemon_last_seen: float | None = None  # wall time of the stopped daemon's last sign of life
    store_damaged: str | None = None       # why the store was found damaged: nothing is accepted
    stale_running: int = 0                 # jobs recorded RUNNING while no daemon runs
    lost_workers: tuple[str, ...] = ()     # workers recorded running whose process is gone
    warning: str | None = None             # one line for a header or footer, when one is due

    def to_dict(self) -> dict[str, Any]:
        out = {"host": self.host, "kind": self.kind, **self.details}
        if self.daemon_running is not None:
            out.update(daemon_running=self.daemon_running, stale_running=self.stale_running,
                       lost_workers=list(self.lost_workers))
            if self.daemon_last_seen is not None:
                out["daemon_last_seen"] = self.daemon_last_seen
        if self.store_damaged is not None:
            out["store_damaged"] = self.store_damaged
        if self.warning is not None:
            out["warning"] = self.warning
        return out
