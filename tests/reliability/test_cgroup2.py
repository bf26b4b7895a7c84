"""Containment on cgroup v2, tested on a machine whose controllers are bound to v1.

A cgroup v2 hierarchy is mounted for the test (``mount -t cgroup2``, as root); on a v1 host it
has no memory or pids controller, yet it tracks processes (``cgroup.procs``, ``cgroup.events``)
and kills them (``cgroup.kill``). ``HYPER_CGROUP2_ROOT`` points containment at it, so this is
the code path of a real v2 machine without delegated controllers:

* every process a job starts, whatever it does (``env -i setsid``, ``nohup``, a double fork),
  is in the job's cgroup and killed at the job's end, with ``cgroup.kill`` and, for a worker
  that lives in its jobs' cgroup, by walking ``cgroup.procs``;
* ``memory_mib`` falls back to RLIMIT_AS with the one-line note in the job's SYSTEM log;
* on a local host (daemon and workers given the root): escapes at a job's end and those of a
  ``kill -9``-ed worker's job (found by the daemon in the v2 hierarchy) are all killed.

Skipped (with the reason) where the mount is impossible: not root, or no cgroup2 in the kernel.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest

from hyper_tui import containment
from tests.reliability.helpers import (
    ESCAPEES,
    ESCAPES,
    alive,
    audit,
    escapees,
    kill,
    leaked_escapees,
    make_host,
    submit,
    wait_all_final,
    wait_escapees_started,
    wait_until,
)

# Every cgroup2 mount shows the one v2 hierarchy: two of these tests at once (pytest -n) would
# see each other's cgroups, and one's clean-up would remove the other's. One worker, in turn.
pytestmark = pytest.mark.xdist_group("cgroup2")


@pytest.fixture
def cg2(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("mounting a cgroup2 hierarchy needs root")
    mnt = tmp_path / "cg2"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "cgroup2", "none", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mount -t cgroup2 failed: {r.stderr.strip()}")
    monkeypatch.setenv(containment.CGROUP2_ROOT_ENV, str(mnt))
    monkeypatch.setattr(containment, "_PLAN", None)
    try:
        yield mnt
    finally:
        monkeypatch.setattr(containment, "_PLAN", None)
        for folder, _dirs, _files in sorted(os.walk(mnt), key=lambda w: -len(w[0])):
            if "hyper-tui-" in folder:
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _v2_cgroup(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            for line in fh:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


def _address_space_limit(pid: int) -> str | None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max address space"):
                return line.split()[3]
    return None


def test_the_v2_path_contains_kills_and_falls_back_to_rlimit_as(cg2, tmp_path):
    plan = containment._plan()
    assert plan.mechanism == containment.MECH_V2 and plan.bases[""].startswith(str(cg2))
    assert not {"memory", "pids"} <= plan.v2_controllers  # bound to v1 on this machine
    results = {}
    for how in ("cgroup.kill", "walk cgroup.procs"):
        pids = tmp_path / f"pids-{how.split()[0]}"
        sb = containment.Sandbox.create(f"t-{len(results)}", containment.Limits(memory_mib=64),
                                        scope=f"cg2test-{len(results)}")
        assert [n for n in sb.notes if "RLIMIT_AS" in n] == [
            "memory_mib 64 is enforced with RLIMIT_AS (address space per process): this machine "
            "gives the job no memory cgroup"], sb.notes
        job_dir = sb.dirs[""]
        assert job_dir.startswith(str(cg2))
        with sb.spawning():
            p = subprocess.Popen(["sh", "-c", ESCAPES.format(pids=pids)], preexec_fn=sb.preexec(),
                                 start_new_session=True, stdin=subprocess.DEVNULL)
        sb.attach(p.pid)
        wait_escapees_started([pids])
        p.wait(timeout=60)
        escaped = escapees([pids])
        assert len(escaped) == ESCAPEES
        rel = "/" + os.path.relpath(job_dir, str(cg2))
        assert all(_v2_cgroup(e) == rel for e in escaped), [(e, _v2_cgroup(e)) for e in escaped]
        assert all(_address_space_limit(e) == str(64 << 20) for e in escaped)
        assert "populated 1" in open(os.path.join(job_dir, "cgroup.events")).read()
        has_kill = os.path.exists(os.path.join(job_dir, "cgroup.kill"))
        if how == "cgroup.kill":
            killed = sb.kill_all()
        else:  # a worker living in its jobs' cgroup spares itself: no cgroup.kill, a walk
            killed = containment._kill_cgroup_dirs(sb.dirs, spare=os.getpid())
        wait_until(lambda es=escaped: not [e for e in es if alive(e)], timeout=15,
                   what=f"the escapees killed ({how})")
        assert "populated 0" in open(os.path.join(job_dir, "cgroup.events")).read()
        sb.close()
        assert not os.path.exists(job_dir)
        results[how] = (killed, has_kill)
    print(f"\nRELIABILITY cgroup2-sandbox: jobs=2 faults={2 * ESCAPEES} lost=0 duplicated=0 "
          f"leaked=0 killed={ {k: v[0] for k, v in results.items()} } "
          f"cgroup_kill={results['cgroup.kill'][1]} controllers={sorted(plan.v2_controllers)} "
          f"memory=RLIMIT_AS")


def test_a_local_host_on_cgroup_v2_kills_escapes_at_end_and_after_a_killed_worker(cg2, home, tmp_path):
    from hyper_tui import config
    from hyper_tui.hosts.registry import apply_config

    h = make_host(workers=2, lease=4.0)
    cfg = config.load("local")
    cfg.definitions["default"].memory_mib = 256
    config.save(cfg)
    apply_config(cfg)
    end, dead = tmp_path / "end", tmp_path / "dead"
    ended = submit(h, "-c", ESCAPES.format(pids=end))
    victim = submit(h, "-c", ESCAPES.format(pids=dead) + '\n[ "$HYPER_ATTEMPT" != 1 ] || sleep 300',
                    retries=1)
    wait_escapees_started([end, dead])
    log = (h.data_dir / "daemon.log").read_text()
    assert "containment: cgroup v2" in log, log[-500:]
    wid, pid = wait_until(lambda: h.rows("SELECT w.id, w.pid FROM workers w JOIN jobs j ON "
                                         "j.worker=w.id WHERE j.id=? AND j.state='RUNNING'",
                                         (victim,)), timeout=60, what="the victim running")[0]
    assert str(cg2) in "".join(str(cg2) + (_v2_cgroup(p) or "") for p in escapees([dead]))
    assert all("hyper-tui-" + wid in (_v2_cgroup(p) or "") for p in escapees([dead])), \
        [(p, _v2_cgroup(p)) for p in escapees([dead])]
    kill(pid, signal.SIGKILL)  # the daemon finds the job's cgroup by the worker's id
    wait_all_final(h, 2, timeout=120)
    leaked = leaked_escapees([end, dead])
    rows = dict(h.rows("SELECT id, state FROM jobs"))
    note = [d for (d,) in h.rows("SELECT data FROM events WHERE job_id=? AND type='SYSTEM'", (ended,))
            if "RLIMIT_AS" in d]
    a = audit(h)
    print("\n" + a.line("cgroup2-host-escapes", faults=2 * ESCAPEES + 1,
                        extra=f"leaked={leaked} mechanism='cgroup v2 (mounted, no controllers)' "
                              f"memory_note={len(note)}"))
    assert leaked == 0 and a.lost == 0 and not a.disagree
    assert rows[ended] == "SUCCEEDED" and rows[victim] == "SUCCEEDED", rows
    assert len(note) == 1, note
