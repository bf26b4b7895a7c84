"""Containment on a local host: every process a job starts is killed at the job's end, its
timeout, its qdel and at stop-host, whatever it did to its environment, session or group
(``env -i setsid``, a double fork, ``nohup``); and the definition's limits (nproc, nofile,
memory) hold. Each scenario prints one RELIABILITY line; leaked counts escapees still alive."""

from __future__ import annotations

from hyper_tui.containment import mechanism
from tests.reliability.helpers import (
    ESCAPEES,
    ESCAPES,
    alive,
    audit,
    leaked_escapees,
    make_host,
    qdel,
    submit,
    wait_all_final,
    wait_escapees_started,
    wait_until,
)


def test_escapes_are_killed_at_the_end_and_at_timeout(home, tmp_path):
    h = make_host(workers=2)
    ends = [tmp_path / f"end-{i}" for i in range(2)]
    timeouts = [tmp_path / f"timeout-{i}" for i in range(2)]
    for f in ends:
        submit(h, "-c", ESCAPES.format(pids=f))
    for f in timeouts:
        submit(h, "--timeout", "3", "-c", ESCAPES.format(pids=f) + "\nsleep 300")
    wait_all_final(h, 4, timeout=90)
    rows = h.rows("SELECT state, reason FROM jobs ORDER BY id")
    assert rows == [("SUCCEEDED", None)] * 2 + [("FAILED", "timeout")] * 2, rows
    leaked = leaked_escapees(ends + timeouts)
    a = audit(h)
    print("\n" + a.line("escapes-end-timeout", faults=4 * ESCAPEES,
                        extra=f"leaked={leaked} mechanism={mechanism()!r}"))
    assert leaked == 0 and a.lost == 0 and not a.disagree


def test_escapes_are_killed_at_qdel_and_at_stop_host(home, tmp_path):
    from hyper_tui.local.daemon_control import stop_daemon

    h = make_host(workers=2)
    cancel, stop = tmp_path / "qdel", tmp_path / "stop"
    jid = submit(h, "-c", ESCAPES.format(pids=cancel) + "\nsleep 300")
    submit(h, "-c", ESCAPES.format(pids=stop) + "\nsleep 300")
    wait_escapees_started([cancel, stop])
    code, _, err = qdel(str(jid))
    assert code == 0, err
    wait_until(lambda: h.rows("SELECT state FROM jobs WHERE id=?", (jid,)) == [("CANCELLED",)],
               timeout=30, what="the qdel")
    leaked_qdel = leaked_escapees([cancel])
    workers = list(h.worker_pids().values())
    assert stop_daemon(h.name, timeout=30)
    leaked_stop = leaked_escapees([stop])
    workers_left = [p for p in workers if alive(p)]
    a = audit(h)
    # The job running at stop-host is requeued (QUEUED, its attempt "interrupted"): not lost.
    requeued = h.rows("SELECT count(*) FROM jobs WHERE id != ? AND state='QUEUED'", (jid,))[0][0]
    lost = a.lost - requeued
    print("\n" + f"RELIABILITY escapes-qdel-stop-host: jobs={a.jobs} faults={2 * ESCAPEES} "
          f"lost={lost} duplicated={a.duplicated} "
          f"leaked={leaked_qdel + leaked_stop + len(workers_left)} requeued_at_stop={requeued} "
          f"mechanism={mechanism()!r}")
    assert leaked_qdel == 0 and leaked_stop == 0 and not workers_left
    assert requeued == 1 and lost == 0 and a.duplicated == 0


FORKS = """
import os, signal, time
kids = []
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
open("{out}", "w").write(str(len(kids)))
for k in kids:
    os.kill(k, signal.SIGKILL)
"""
FILES = """
fs = []
try:
    for _ in range(1000):
        fs.append(open("/dev/null"))
except OSError:
    pass
n = len(fs)
for f in fs:
    f.close()
open("{out}", "w").write(str(n))
"""


def test_nproc_nofile_and_memory_limits_hold(home, tmp_path):
    from hyper_tui import config
    from hyper_tui.hosts.registry import apply_config
    from hyper_tui.model import Ulimit

    h = make_host(workers=3)
    cfg = config.load("local")
    d = cfg.definitions["default"]
    d.ulimits = [Ulimit(name="nproc", soft_limit=64, hard_limit=64),
                 Ulimit(name="nofile", soft_limit=256, hard_limit=256)]
    d.memory_mib = 64
    config.save(cfg)
    apply_config(cfg)
    procs_f, files_f = tmp_path / "procs", tmp_path / "files"
    mem = submit(h, "--", "python3", "-c",
                  "x = bytearray(512 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); "
                  "print('allocated')")
    forks = submit(h, "--", "python3", "-c", FORKS.format(out=procs_f))
    files = submit(h, "--", "python3", "-c", FILES.format(out=files_f))
    wait_all_final(h, 3, timeout=120)
    by_id = {i: (s, r) for i, s, r in h.rows("SELECT id, state, reason FROM jobs")}
    opened = int(files_f.read_text())
    started = int(procs_f.read_text()) if procs_f.exists() else 0
    a = audit(h)
    print("\n" + a.line("limits-nproc-nofile-memory", faults=3,
                        extra=f"leaked=0 processes_started={started} files_opened={opened} "
                              f"memory={by_id[mem]} mechanism={mechanism()!r}"))
    assert by_id[mem] == ("FAILED", "out of memory (limit 64 MiB)"), by_id[mem]
    assert opened < 256, opened
    assert started < 64, started
    assert by_id[files] == ("SUCCEEDED", None) and by_id[forks] == ("SUCCEEDED", None)
