"""qstat and ``hyper-tui hosts status`` say when the daemon is down instead of showing stale
RUNNING jobs as if they ran, and ``qstat -i`` says when a job's worker is gone; the same
through the host contract (``HostStatus.daemon_running``, ``stale_running``, ``lost_workers``,
``store_damaged``, ``warning``) for the TUI header."""

from __future__ import annotations

import json
import os
import signal

from hyper_tui.local.daemon_control import daemon_pid, ensure_daemon, stop_daemon
from hyper_tui.local.store import clear_damaged, mark_damaged
from tests.conftest import run_cli, wait_for
from tests.reliability.helpers import alive, make_host, pids_with_env, qsub


def _status():
    from hyper_tui.hosts import registry

    c = registry.client_for("local")
    try:
        return c.status()
    finally:
        c.close()


def test_a_dead_daemon_is_said_not_shown_as_running(home, tmp_path):
    h = make_host(workers=1, lease=4.0)
    code, out, err = qsub(*h.qsub_env_args(), "-c", '[ "$HYPER_ATTEMPT" != 1 ] || sleep 60')
    assert code == 0, err
    jid = out.strip()
    wait_for(lambda: h.rows("SELECT state FROM jobs WHERE id=?", (int(jid),))[0][0] == "RUNNING",
             timeout=60, what="the job to run")
    st = _status()
    assert st.daemon_running is True and st.warning is None and st.stale_running == 0
    r = run_cli("qstat")
    assert r.returncode == 0 and r.stderr == "", r.stderr  # a live daemon: no note
    (wid,) = h.worker_pids()
    daemon = daemon_pid("local")
    worker = h.worker_pids()[wid]
    os.killpg(daemon, signal.SIGKILL)  # the daemon and its worker; the job lives on
    wait_for(lambda: not alive(daemon) and not alive(worker), timeout=30,
             what="the daemon and its worker to die")

    st = _status()
    assert st.daemon_running is False and not st.healthy
    assert st.stale_running == 1 and st.lost_workers == (wid,)
    assert st.daemon_last_seen and st.store_damaged is None
    assert "not running" in st.warning and "RUNNING job(s) shown are from before" in st.warning
    assert "not running" in st.summary
    d = st.to_dict()
    assert d["daemon_running"] is False and d["stale_running"] == 1 and d["lost_workers"] == [wid]

    for argv in (["qstat"], ["qstat", "-s", "RUNNING"], ["qstat", "-q", "default"]):
        r = run_cli(*argv)
        assert r.returncode == 0, r.stderr
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and "daemon of host local is not running (since " in lines[0], r.stderr
        assert "hosts start-host" in lines[0]
    r = run_cli("qstat", "-i", jid)
    assert r.returncode == 0 and "RUNNING" in r.stdout
    assert f"job {jid}: its worker {wid} is no longer running" in r.stderr, r.stderr
    r = run_cli("qstat", "-s", "SUCCEEDED")
    assert r.stderr == "", r.stderr  # no RUNNING job shown: nothing to warn about

    r = run_cli("hosts", "status")
    assert r.returncode == 0 and "not running" in r.stderr and "daemon_running" in r.stdout, r
    r = run_cli("-o", "json", "hosts", "status")
    info = json.loads(r.stdout)
    assert info["daemon"] == "stopped" and info["daemon_running"] is False
    assert info["stale_running"] == 1 and info["lost_workers"] == [wid]

    # Started again: the job is requeued, runs, and nothing is stale any more.
    assert ensure_daemon("local", wait=True, timeout=60)
    wait_for(lambda: h.rows("SELECT state FROM jobs WHERE id=?", (int(jid),))[0][0] == "SUCCEEDED",
             timeout=90, what="the requeued job to succeed")
    wait_for(lambda: not pids_with_env(h.marker), timeout=30, what="the old job process killed")
    st = _status()
    assert st.daemon_running is True and st.warning is None and st.lost_workers == ()
    r = run_cli("qstat", "-i", jid)
    assert r.stderr == "", r.stderr


def test_a_damaged_store_is_in_the_status(home):
    h = make_host(workers=1)
    code, out, err = qsub("--hold", "--", "true")
    assert code == 0, err
    stop_daemon("local")  # a daemon starting now would check the store and clear the mark
    mark_damaged(str(h.data_dir), "PRAGMA quick_check: page 7 is broken")
    try:
        st = _status()
        assert st.store_damaged == "PRAGMA quick_check: page 7 is broken" and not st.healthy
        assert "damaged" in st.summary and "damaged" in st.warning
        r = run_cli("hosts", "status")
        assert "store_damaged" in r.stdout and "is damaged" in r.stderr, r
    finally:
        clear_damaged(str(h.data_dir))
