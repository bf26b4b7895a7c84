"""The local ``WorkerLauncher``: workers are child processes of the host's daemon.

``start`` records a worker row (STARTING) and runs the agent in an isolated interpreter
(``procs.worker_command``: ``python -I -m hyper_tui.agent``) under a clean environment;
``live`` reads the workers table; ``stop`` sends SIGTERM (the agent finishes its lease cleanly;
the daemon reaps it). Standard library only (the daemon's loop).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid

from hyper_tui import paths
from hyper_tui.containment import CPU_SLOT_ENV
from hyper_tui.core.jobs import WorkerRow
from hyper_tui.local import procs
from hyper_tui.local.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
_COLUMNS = ("id", "pid", "region", "queue", "definition", "vcpus", "started", "heartbeat",
            "state", "jobs_done")


def pgid_file(data_dir: Path, worker_id: str) -> Path:
    """Where a local worker records its process group (its agent writes it; the daemon reads it
    to stop the worker and its jobs' processes together)."""
    return data_dir / "run" / f"{worker_id}.pgid"


def child_file(data_dir: Path, worker_id: str) -> Path:
    """``run/<wid>.child``: the identity of a worker a daemon started (``procs.Identity``)."""
    return data_dir / "run" / f"{worker_id}.child"


class ProcessLauncher:
    def __init__(self, host: str, store: Store, *, settings: dict | None = None,
                 children: dict[int, str] | None = None) -> None:
        self.host, self.store = host, store
        self.settings = settings or {}
        self.data_dir = paths.host_data_dir(host)
        self.children = children if children is not None else {}  # pid -> worker id
        self.slots: dict[int, int] = {}  # pid -> its slot (containment.CPU_SLOT_ENV)

    def start(self, queue: str, definition: str, region: str, count: int = 1, *,
              vcpus: int = 1) -> list[str]:
        return [self._start_one(queue, definition, region, vcpus) for _ in range(count)]

    def _start_one(self, queue: str, definition: str, region: str, vcpus: int) -> str:
        wid = f"w-{uuid.uuid4().hex[:8]}"
        idle = float(self.settings.get("worker_idle_timeout_s", 30.0))
        env = {k: os.environ[k] for k in procs.WORKER_ENV_KEYS if k in os.environ}
        slot = self._free_slot()
        env[CPU_SLOT_ENV] = str(slot)
        cmd = procs.worker_command(
            store=str(self.store.path), queue=queue, definition=definition, region=region,
            worker_id=wid, vcpus=vcpus, idle_timeout=idle,
            heartbeat=max(0.5, float(self.settings.get("lease_seconds", 15.0)) / 5))
        now = time.time()
        self.store.write(lambda db: db.execute(
            "INSERT INTO workers (id, pid, region, queue, definition, vcpus, started, heartbeat, state) "
            "VALUES (?,?,?,?,?,?,?,?, 'STARTING')", (wid, None, region, queue, definition,
                                                     vcpus, now, now)))
        log = paths.open_private_log(self.data_dir / "workers.log")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=log, env=env, cwd=str(self.data_dir), close_fds=True)
        finally:
            os.close(log)
        self.children[proc.pid] = wid  # first: a failed write below must not lose the child
        self.slots[proc.pid] = slot
        # At once, before anything can go wrong: ``run/<wid>.child`` tells a daemon after this
        # one (this one killed) that the worker is a daemon's and which process it is, so that
        # it is stopped, not left running as a stranger with a lease.
        who = procs.identity(proc.pid)
        if who is not None:
            with contextlib.suppress(OSError):
                paths.atomic_write_text(child_file(self.data_dir, wid), who.line() + "\n")
        self.store.write(lambda db: db.execute("UPDATE workers SET pid=? WHERE id=?", (proc.pid, wid)))
        return wid

    def _free_slot(self) -> int:
        """The lowest slot no live child of ours holds (reaped children leave ``children``)."""
        for pid in [p for p in self.slots if p not in self.children]:
            del self.slots[pid]
        held = set(self.slots.values())
        return next(i for i in range(len(held) + 1) if i not in held)

    def live(self, queue: str | None = None, definition: str | None = None,
             region: str | None = None) -> list[WorkerRow]:
        where, args = ["state != 'LOST'"], []
        for col, value in (("queue", queue), ("definition", definition), ("region", region)):
            if value is not None:
                where.append(f"{col}=?")
                args.append(value)
        rows = self.store.read(f"SELECT {', '.join(_COLUMNS)} FROM workers WHERE "
                               f"{' AND '.join(where)} ORDER BY started", args)
        return [WorkerRow(count=1, **dict(zip(_COLUMNS, r, strict=True))) for r in rows]

    def stop(self, worker_ids: list[str]) -> int:
        """SIGTERM these workers. Only this launcher's own unreaped children are signalled: a
        child's pid cannot be recycled before it is reaped, so no stranger is ever hit."""
        wanted = set(worker_ids)
        stopped = 0
        for pid, wid in list(self.children.items()):
            if wid in wanted:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
                    stopped += 1
        return stopped
