"""HostClient: one interface to a host, whatever its kind. The TUI and the CLI talk to this.

``LocalHostClient`` works on the embedded local host (SQLite store, daemon); the aws host's
``AwsHostClient`` (``hyper_tui.aws.client``) implements the same methods with boto3.
Every method returns plain data (dicts, lists, dataclasses), never widgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hyper_tui import config, paths, registry
from hyper_tui.core.jobs import CancelResult, Submission, is_final
from hyper_tui.local import jobs as local_jobs


class HostClient(Protocol):
    name: str
    kind: str

    # resources
    def load_config(self) -> config.HostConfig: ...
    def save_config(self, cfg: config.HostConfig) -> dict[str, str]: ...
    def resource_status(self, kind: str | None = None) -> dict[tuple[str, str], tuple[str, str]]: ...
    # jobs
    def submit(self, subs: list[Submission]) -> list[str]: ...
    def list_jobs(self, *, queue: str | None = None, state: str | None = None,
                  name: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...
    def count_jobs(self, *, queue: str | None = None, name: str | None = None) -> dict[str, int]: ...
    def summary(self) -> dict[str, dict[str, int]]: ...
    def get_job(self, ref: str) -> dict[str, Any]: ...
    def cancel(self, refs: list[str], *, queue: str | None = None, name: str | None = None,
               everything: bool = False) -> list[CancelResult]: ...
    def release(self, refs: list[str]) -> list[tuple[str, str]]: ...
    def logs(self, ref: str, *, offset: int = 0, tail: int | None = None
             ) -> tuple[list[tuple[float, str, str]], int]: ...
    def job_finished(self, ref: str) -> bool: ...
    # observing
    def metrics(self, since: float) -> dict[str, dict[str, list[tuple[float, float]]]]: ...
    def workers(self) -> list[dict[str, Any]]: ...
    def status(self) -> dict[str, Any]: ...
    def emergency_stop(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class LocalHostClient:
    kind = "local"

    def __init__(self, name: str, *, start_daemon: bool = True) -> None:
        from hyper_tui.qcmd.common import LocalHost

        self.name = name
        self._host = LocalHost(name)
        self.store = self._host.store
        self.start_daemon = start_daemon

    # ---- resources ---------------------------------------------------------------------

    def load_config(self) -> config.HostConfig:
        return config.load(self.name)

    def save_config(self, cfg: config.HostConfig) -> dict[str, str]:
        from hyper_tui.apply import apply_config

        config.save(cfg)
        self._host._res = None
        return apply_config(cfg, self.store)

    def resource_status(self, kind: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
        return {(r["kind"], r["name"]): (r["status"], r["log"]) for r in self.store.resources(kind)}

    # ---- jobs --------------------------------------------------------------------------

    def submit(self, subs: list[Submission]) -> list[str]:
        ids = local_jobs.submit(self.store, subs)
        if self.start_daemon:
            self.ensure_daemon()
        return ids

    def list_jobs(self, *, queue: str | None = None, state: str | None = None,
                  name: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return local_jobs.list_jobs(self.store, queue=queue, state=state, name=name, limit=limit,
                                    offset=offset)

    def count_jobs(self, *, queue: str | None = None, name: str | None = None) -> dict[str, int]:
        return local_jobs.count_jobs(self.store, queue=queue, name=name)

    def summary(self) -> dict[str, dict[str, int]]:
        return local_jobs.summary(self.store)

    def get_job(self, ref: str) -> dict[str, Any]:
        return local_jobs.get_job(self.store, ref)

    def cancel(self, refs: list[str], *, queue: str | None = None, name: str | None = None,
               everything: bool = False) -> list[CancelResult]:
        return local_jobs.cancel(self.store, refs, queue=queue, name=name, everything=everything)

    def release(self, refs: list[str]) -> list[tuple[str, str]]:
        """qrls: (ref, "released" or "not held") per ref."""
        out = local_jobs.release(self.store, refs)
        if self.start_daemon:
            self.ensure_daemon()
        return out

    def logs(self, ref: str, *, offset: int = 0, tail: int | None = None
             ) -> tuple[list[tuple[float, str, str]], int]:
        """Records of one job from byte ``offset`` of its log (0: from the start, with the
        submit and system events); returns the records and the offset to continue from."""
        from hyper_tui.qcmd.qlog import job_records

        job = local_jobs.find_jobs(self.store, ref)[0]
        return job_records(self._host, job, tail=tail, offset=offset)

    def job_finished(self, ref: str) -> bool:
        return all(is_final(j["state"]) for j in local_jobs.find_jobs(self.store, ref))

    # ---- observing ---------------------------------------------------------------------

    def metrics(self, since: float) -> dict[str, dict[str, list[tuple[float, float]]]]:
        out: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for ts, name, label, value in self.store.read(
                "SELECT ts, name, label, value FROM metrics WHERE ts >= ? ORDER BY ts", (since,)):
            out.setdefault(name, {}).setdefault(label, []).append((ts, value))
        return out

    def workers(self) -> list[dict[str, Any]]:
        keys = ("id", "pid", "region", "queue", "definition", "vcpus", "started", "heartbeat",
                "state", "jobs_done")
        return [dict(zip(keys, r, strict=True)) for r in self.store.read(
            f"SELECT {', '.join(keys)} FROM workers ORDER BY started")]

    def status(self) -> dict[str, Any]:
        from hyper_tui.local.daemon_control import daemon_status

        return {"host": self.name, "kind": "local", **daemon_status(self.name)}

    def ensure_daemon(self) -> int | None:
        from hyper_tui.local.daemon_control import ensure_daemon

        return ensure_daemon(self.name)

    def emergency_stop(self) -> dict[str, Any]:
        from hyper_tui.local.emergency import emergency_stop_local

        return emergency_stop_local(self.name)

    @property
    def data_dir(self) -> Path:
        return paths.host_data_dir(self.name)

    def close(self) -> None:
        self._host.close()


def client_for(host: str | None = None, **kwargs: Any) -> HostClient:
    """The client of ``host`` (default: the selected host; created on first use)."""
    ref = registry.resolve(host)
    if ref.kind == "local":
        return LocalHostClient(ref.name, **kwargs)
    from hyper_tui.aws.client import AwsHostClient

    return AwsHostClient.for_host(ref.name)
