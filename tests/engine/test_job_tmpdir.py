"""Every job gets its own TMPDIR, empty, named for it, and gone once it has ended: a worker hands
one directory on from job to job (one rename a job), never with anything a job left in it."""

from __future__ import annotations

import os

from hyper_tui.agent.loop import Agent, AgentOptions
from hyper_tui.core.jobs import ArraySpec, Submission


def _client():
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient

    registry.resolve(None)  # first use: creates the local host
    return LocalHostClient("local", start_daemon=False)


def test_a_stream_of_jobs_gets_one_fresh_tmpdir_each(home, tmp_path):
    from hyper_tui.agent.transports.local import LocalTransport

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seen = tmp_path / "seen.txt"
    # Each job says where its TMPDIR is and what it found there; the third leaves a file and
    # a folder behind.
    script = (f'echo "$HYPER_ARRAY_INDEX $TMPDIR $(ls -A "$TMPDIR" | wc -l)" >> {seen}; '
              'if [ "$HYPER_ARRAY_INDEX" = 3 ]; then touch "$TMPDIR/left"; '
              'mkdir "$TMPDIR/d"; fi')
    c = _client()
    c.submit([Submission("default", "default", "t", command=script,
                                 array=ArraySpec(1, 6))])
    t = LocalTransport(c.store.path, worker_id="w-1", queue="default", definition="default")
    agent = Agent(t, AgentOptions(idle_timeout=0.0, scratch_dir=str(scratch)))
    during: list[list[str]] = []
    run_one = agent.run_one

    def watched(claim):
        result = run_one(claim)
        during.append(sorted(p for p in os.listdir(scratch) if p.startswith("hyper-")))
        return result

    agent.run_one = watched
    assert agent.run() == 6
    t.close()
    assert c.count_jobs()["SUCCEEDED"] == 6
    rows = [line.split() for line in seen.read_text().splitlines()]
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    paths = [r[1] for r in rows]
    assert len(set(paths)) == 6  # a name of its own for every job
    assert all(os.path.basename(p).startswith("hyper-job-") for p in paths)
    assert all(r[2] == "0" for r in rows), rows  # empty, even after job 3 left things there
    assert not any(os.path.exists(p) for p in paths)
    # Between two jobs of the stream, at most the last job's empty directory waits for the
    # next job; the one job 3 filled was removed as it ended.
    assert all(len(names) <= 1 for names in during), during
    assert os.path.basename(paths[2]) not in during[2]
    assert sorted(os.listdir(scratch)) == []  # the worker took its directory with it
