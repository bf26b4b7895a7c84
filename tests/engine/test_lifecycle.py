"""The job state machine on a real local host: holds, dependencies, retries, timeouts,
cancellation of running jobs, lost workers, limits, daemon stop."""

import json
import os
import signal
import time

from hyper_tui.cli.main import main
from hyper_tui.local.daemon_control import daemon_pid, stop_daemon
from tests.conftest import wait_for
from tests.engine.helpers import job, log_text, pid_alive, q, submit, tasks, wait_all_final, wait_state


def test_hold_and_release(home, capsys):
    jid = submit(capsys, "--hold", "--", "true")
    j = job(jid)
    assert j["state"] == "PENDING" and "held" in j["why"]
    code, out, _ = q(capsys, "qrls", jid)
    assert "released" in out
    wait_state(jid, "SUCCEEDED")


def test_dependencies_afterok_afterany_and_never(home, capsys):
    first = submit(capsys, "--", "sleep", "0.3")
    ok = submit(capsys, "--depend", f"afterok:{first}", "--", "true")
    j = job(ok)
    assert j["state"] == "PENDING" and j["why"] == f"waiting for {first} to succeed"
    wait_state(ok, "SUCCEEDED")
    assert job(ok)["started"] >= job(first)["ended"]
    bad = submit(capsys, "-c", "exit 1")
    anyj = submit(capsys, "--depend", f"afterany:{bad}", "--", "true")
    never = submit(capsys, "--depend", f"afterok:{bad}", "--", "true")
    notok = submit(capsys, "-W", f"depend=afternotok:{bad}", "--", "true")
    wait_state(anyj, "SUCCEEDED")
    wait_state(notok, "SUCCEEDED")
    j = wait_state(never, "CANCELLED")
    assert j["reason"] == f"dependency {bad} can never be satisfied"


def test_dependency_on_whole_array(home, capsys):
    arr = submit(capsys, "-J", "1-5", "--", "sleep", "0.1")
    after = submit(capsys, "--depend", f"afterok:{arr}", "--", "true")
    wait_state(after, "SUCCEEDED", timeout=30)
    assert job(after)["started"] >= max(t["ended"] for t in tasks(arr))


def test_retry_exit_codes_then_fail(home, capsys):
    main(["definitions", "add-definition", "--name", "flaky", "--retry-exit-codes", "[75]",
          "--retries", "2"])
    capsys.readouterr()
    jid = submit(capsys, "-d", "flaky", "-c", "exit 75")
    j = wait_state(jid, "FAILED")
    assert j["attempts"] == 3 and j["reason"] == "exit code 75"
    assert [a["outcome"] for a in j["attempt_history"]] == ["failed"] * 3
    other = submit(capsys, "-d", "flaky", "-c", "exit 4")
    assert wait_state(other, "FAILED")["attempts"] == 1


def test_timeout_kills_whole_tree_even_if_it_ignores_sigterm(home, capsys, tmp_path):
    pids = tmp_path / "pids"
    script = (f"trap '' TERM; (trap '' TERM; sleep 300 & echo $! >> {pids}; wait) & "
              f"echo $! >> {pids}; sleep 300 & echo $! >> {pids}; wait")
    jid = submit(capsys, "--timeout", "1", "-c", script)
    j = wait_state(jid, "FAILED", timeout=20)
    assert j["reason"] == "timeout"
    for pid in map(int, pids.read_text().split()):
        assert not pid_alive(pid), f"process {pid} of the timed-out job survived"
    assert "timeout" in log_text(capsys, jid, "-t", "SYSTEM")


def test_walltime_from_l(home, capsys):
    jid = submit(capsys, "-l", "walltime=00:00:01", "--", "sleep", "30")
    assert wait_state(jid, "FAILED", timeout=20)["reason"] == "timeout"


def test_qdel_really_cancels_running_job(home, capsys, tmp_path):
    pidfile = tmp_path / "pid"
    jid = submit(capsys, "-c", f"sleep 300 & echo $! > {pidfile}; wait")
    wait_state(jid, "RUNNING")
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="job to start its child")
    child = int(pidfile.read_text())
    code, out, _ = q(capsys, "qdel", jid)
    assert code == 0 and f"{jid}: cancelled (was RUNNING)" in out
    wait_for(lambda: not pid_alive(child), timeout=10, what="the job's process to die")
    j = job(jid)
    assert j["state"] == "CANCELLED"
    wait_for(lambda: job(jid)["attempt_history"] and job(jid)["attempt_history"][0]["outcome"] == "cancelled",
             what="the attempt to be recorded as cancelled")
    assert job(jid)["state"] == "CANCELLED"  # the worker's report did not overwrite it
    code, out, _ = q(capsys, "qdel", jid)
    assert f"{jid}: already CANCELLED, left as it is" in out


def test_qdel_variants(home, capsys, monkeypatch):
    a = submit(capsys, "--hold", "-N", "alpha", "--", "true")
    b = submit(capsys, "--hold", "-N", "alpha", "--", "true")
    c = submit(capsys, "--hold", "-N", "beta", "--", "true")
    code, out, _ = q(capsys, "qdel", "-q", "default", "-j", "alpha")
    assert out.count("cancelled (was PENDING)") == 2
    code, out, _ = q(capsys, "qstat", "-q", "default", "--only-job-id-out")
    assert out.split() == [c, b, a]
    code, out, _ = q(capsys, "qdel", "-", stdin=f"{c}\n", monkeypatch=monkeypatch)
    assert f"{c}: cancelled" in out
    arr = submit(capsys, "--hold", "-J", "1-3", "--", "true")
    code, out, _ = q(capsys, "qdel", f"{arr[:-2]}[2]")
    assert out.strip() == f"{arr[:-2]}[2]: cancelled (was PENDING)"
    code, out, _ = q(capsys, "qdel", "-q", "default", "--all")
    assert out.count("cancelled") == 2 and out.count("already") == 4
    code, _, err = q(capsys, "qdel", "999")
    assert code == 4 and "no job 999" in err
    code, _, err = q(capsys, "qdel", "abc")
    assert code == 3
    code, _, err = q(capsys, "qdel", "-j", "x")
    assert code == 2


def test_lost_worker_requeues_and_kills_orphans(home, capsys, tmp_path):
    marker = tmp_path / "attempts"
    pidfile = tmp_path / "child"
    script = (f"echo $HYPER_ATTEMPT >> {marker}; "
              f"if [ $HYPER_ATTEMPT = 1 ]; then sleep 300 & echo $! > {pidfile}; wait; fi")
    jid = submit(capsys, "-r", "1", "-c", script)
    j = wait_state(jid, "RUNNING")
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="child pid")
    child = int(pidfile.read_text())
    from hyper_tui.local.client_pids import worker_pid  # noqa: F401  (documented helper)
    worker = worker_pid(j["worker"])
    os.kill(worker, signal.SIGKILL)
    done = wait_state(jid, "SUCCEEDED", timeout=30)
    assert done["attempts"] == 2
    assert marker.read_text().split() == ["1", "2"]
    assert not pid_alive(child), "the dead worker's job kept running"
    assert done["attempt_history"][0]["outcome"] == "lost"
    assert "requeued" in log_text(capsys, jid, "-t", "SYSTEM")


def test_lost_worker_past_retries_fails(home, capsys):
    jid = submit(capsys, "-r", "0", "--", "sleep", "300")
    j = wait_state(jid, "RUNNING")
    from hyper_tui.local.client_pids import worker_pid

    os.kill(worker_pid(j["worker"]), signal.SIGKILL)
    j = wait_state(jid, "FAILED", timeout=30)
    assert "no retries left" in j["reason"] and "died" in j["reason"]


def test_queue_max_running(home, capsys):
    main(["clusters", "update-cluster", "--name", "default", "--max-vcpus", "4"])
    main(["queues", "add-queue", "--name", "narrow", "--cluster", "default", "--max-running", "1"])
    capsys.readouterr()
    arr = submit(capsys, "-q", "narrow", "-J", "1-4", "--", "sleep", "0.3")
    seen = 0
    reason_seen = False
    deadline = time.time() + 30
    while time.time() < deadline:
        t = tasks(arr)
        seen = max(seen, sum(x["state"] == "RUNNING" for x in t))
        for x in t:
            if x["state"] == "QUEUED" and "max running" in (job(x["job_id"])["why"] or ""):
                reason_seen = True
        if all(x["state"] == "SUCCEEDED" for x in t):
            break
        time.sleep(0.05)
    assert seen == 1
    assert reason_seen
    assert all(x["state"] == "SUCCEEDED" for x in tasks(arr))


def test_array_max_running(home, capsys):
    main(["clusters", "update-cluster", "--name", "default", "--max-vcpus", "4"])
    capsys.readouterr()
    arr = submit(capsys, "-J", "1-6%2", "--", "sleep", "0.2")
    seen = 0
    deadline = time.time() + 30
    while time.time() < deadline:
        t = tasks(arr)
        seen = max(seen, sum(x["state"] == "RUNNING" for x in t))
        if all(x["state"] == "SUCCEEDED" for x in t):
            break
        time.sleep(0.02)
    assert seen == 2


def test_stop_host_requeues_running_without_using_a_retry(home, capsys):
    jid = submit(capsys, "-r", "0", "--", "sleep", "300")
    wait_state(jid, "RUNNING")
    code = main(["hosts", "stop-host"])
    assert code == 0 and daemon_pid("local") is None
    j = job(jid)
    assert j["state"] == "QUEUED" and "without using a retry" in j["reason"]
    assert j["retries"] == 1  # the interrupted attempt was given back
    main(["hosts", "start-host"])
    wait_state(jid, "RUNNING")
    q(capsys, "qdel", jid)


def test_qstat_views(home, capsys):
    a = submit(capsys, "-N", "viewme", "--", "echo", "x")
    wait_state(a, "SUCCEEDED")
    b = submit(capsys, "-N", "viewme", "--hold", "--", "true")
    code, out, _ = q(capsys, "qstat")
    assert out.splitlines()[0].split() == ["QUEUE", "PENDING", "QUEUED", "RUNNING", "SUCCEEDED",
                                           "FAILED", "CANCELLED"]
    assert out.splitlines()[1].split() == ["default", "1", "0", "0", "1", "0", "0"]
    code, out, _ = q(capsys, "qstat", "-q", "default")
    lines = out.splitlines()
    assert lines[1].startswith(b) and lines[2].startswith(a)  # newest first
    assert lines[-1].startswith("Total: 2") and "Succeeded: 1" in lines[-1]
    code, out, _ = q(capsys, "qstat", "-q", "default", "--limit", "1")
    assert "showing 1 of 2" in out
    code, out, _ = q(capsys, "qstat", "-j", "viewme", "-s", "succeeded", "--only-job-id-out")
    assert out.split() == [a]
    code, out, _ = q(capsys, "qstat", "-q", "default", "-f", "Waiting")  # original state name
    assert "no jobs match" in out
    code, out, _ = q(capsys, "qstat", "-i", b)
    assert "held; release with qrls" in out and "command" in out
    code, out, _ = q(capsys, "qstat", "-i", a, "-o", "json")
    d = json.loads(out)
    assert d["state"] == "SUCCEEDED" and d["attempt_history"][0]["exit_code"] == 0
    code, _, err = q(capsys, "qstat", "-s", "DONE-ISH")
    assert code == 3 and "unknown state" in err
    code, _, err = q(capsys, "qstat", "-i", "424242")
    assert code == 4


def test_qlog_filters_tail_and_follow(home, capsys):
    jid = submit(capsys, "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done")
    code, out, _ = q(capsys, "qlog", jid, "-f")
    assert code == 0
    assert [ln.rsplit(" | ", 1)[1] for ln in out.splitlines() if ln.startswith("STDOUT")] == \
        [f"line{i}" for i in range(1, 6)]
    assert "exit code 0" in out
    out = log_text(capsys, jid, "--tail", "2")
    assert len(out.splitlines()) == 2 and "exit code 0" in out.splitlines()[-1]
    out = log_text(capsys, jid, "-t", "SYSTEM")
    assert all(ln.startswith("SYSTEM | ") for ln in out.splitlines())
    code, _, err = q(capsys, "qlog", jid, "-t", "NOISE")
    assert code == 3
    arr = submit(capsys, "--hold", "-J", "1-2", "--", "true")
    code, _, err = q(capsys, "qlog", arr)
    assert code == 2 and "name one task" in err


def test_metrics_are_sampled(home, capsys):
    arr = submit(capsys, "-J", "1-50", "--", "true")
    wait_all_final(arr)
    from hyper_tui.local.client import LocalHostClient

    c = LocalHostClient("local", start_daemon=False)
    try:
        m = wait_for(lambda: (x := c.metrics(0)) and "finished_per_s" in x and x, timeout=10,
                     what="metrics")
        assert "workers" in m and "local" in m["workers"]
    finally:
        c.close()


def test_retention_purge(home, capsys):
    from hyper_tui.local.daemon import Daemon
    from hyper_tui.local.store import log_path

    jid = submit(capsys, "--", "echo", "old")
    wait_state(jid, "SUCCEEDED")
    stop_daemon("local")
    d = Daemon("local")
    path = log_path(d.data_dir, int(jid))
    assert path.exists()
    d.purge(time.time() + 29 * 86400)
    assert job(jid)["state"] == "SUCCEEDED"
    d.purge(time.time() + 31 * 86400)
    assert not path.exists()
    code, _, _ = q(capsys, "qstat", "-i", jid)
    assert code == 4
    d.store.close()


def test_every_waiting_job_says_why(home, capsys):
    main(["clusters", "update-cluster", "--name", "default", "--max-vcpus", "1"])
    capsys.readouterr()
    arr = submit(capsys, "-J", "1-4", "--", "sleep", "1")
    held = submit(capsys, "--hold", "--", "true")
    wait_state(f"{arr[:-2]}[1]", "RUNNING")

    def listing():
        code, out, _ = q(capsys, "qstat", "-q", "default", "-o", "json")
        rows = json.loads(out)["jobs"]
        waiting = [r for r in rows if r["state"] in ("QUEUED", "PENDING")]
        return rows if waiting and all("busy" in (r["reason"] or "") or r["job_id"] == held
                                       for r in waiting) else None

    rows = wait_for(listing, timeout=15, what="queued jobs to carry the daemon's reason")
    assert all(r["reason"] for r in rows if r["state"] in ("QUEUED", "PENDING"))
    q(capsys, "qdel", arr, held)


def test_a_burst_of_qsubs_starts_one_daemon_and_stop_leaves_none(home, capsys):
    """qsubs in a row while the daemon is still starting must not each start one: a spare
    that took the lock after a stop would run on, unstopped."""
    from hyper_tui import paths

    for _ in range(6):
        submit(capsys, "--hold", "--", "true")
    wait_for(lambda: daemon_pid("local"), what="the daemon")
    log = paths.host_data_dir("local") / "daemon.log"
    # the pid file comes a moment before the daemon's first log line: wait for the line
    wait_for(lambda: log.exists() and "started (pid" in log.read_text(), what="its log line")
    time.sleep(0.5)  # a second daemon, if one were started, would log by now
    assert log.read_text().count("started (pid") == 1
    assert "already running" not in log.read_text()
    pid = daemon_pid("local")
    assert stop_daemon("local")
    time.sleep(1.0)  # a spare would have taken the lock by now
    assert daemon_pid("local") is None and not pid_alive(pid)


def test_a_worker_that_touches_its_run_file_is_alive_without_heartbeat_rows(home, capsys):
    """When the store cannot take a worker's heartbeat row (a full disk), the mtime of its
    run/ file still proves it alive; a worker that stops touching it too is lost and killed."""
    import subprocess
    import sys

    from hyper_tui import config, paths
    from hyper_tui.hosts.registry import apply_config
    from hyper_tui.local.daemon_control import ensure_daemon
    from hyper_tui.local.launcher import pgid_file
    from hyper_tui.local.store import Store

    submit(capsys, "--hold", "--", "true")  # first use: the host exists
    cfg = config.load("local")
    cfg.host.settings.lease_seconds = 2.0
    config.save(cfg)
    apply_config(cfg)
    stop_daemon("local")
    data = paths.host_data_dir("local")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = Store(paths.store_path("local"))
        old = time.time() - 60
        store.write(lambda db: db.execute(
            "INSERT INTO workers (id, pid, region, queue, definition, vcpus, started, heartbeat, "
            "state) VALUES ('w-quiet', ?, 'local', 'default', 'default', 1, ?, ?, 'RUNNING')",
            (proc.pid, old, old)))
        store.close()
        run_file = pgid_file(data, "w-quiet")
        run_file.parent.mkdir(parents=True, exist_ok=True)
        run_file.write_text("")
        ensure_daemon("local", wait=True)
        end = time.monotonic() + 5  # two and a half leases of touching only the file
        while time.monotonic() < end:
            os.utime(run_file)
            assert proc.poll() is None, "a worker touching its run/ file was killed as silent"
            time.sleep(0.2)
        wait_for(lambda: proc.poll() is not None, timeout=15, what="the silent worker killed")
    finally:
        proc.kill()
        proc.wait()
