"""Process identities: a pid is signalled only when its start time and host match too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from hyper_tui.local import procs


def test_identity_round_trips_through_a_pid_file(tmp_path):
    me = procs.identity()
    assert me is not None and me.pid == os.getpid() and me.host == os.uname().nodename
    f = tmp_path / "daemon.pid"
    f.write_text(me.line() + "\n")
    assert procs.read_identity(f) == me
    assert procs.is_same(me)


def test_an_old_or_garbled_pid_file_identifies_nothing(tmp_path):
    f = tmp_path / "daemon.pid"
    for text in (f"{os.getpid()}\n", "", "x y z", f"{os.getpid()} 12"):
        f.write_text(text)
        assert procs.read_identity(f) is None
    assert procs.signal_if_same(None, signal.SIGTERM) is False


def test_start_time_is_field_22_even_with_a_nasty_command_name(tmp_path):
    exe = tmp_path / "a b) c"
    exe.symlink_to(sys.executable)
    p = subprocess.Popen([str(exe), "-c", "import time; time.sleep(30)"])
    try:
        with open(f"/proc/{p.pid}/stat", "rb") as fh:
            raw = fh.read()
        want = int(raw.rsplit(b")", 1)[1].split()[19])
        assert procs.start_time(p.pid) == want
    finally:
        p.kill()
        p.wait()


def test_a_recycled_pid_is_never_signalled():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        real = procs.identity(p.pid)
        assert real is not None
        # Same pid, another start time: what a pid file of a dead process names once reused.
        other = procs.Identity(p.pid, real.start + 1, real.host)
        assert procs.signal_if_same(other, signal.SIGKILL) is False
        # Same pid and start, another machine (a state folder on a shared disk).
        foreign = procs.Identity(p.pid, real.start, "another-host")
        assert procs.signal_if_same(foreign, signal.SIGKILL) is False
        assert p.poll() is None, "a process with a mismatched identity was signalled"
        assert procs.signal_if_same(real, signal.SIGKILL) is True
        assert p.wait(timeout=10) == -signal.SIGKILL
    finally:
        p.kill()
        p.wait()


def test_a_zombie_is_not_the_same_process():
    p = subprocess.Popen(["true"])
    who = procs.identity(p.pid)
    while procs.start_time(p.pid) is not None:  # exited, not yet reaped
        pass
    assert who is None or not procs.is_same(who)
    p.wait()


def test_worker_command_is_isolated_and_carries_no_parameters():
    cmd = procs.worker_command(store="/s/store.db", queue="q", definition="d", region="local",
                               worker_id="w-1", vcpus=2, idle_timeout=30.0, heartbeat=3.0)
    assert cmd[1:4] == ["-I", "-m", "hyper_tui.agent"]
    assert "PYTHONPATH" not in procs.WORKER_ENV_KEYS
    # It starts: -I ignores PYTHONPATH and the current directory, the agent still imports.
    r = subprocess.run([sys.executable, "-I", "-c", "import hyper_tui.agent.loop, sys; "
                        "print(sys.flags.isolated)"], capture_output=True, text=True, cwd="/",
                       env={"PYTHONPATH": "/nonexistent"})
    assert r.stdout.strip() == "1", r.stderr


def test_workers_inherit_the_daemons_containment_settings():
    """The daemon passes its scratch folder and cgroup v2 tree on to its workers (spelled out
    in procs, which qsub imports; here held equal to containment's names)."""
    from hyper_tui import containment

    assert containment.SCRATCH_ENV in procs.WORKER_ENV_KEYS
    assert containment.CGROUP2_ROOT_ENV in procs.WORKER_ENV_KEYS
