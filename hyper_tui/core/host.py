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
    # Faults a front end shows as such (None: the kind does not know or say). ``daemon_running``
    # False: a local host's daemon is down, so RUNNING jobs are as it left them, not live.
    # ``store_damaged``: why the store refuses new work (the daemon found it broken).
    daemon_running: bool | None = None
    store_damaged: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "kind": self.kind, **self.details}
