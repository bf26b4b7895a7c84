"""Start, stop and check a local host's daemon. Standard library only (qsub starts it)."""

from __future__ import annotations

import os
import sys
import time

from hyper_tui import paths
from hyper_tui.core.errors import UnavailableError
from hyper_tui.local.procs import Identity, identity, is_same, read_identity, signal_if_same


def _pid_file(host: str) -> str:
    return os.path.join(paths.host_data_root(host), "daemon.pid")


def daemon_pid(host: str) -> int | None:
    """The running daemon's pid, or None (a stale pid file is ignored)."""
    who = daemon_identity(host)
    return who.pid if who else None


def daemon_identity(host: str) -> Identity | None:
    """The identity (pid, start time, host) of this host's running daemon, or None: a pid file
    that names a process of another machine, a reused pid or no daemon at all is ignored."""
    return _daemon_in(_pid_file(host))


def _starting_pid(host: str) -> int | None:
    """The pid of a daemon started moments ago that has not yet written its pid file."""
    who = _daemon_in(os.path.join(paths.host_data_root(host), "daemon.starting"))
    return who.pid if who else None


def _daemon_in(pid_file: str) -> Identity | None:
    """The identity written in ``pid_file`` if it is a live daemon process of this machine:
    pid, start time and host name all match, and the process is a daemon."""
    who = read_identity(pid_file)
    if not is_same(who):
        return None
    try:
        with open(f"/proc/{who.pid}/cmdline", "rb") as fh:  # type: ignore[union-attr]
            cmdline = fh.read()
    except OSError:
        return None
    if b"hyper_tui.local.daemon" not in cmdline and b"start-host" not in cmdline:
        return None
    return who


def ensure_daemon(host: str, *, wait: bool = False, timeout: float = 10.0) -> int | None:
    """Start the daemon, detached, unless it runs already. Returns its pid if known."""
    pid = daemon_pid(host)
    if pid:
        return pid
    starting = _starting_pid(host)
    if starting and not wait:
        # A burst of qsubs starts one daemon, not one each: a daemon that outlives the lock
        # holder would otherwise take over after a stop (and never be stopped).
        return starting
    if starting:
        return _wait_for_daemon(host, None, timeout)
    import subprocess

    data = paths.host_data_dir(host)
    paths.ensure_private_dir(data)
    log = paths.open_private_log(data / "daemon.log")
    env = dict(os.environ)
    env.pop("HYPER_HOST", None)
    try:
        # -I: an isolated interpreter (no PYTHONPATH, no user site, no current directory):
        # a hyper_tui or worker.py planted there is never imported in the daemon's place.
        proc = subprocess.Popen([sys.executable, "-I", "-m", "hyper_tui.local.daemon", "--host", host],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=True, close_fds=True, cwd=str(data))
    finally:
        os.close(log)
    who = identity(proc.pid)
    try:  # so that a stop right now waits for this daemon instead of missing it
        if who is not None:
            paths.atomic_write_text(data / "daemon.starting", who.line() + "\n")
    except OSError:
        pass
    if not wait:
        return proc.pid
    return _wait_for_daemon(host, proc, timeout)


def _wait_for_daemon(host: str, proc, timeout: float) -> int:
    data = paths.host_data_dir(host)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pid = daemon_pid(host)
        if pid:
            return pid
        if proc is None:
            if not _starting_pid(host) and not _lock_held(host):
                raise UnavailableError(f"the daemon of host {host} exited at once",
                                       fix=f"see {data / 'daemon.log'}")
        elif proc.poll() is not None:
            # Another daemon won the lock between our check and start: fine.
            pid = daemon_pid(host)
            if pid:
                return pid
            raise UnavailableError(f"the daemon of host {host} exited at once",
                                   fix=f"see {data / 'daemon.log'}")
        time.sleep(0.02)
    raise UnavailableError(f"the daemon of host {host} did not start within {timeout:g}s",
                           fix=f"see {data / 'daemon.log'}")


def stop_daemon(host: str, timeout: float = 20.0) -> bool:
    """Stop the daemon cleanly (it stops its workers, requeueing their jobs). A daemon that is
    still starting (it holds the lock but has not written its pid file yet) is waited for."""
    who = daemon_identity(host)
    end = time.monotonic() + 10
    while not who and (_lock_held(host) or _starting(host)) and time.monotonic() < end:
        time.sleep(0.05)
        who = daemon_identity(host)
    if not who:
        return False
    import signal  # not at the top: it imports enum, and qsub must start fast

    if not signal_if_same(who, signal.SIGTERM):
        return False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        # Gone means the process too, not just its pid file (removed a moment before it exits,
        # with its files still open).
        if not is_same(who):
            return True
        time.sleep(0.05)
    signal_if_same(who, signal.SIGKILL)
    return True


def _starting(host: str) -> bool:
    """True while a daemon started by ensure_daemon has not yet taken the lock."""
    return _starting_pid(host) is not None


def _lock_held(host: str) -> bool:
    """True if some process holds the host's daemon lock (a daemon running or starting)."""
    import fcntl

    try:
        fd = os.open(paths.host_data_dir(host) / "daemon.lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def daemon_status(host: str) -> dict:
    """The daemon's state for ``hosts status`` and the TUI: running or stopped, its pid, its
    log, how this machine contains jobs, and ``store_damaged`` (why) when the daemon found the
    store broken and stopped accepting work."""
    from hyper_tui.containment import mechanism
    from hyper_tui.local.store import damaged_reason

    pid = daemon_pid(host)
    log = paths.host_data_dir(host) / "daemon.log"
    info: dict = {"daemon": "running" if pid else "stopped", "pid": pid, "log": str(log),
                  "containment": mechanism()}
    if not pid:
        seen = last_seen(host)
        if seen is not None:
            info["daemon_last_seen"] = seen
    damaged = damaged_reason(paths.host_data_root(host))
    if damaged:
        info["store_damaged"] = damaged
    return info


def last_seen(host: str) -> float | None:
    """When a daemon of ``host`` last showed life (its pid file, left by one that was killed,
    or its log's last line), or None when none ever ran."""
    data = paths.host_data_dir(host)
    times = []
    for f in (data / "daemon.log", data / "daemon.pid"):
        try:
            times.append(os.stat(f).st_mtime)
        except OSError:
            pass
    return max(times) if times else None


def lost_workers(host: str, rows: list[tuple[str, int | None]]) -> list[str]:
    """Of the workers recorded as (id, pid), those whose process is gone: the identity a daemon
    wrote for it (``run/<id>.child``) no longer names a live process, or, without one, nothing
    lives at its pid."""
    run = paths.host_data_dir(host) / "run"
    gone = []
    for wid, pid in rows:
        who = read_identity(run / f"{wid}.child")
        if who is not None:
            alive = is_same(who)
        else:
            alive = bool(pid) and identity(pid) is not None
        if not alive:
            gone.append(wid)
    return gone


def run_foreground(host: str) -> int:
    from hyper_tui.local.daemon import run_daemon

    return run_daemon(host)
