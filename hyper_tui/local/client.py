"""The local host's ``HostClient`` (``hyper_tui.hosts.contract``): the SQLite store of this
machine and its daemon. Standard library only at import (qsub submits through it); the
validating config loader (pydantic) is imported by the methods that need it.
"""

from __future__ import annotations

from hyper_tui import leanjson, paths
from hyper_tui.core.errors import NotFoundError, UsageError
from hyper_tui.core.jobs import (
    FINAL_STATES,
    Attempt,
    CancelResult,
    Counts,
    Dependency,
    JobDetail,
    JobRow,
    LogChunk,
    LogRecord,
    ReleaseResult,
    Submission,
    WorkerRow,
    is_final,
)
from hyper_tui.local import jobs as local_jobs

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from hyper_tui import config
    from hyper_tui.core.host import Capabilities, HostStatus, Metrics


class LocalHost:
    """A local host's store plus its declared resources, as plain dicts (the snapshot that
    config changes write; only when the YAML file changed behind our back, edited by hand, is
    the validating loader imported to re-apply it). qsub builds submissions from it, through
    ``LocalHostClient.resources``."""

    def __init__(self, name: str) -> None:
        from hyper_tui.local.store import Store

        self.name = name
        self.store = Store(paths.store_file(name))
        stamp = self.store.get_meta("config_stamp")
        if stamp is None or stamp != paths.config_stamp(name):
            self._reapply()
        self._res: dict[str, dict[str, dict]] | None = None

    def _reapply(self) -> None:
        from hyper_tui import config
        from hyper_tui.local.apply import apply_config

        apply_config(config.load(self.name), self.store, deployed=False)

    def resources(self, kind: str) -> dict[str, dict]:
        if self._res is None:
            self._res = {}
            for k, n, spec in self.store.read("SELECT kind, name, spec FROM resources"):
                self._res.setdefault(k, {})[n] = leanjson.loads(spec)
        return self._res.get(kind, {})

    def require(self, kind: str, name: str, flag: str) -> dict:
        items = self.resources(kind)
        if name not in items:
            import difflib

            hint = difflib.get_close_matches(name, list(items), n=1)
            fix = (f"did you mean {hint[0]!r}?" if hint else
                   f"known: {', '.join(sorted(items)) or 'none'}")
            raise NotFoundError(f"{flag} {name}: no {kind[:-1]} named {name!r} on host {self.name!r}",
                                fix=fix)
        return items[name]

    def host_settings(self) -> dict:
        raw = self.store.get_meta("host")
        return (leanjson.loads(raw) if raw else {}).get("settings", {})

    def close(self) -> None:
        self.store.close()


_EVENTS = 2**48  # the log cursor: (file offset + 1) * _EVENTS + last event id,
_DERIVED = 1024  # times _DERIVED, plus how many attempt lines (attempt_lines) were read


def attempt_lines(store, job_id: int) -> list[tuple[float, str]]:
    """The SYSTEM lines of a job's attempts, which local workers do not store: "started
    attempt N on worker W (host)" for each attempt (the running one from the job's row) and
    "exit code C after Ts" for each that exited. In attempt order, so the list only grows (a
    follower counts what it read). A line an older worker stored as an event is not repeated."""
    import socket

    host = socket.gethostname()
    rows = store.read("SELECT attempt, worker, started, ended, exit_code, outcome FROM attempts "
                      "WHERE job_id=? ORDER BY attempt", (job_id,))
    cur = store.one("SELECT state, attempts, worker, started FROM jobs WHERE id=?", (job_id,))
    if cur and cur[0] == "RUNNING" and cur[3] is not None and all(r[0] < cur[1] for r in rows):
        rows.append((cur[1], cur[2], cur[3], None, None, None))
    stored = {d for (d,) in store.read(
        "SELECT data FROM events WHERE job_id=? AND type='SYSTEM' AND (data LIKE 'started attempt %'"
        " OR data LIKE 'exit code %')", (job_id,))}
    out: list[tuple[float, str]] = []
    for attempt, worker, started, ended, code, outcome in rows:
        if started is None:
            continue
        line = f"started attempt {attempt} on worker {worker} ({host})"
        if line not in stored:
            out.append((started, line))
        if outcome in ("succeeded", "failed") and ended is not None and code is not None:
            line = f"exit code {code} after {ended - started:.3f}s"
            if line not in stored:
                out.append((ended, line))
    return out


def job_row(job: dict[str, Any]) -> JobRow:
    return JobRow(**{k: job.get(k) for k in JobRow._fields if k != "held"},
                  held=bool(job.get("held")))


def job_detail(job: dict[str, Any]) -> JobDetail:
    values = {k: job.get(k) for k in JobDetail._fields}
    values["held"] = bool(job.get("held"))
    values["env"] = job.get("env") or {}
    values["depends"] = [Dependency(**d) for d in job.get("depends") or []]
    values["attempt_history"] = [Attempt(**a) for a in job.get("attempt_history") or []]
    return JobDetail(**values)


def _no_deployment(what: str, name: str) -> UsageError:
    return UsageError(f"{what}: host {name!r} is a local host; it needs no deployment",
                      fix="select an aws host (hosts create-host --kind aws ...)")


def daemon_host_status(name: str, info: dict[str, Any], *, stale_running: int = 0,
                       lost_workers: list[str] | tuple[str, ...] = ()) -> HostStatus:
    """A local host's status from its daemon's (``daemon_control.daemon_status``), the jobs
    recorded RUNNING while it is down and the workers whose process is gone."""
    import time

    from hyper_tui.core.host import HostStatus

    running = info["daemon"] == "running"
    damaged = info.get("store_damaged")
    seen = info.get("daemon_last_seen")
    summary = (f"daemon running (pid {info['pid']})" if running
               else "daemon stopped (starts on submit)")
    warning = None
    if damaged:
        summary = "store damaged: accepting nothing"
        warning = (f"the store of host {name} is damaged ({damaged}): nothing is accepted; "
                   "repair it, then `hyper-tui hosts start-host`")
    elif not running and stale_running:
        since = f" (since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(seen))})" if seen else ""
        summary = f"daemon not running{since}: {stale_running} RUNNING job(s) are stale"
        warning = (f"the daemon of host {name} is not running{since}: the {stale_running} "
                   "RUNNING job(s) shown are from before it stopped; `hyper-tui hosts "
                   "start-host` (or any qsub) starts it and re-checks them")
    return HostStatus(host=name, kind="local", healthy=running and not damaged,
                      state="running" if running else "stopped", summary=summary, details=info,
                      daemon_running=running, daemon_last_seen=None if running else seen,
                      store_damaged=damaged, stale_running=stale_running if not running else 0,
                      lost_workers=tuple(lost_workers), warning=warning)


class LocalHostClient:
    kind = "local"

    def __init__(self, name: str, *, start_daemon: bool = True) -> None:
        self.name = name
        self._host = LocalHost(name)
        self.store = self._host.store
        self.start_daemon = start_daemon

    @classmethod
    def open(cls, name: str, *, start_daemon: bool = True) -> LocalHostClient:
        return cls(name, start_daemon=start_daemon)

    @classmethod
    def shutdown(cls, name: str) -> None:
        from hyper_tui.local.daemon_control import stop_daemon

        stop_daemon(name)

    @classmethod
    def brief_status(cls, name: str) -> str:
        from hyper_tui.local.daemon_control import daemon_pid

        return "daemon running" if daemon_pid(name) else "daemon stopped"

    @classmethod
    def kind_capabilities(cls) -> Capabilities:
        from hyper_tui.core.host import Capabilities  # dataclasses: off qsub's path

        return Capabilities(daemon=True, deploy=False, local_workers=True, finished_since=True)

    @property
    def capabilities(self) -> Capabilities:
        return self.kind_capabilities()

    # ---- resources ---------------------------------------------------------------------

    def load_config(self) -> config.HostConfig:
        from hyper_tui import config

        return config.load(self.name)

    def save_config(self, cfg: config.HostConfig) -> dict[str, str]:
        from hyper_tui import config
        from hyper_tui.local.apply import apply_config

        config.save(cfg)
        self._host._res = None
        return apply_config(cfg, self.store, deployed=self.capabilities.deploy)

    def resources(self, kind: str) -> dict[str, dict]:
        return self._host.resources(kind)

    def resource_status(self, kind: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
        return {(r["kind"], r["name"]): (r["status"], r["log"]) for r in self.store.resources(kind)}

    def require(self, kind: str, name: str, flag: str) -> None:
        self._host.require(kind, name, flag)

    # ---- jobs --------------------------------------------------------------------------

    def submit(self, subs: list[Submission]) -> list[str]:
        ids = local_jobs.submit(self.store, subs)
        if self.start_daemon:
            self.ensure_daemon()
        return ids

    def list_jobs(self, *, queue: str | None = None, state: str | None = None,
                  name: str | None = None, limit: int = 100, offset: int = 0,
                  **query: Any) -> list[JobRow]:
        """``query``: match, regex, sort, descending (``HostClient.list_jobs``), finished_since."""
        return [job_row(j) for j in local_jobs.list_jobs(
            self.store, queue=queue, state=state, name=name, limit=limit, offset=offset, **query)]

    def count_jobs(self, *, queue: str | None = None, name: str | None = None,
                   **query: Any) -> Counts:
        """``query``: state, match, regex (``HostClient.count_jobs``), finished_since."""
        return Counts(**local_jobs.count_jobs(self.store, queue=queue, name=name, **query))

    def summary(self) -> dict[str, Counts]:
        return {q: Counts(**c) for q, c in local_jobs.summary(self.store).items()}

    def get_job(self, ref: str) -> JobDetail:
        return job_detail(local_jobs.get_job(self.store, ref))

    def cancel(self, refs: list[str], *, queue: str | None = None, name: str | None = None,
               everything: bool = False) -> list[CancelResult]:
        if queue:
            self.require("queues", queue, "-q")
        return local_jobs.cancel(self.store, refs, queue=queue, name=name, everything=everything)

    def release(self, refs: list[str]) -> list[ReleaseResult]:
        """qrls: "released" or "not held" per ref."""
        out = [ReleaseResult(ref=r, outcome=o) for r, o in local_jobs.release(self.store, refs)]
        if self.start_daemon:
            self.ensure_daemon()
        return out

    def logs(self, ref: str, *, offset: int = 0, tail: int | None = None) -> LogChunk:
        """Records of one job: its log file and its system events (submit, start, exit) in time
        order. The offset is opaque: 0 is the start; else it holds the byte offset in the log
        file and the last event read (``_EVENTS`` apart), so a follower sees each record once."""
        from hyper_tui.local.logfile import read_log_file, tail_log_file
        from hyper_tui.local.store import log_path

        job = local_jobs.find_jobs(self.store, ref)[0]
        state = local_jobs.job_states(self.store, [job["id"]]).get(job["id"])
        final = state is None or state in FINAL_STATES  # read first: then the log is whole
        path = log_path(self.store.path.parent, job["id"])
        base, derived_seen = divmod(offset, _DERIVED) if offset else (0, 0)
        file_at, last_event = divmod(base, _EVENTS) if base else (1, 0)
        if tail is not None and offset == 0:
            records, end = tail_log_file(path, tail)
        else:
            records, end = read_log_file(path, file_at - 1)
        if offset == 0:
            records.append(LogRecord(job["submitted"], "SYSTEM", f"submitted to queue "
                                     f"{job['queue']} (definition {job['definition']})"))
        events = self.store.read("SELECT id, ts, type, data FROM events WHERE job_id=? AND id > ? "
                                 "ORDER BY id", (job["id"], last_event))
        records += [LogRecord(ts, typ, data) for _, ts, typ, data in events]
        derived = attempt_lines(self.store, job["id"])[:_DERIVED - 1]
        records += [LogRecord(ts, "SYSTEM", text) for ts, text in derived[derived_seen:]]
        if offset == 0 and state == "CANCELLED" and job["array_id"] is not None:
            # A waiting task of an array cancelled whole has no event row of its own.
            mark = self.store.one("SELECT cancelled, cancel_reason FROM arrays WHERE id=?",
                                  (job["array_id"],))
            if mark and mark[0] is not None and job["ended"] == mark[0] and not any(
                    ts == mark[0] for _, ts, _, _ in events):
                records.append(LogRecord(mark[0], "SYSTEM", f"{mark[1]} (the whole array "
                                                            f"{job['array_id']}[])"))
        records.sort(key=lambda r: r.ts)
        if tail is not None and offset == 0:
            records = records[-tail:]
        last_event = events[-1][0] if events else last_event
        return LogChunk(records=records, offset=((end + 1) * _EVENTS + last_event) * _DERIVED
                        + len(derived), final=final)

    def job_finished(self, ref: str) -> bool:
        return all(is_final(j["state"]) for j in local_jobs.find_jobs(self.store, ref))

    # ---- observing ---------------------------------------------------------------------

    def metrics(self, since: float) -> Metrics:
        out: Metrics = {}
        for ts, name, label, value in self.store.read(
                "SELECT ts, name, label, value FROM metrics WHERE ts >= ? ORDER BY ts", (since,)):
            out.setdefault(name, {}).setdefault(label, []).append((ts, value))
        return out

    def workers(self) -> list[WorkerRow]:
        from hyper_tui.local.launcher import ProcessLauncher

        return ProcessLauncher(self.name, self.store).live()

    def status(self) -> HostStatus:
        from hyper_tui.local.daemon_control import daemon_status, lost_workers

        info = daemon_status(self.name)
        stale, lost = 0, []
        if info["daemon"] != "running":  # what the store still says is running is stale
            stale = self.store.one("SELECT count(*) FROM jobs WHERE state='RUNNING'")[0]
            lost = lost_workers(self.name, self.store.read("SELECT id, pid FROM workers"))
        return daemon_host_status(self.name, info, stale_running=stale, lost_workers=lost)

    def ensure_daemon(self) -> int | None:
        from hyper_tui.local.daemon_control import ensure_daemon

        return ensure_daemon(self.name)

    # ---- the control plane: the daemon of this machine ---------------------------------

    def start(self) -> int | None:
        """Start the host's daemon unless it runs; its pid."""
        from hyper_tui.local.daemon_control import ensure_daemon

        return ensure_daemon(self.name, wait=True)

    def serve(self) -> int:
        """Run the daemon here in the foreground (for systemd and other service managers)."""
        from hyper_tui.local.daemon_control import run_foreground

        return run_foreground(self.name)

    def stop(self) -> bool:
        """Stop the daemon and its workers; whether it was running."""
        from hyper_tui.local.daemon_control import stop_daemon

        return stop_daemon(self.name)

    # ---- deploying: a local host has nothing to deploy ---------------------------------

    @classmethod
    def import_host(cls, name: str, **options: Any) -> dict[str, Any]:
        raise _no_deployment("import-deployment", name)

    def synth(self, out: str | None = None) -> list[Path]:
        raise _no_deployment("synth", self.name)

    def deploy(self, out: str | None = None, *, lookups: bool = True,
               on_event: Callable[[Any], None] | None = None, cancel: Any = None) -> Any:
        raise _no_deployment("deploy", self.name)

    def diff(self, out: str | None = None, *, lookups: bool = True,
             on_event: Callable[[Any], None] | None = None, cancel: Any = None) -> Any:
        raise _no_deployment("diff", self.name)

    def bootstrap(self, *, on_event: Callable[[Any], None] | None = None,
                  cancel: Any = None) -> Any:
        raise _no_deployment("bootstrap", self.name)

    def bootstrap_policies(self) -> dict[str, dict[str, Any]]:
        raise _no_deployment("bootstrap", self.name)

    def import_retained(self, assembly: str | None = None, out: str | None = None) -> Any:
        raise _no_deployment("import-retained", self.name)

    def refresh_lookups(self) -> dict[str, Any]:
        raise _no_deployment("lookups", self.name)

    def refresh_weights(self, queue: str | None = None) -> dict[str, dict[str, int]]:
        raise _no_deployment("refresh-weights", self.name)

    def emergency_stop(self) -> dict[str, Any]:
        from hyper_tui.local.emergency import emergency_stop_local

        return emergency_stop_local(self.name)

    @property
    def data_dir(self) -> Path:
        return paths.host_data_dir(self.name)

    def close(self) -> None:
        self._host.close()

    def job_position(self, ref: str, **query: Any) -> int | None:
        """``HostClient.job_position``."""
        return local_jobs.job_position(self.store, ref, **query)

    def cancel_matching(self, *, progress: Any = None, **filters: Any) -> int:
        """``HostClient.cancel_matching``, on a connection of its own so that the listings of
        other threads are not read inside its transactions."""
        from hyper_tui.local.store import Store

        store = Store(self.store.file, create=False)
        try:
            return local_jobs.cancel_matching(store, progress=progress, **filters)
        finally:
            store.close()
