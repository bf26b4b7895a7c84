"""Scenario 5: a job that exceeds its timeout, forks children and ignores SIGTERM: the whole
tree is gone (even a child that left the job's process group with setsid) and the job FAILS
with reason ``timeout``."""

from __future__ import annotations

from tests.reliability.helpers import (
    alive,
    assert_no_leftovers,
    audit,
    make_host,
    pids_with_env,
    qsub,
    scaled,
    wait_all_final,
    wait_until,
)

TREE = r"""
trap '' TERM
echo $$ >> {pids}
( trap '' TERM; sleep 300 & echo $! >> {pids}; (trap '' TERM; sleep 300) & echo $! >> {pids}; wait ) &
echo $! >> {pids}
setsid sh -c 'trap "" TERM; echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait' &
python3 -c '
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("{pids}", "a").write(f"{{os.getpid()}}\n")
        time.sleep(300)
    os._exit(0)
open("{pids}", "a").write(f"{{os.getpid()}}\n")
time.sleep(300)
' &
sleep 300 & echo $! >> {pids}
wait
"""


def test_timeout_kills_the_whole_tree(home, tmp_path):
    h = make_host(workers=4)
    n = scaled(4, minimum=2)
    files = [tmp_path / f"pids-{i}" for i in range(n)]
    ids = []
    for f in files:
        code, out, err = qsub(*h.qsub_env_args(), "-r", "0", "--timeout", "1.5", "-c",
                              TREE.format(pids=f))
        assert code == 0, err
        ids.append(int(out.strip()))
    # Each tree writes 8 pids once it is fully started.
    wait_until(lambda: all(f.exists() and len(f.read_text().split()) >= 8 for f in files),
               timeout=60, what="every job tree to start")
    counts = wait_all_final(h, n, timeout=90)
    rows = h.rows("SELECT id, state, reason FROM jobs ORDER BY id")
    assert [(r[1], r[2]) for r in rows] == [("FAILED", "timeout")] * n, rows
    pids = [int(p) for f in files for p in f.read_text().split()]
    # The worker kills the group (TERM, then KILL after the grace period) before it reports,
    # so by the time the job is FAILED nothing of its tree may be left.
    survivors = [p for p in pids if alive(p)]
    assert not survivors, f"processes of timed-out jobs survived: {survivors}"
    assert not pids_with_env(h.marker)
    assert_no_leftovers(h)
    a = audit(h, ids)
    assert not a.disagree, a.disagree[:10]
    assert [o for (o,) in h.rows("SELECT outcome FROM attempts")] == ["timeout"] * n
    print("\n" + a.line("timeout-tree", faults=n, extra=f"processes_killed={len(pids)}"))
    assert counts["FAILED"] == n
