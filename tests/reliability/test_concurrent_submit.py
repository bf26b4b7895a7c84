"""Scenario 3: 8 submitting processes x 5,000 jobs each (HYPER_RELIABILITY_SCALE scales the
jobs), most of them as separate small transactions (one-job qsub calls in-process and as their
own processes, qsub --stdin batches, an array), while workers run jobs and claim. Exactly
40,000 jobs with unique ids; no "database is locked" (or any other error) reaches a user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.conftest import ROOT
from tests.reliability.helpers import audit, make_host, qsub, scaled, wait_until

SUBMITTERS = 8


def test_concurrent_submitters_while_workers_run(home, tmp_path):
    h = make_host(workers=4)
    per = scaled(5000, minimum=100)
    # 8 x (200 one-job qsub calls + 4 qsub processes + 15 --stdin batches + 1 array): about
    # 1,800 separate transactions racing each other, the workers and the daemon.
    singles, cli = scaled(200, minimum=10), scaled(4, minimum=2)
    batch_size = 100
    batches = scaled(15, minimum=1)
    assert per > singles + cli + batches * batch_size
    # Workers busy before the submitters start: they claim and report all along.
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-400", "--", "sleep", "0.05")
    assert code == 0, err
    wait_until(lambda: h.rows("SELECT count(*) FROM workers")[0][0] >= 2, timeout=60,
               what="workers to start")
    start = tmp_path / "start"
    procs = []
    env = dict(os.environ)
    for i in range(SUBMITTERS):
        cmd = [sys.executable, "-m", "tests.reliability.submitter", "--name", f"sub{i}",
               "--marker", h.marker, "--jobs", str(per), "--singles", str(singles), "--cli", str(cli),
               "--batches", str(batches), "--batch-size", str(batch_size), "--start", str(start),
               "--out", str(tmp_path / f"sub{i}.json")]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    time.sleep(0.5)  # let them import; they spin on the start file
    t0 = time.monotonic()
    start.touch()
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        outputs.append((p.returncode, out, err))
    seconds = time.monotonic() - t0
    for i, (code, _out, err) in enumerate(outputs):
        assert "locked" not in err.lower() and "busy" not in err.lower(), f"sub{i}: {err}"
        assert code == 0 and not err, f"submitter {i} exit {code}: {err[:2000]}"
    ids: list[str] = []
    calls = 0
    worst = 0.0
    for i in range(SUBMITTERS):
        data = json.loads((tmp_path / f"sub{i}.json").read_text())
        worst = max(worst, data["seconds"])
        for r in data["results"]:
            calls += 1
            assert r["code"] == 0 and not r["stderr"], r
            if r["kind"] == "array":
                (head,) = r["ids"]
                ids.append(head)
            else:
                assert len(r["ids"]) == r["n"], r
                ids.extend(r["ids"])
    assert len(ids) == len(set(ids)), "a job id was handed out twice"
    names = {f"sub{i}" for i in range(SUBMITTERS)}
    marks = ",".join("?" * len(names))
    total = h.rows(f"SELECT count(*) FROM jobs WHERE name IN ({marks})", tuple(names))[0][0]
    by_name = dict(h.rows(f"SELECT name, count(*) FROM jobs WHERE name IN ({marks}) GROUP BY name",
                          tuple(names)))
    # --stdin batches are named by -N too; every submitter owns exactly `per` jobs.
    assert by_name == {n: per for n in names}, by_name
    assert total == SUBMITTERS * per
    assert h.rows("SELECT count(DISTINCT id) FROM jobs")[0][0] == h.rows("SELECT count(*) FROM jobs")[0][0]
    # The run itself stays consistent: stop the workers and check what ran.
    done = h.rows("SELECT count(*) FROM jobs WHERE state IN ('SUCCEEDED','FAILED','CANCELLED')")[0][0]
    from hyper_tui.local.daemon_control import stop_daemon

    stop_daemon(h.name, timeout=60)
    a = audit(h)
    not_final = [d for d in a.disagree if "not final" not in d]
    assert not not_final, not_final[:10]
    assert a.duplicated == 0
    print(f"\nRELIABILITY concurrent-submit: jobs={total} faults=0 lost=0 duplicated={a.duplicated} "
          f"submitters={SUBMITTERS} transactions={calls} unique_ids={len(ids)} "
          f"ran_meanwhile={done} seconds={seconds:.0f} slowest_submitter_s={worst:.0f}")
