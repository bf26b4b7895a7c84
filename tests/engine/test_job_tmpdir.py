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
    modes: set[int] = set()
    run_one = agent.run_one

    def watched(claim):
        result = run_one(claim)
        during.append(sorted(os.listdir(agent._tmp_home)))
        modes.add(os.stat(agent._tmp_home).st_mode & 0o777)
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
    home = os.path.dirname(paths[0])
    assert os.path.dirname(home) == str(scratch)
    assert all(os.path.dirname(p) == home for p in paths)  # one folder of the worker's
    assert modes == {0o711}  # passable (to a job run as its own uid), not listable
    # Between two jobs of the stream, only the last job's empty directory waits there for
    # the next job; the one job 3 filled was removed as it ended.
    assert during[0] == [os.path.basename(paths[0])]
    assert during[2] == [], during
    assert during[3] == [os.path.basename(paths[3])]
    assert os.listdir(scratch) == []  # the worker took its folder with it


def test_the_tmpdirs_of_a_dead_worker_are_removed(tmp_path):
    from hyper_tui import containment

    home = containment.new_tmp_home(str(tmp_path), "w-x")
    other = containment.new_tmp_home(str(tmp_path), "w-xy")
    os.makedirs(f"{home}/hyper-job-7/deep")
    open(f"{home}/hyper-job-7/deep/f", "w").close()
    assert containment.remove_tmp_homes(str(tmp_path), "w-x") == 1
    assert os.listdir(tmp_path) == [os.path.basename(other)]
