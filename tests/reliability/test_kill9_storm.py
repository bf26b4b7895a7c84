"""Scenario: ``kill -9`` of the daemon and every worker at once, 10 times during 3,000 jobs.

Each job appends ``<index> <attempt>`` to an append-only side-effect file (one ``write`` with
``O_APPEND``: lines never interleave). The daemon and its workers share one process group (the
workers are the daemon's children; jobs have their own sessions), so one ``killpg(SIGKILL)``
kills them all in the same instant, whatever they were doing: inside a claim, a commit, a
job's end. The daemon is then started again (as the next ``qsub`` would).

Some jobs hang in their first attempts while a ``hold`` file exists (``sleep``): at every kill
job processes are running whose worker dies under them, and the next daemon must kill them
(leaked = 0). ``hold`` is removed just before the last kill, so no job started after it sleeps.

Checked at the end, from the store and the side-effect file:

* lost = 0: every task exists and is SUCCEEDED (the retries are more than the kills);
* duplicated = 0: no task SUCCEEDED twice, no task ran again after its succeeded attempt
  (a finished job is never re-run), no attempt ran twice;
* re-runs: a task ran more than once only for attempts recorded ``lost`` (its worker was killed
  under it), at most once per kill it was running during, and no more than kills x workers in all;
* leaked = 0: no job process is left (the sleepers of killed workers included).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from hyper_tui.containment import children_of
from hyper_tui.local.daemon_control import ensure_daemon
from tests.reliability.helpers import (
    alive,
    assert_no_leftovers,
    audit,
    cmdline,
    make_host,
    pids_with_env,
    qsub,
    scaled,
    state_counts,
    wait_all_final,
    wait_until,
)

KILLS = 10
WORKERS = 4
SLEEPER_EVERY = 200      # task idx % this == this // 2 hangs in attempt 1 while ``hold`` exists
JOB = ('echo "$HYPER_ARRAY_INDEX $HYPER_ATTEMPT" >> {ran}; '
       'if [ $((HYPER_ARRAY_INDEX % {every})) -eq {half} ] && [ "$HYPER_ATTEMPT" = 1 ]; then '
       'while [ -e {hold} ]; do sleep 0.2; done; fi')


def _workers(daemon: int | None) -> list[int]:
    """The daemon's live workers (its children running the agent)."""
    if not daemon:
        return []
    return [p for p in children_of(daemon) if "hyper_tui.agent" in cmdline(p) and alive(p)]


def _kill_all_at_once(h) -> tuple[int, list[int]]:
    """SIGKILL the daemon's process group (the daemon and all its workers) in one call; the
    pids killed and the job processes alive at that moment."""
    daemon = h.daemon_pid()
    assert daemon, "no daemon to kill"
    pgid = os.getpgid(daemon)
    assert pgid == daemon, "the daemon leads its own process group"
    workers = _workers(daemon)
    assert workers, "the daemon has no worker to kill"
    jobs = pids_with_env(h.marker)
    os.killpg(pgid, signal.SIGKILL)
    wait_until(lambda: not alive(daemon) and not [p for p in workers if alive(p)], timeout=30,
               what="the daemon and every worker to die")
    return daemon, jobs


def test_kill9_daemon_and_all_workers_ten_times(home, tmp_path):
    h = make_host(workers=WORKERS, lease=4.0)
    n = scaled(3000, minimum=300)
    ran, hold = tmp_path / "ran", tmp_path / "hold"
    hold.touch()
    code, out, err = qsub(*h.qsub_env_args(), "-r", str(KILLS + 5), "-J", f"1-{n}", "-c",
                          JOB.format(ran=ran, hold=hold, every=SLEEPER_EVERY, half=SLEEPER_EVERY // 2))
    assert code == 0, err
    head = int(out.strip().removesuffix("[]"))
    assert ensure_daemon(h.name, wait=True, timeout=60)
    t0 = time.monotonic()
    killed_during: Counter = Counter()   # task idx -> kills it was RUNNING during
    orphans_at_kill = 0
    leaked_at_kills: set[int] = set()
    restart_s = 0.0   # from each kill to the new daemon's first worker
    for k in range(1, KILLS + 1):
        # Spread the kills over the run: the k-th once k/(KILLS+1) of the tasks SUCCEEDED.
        target = n * k // (KILLS + 1)
        wait_until(lambda t=target: state_counts(h).get("SUCCEEDED", 0) >= t,
                   timeout=120, what=f"{target} tasks SUCCEEDED before kill {k}")
        wait_until(lambda: _workers(h.daemon_pid()), timeout=60, what="a worker to kill")
        if k == KILLS:
            hold.unlink()  # from now on no job sleeps: the last kill's sleepers are leftovers
        _daemon, jobs = _kill_all_at_once(h)
        # Nothing writes the store now: RUNNING is what the dead workers were running.
        killed_during.update(i for (i,) in h.rows(
            "SELECT idx FROM jobs WHERE array_id=? AND state='RUNNING'", (head,)))
        orphans_at_kill += len(jobs)
        t_kill = time.monotonic()
        assert ensure_daemon(h.name, wait=True, timeout=60)
        wait_until(lambda: _workers(h.daemon_pid()), timeout=60, what="the new daemon's workers")
        restart_s += time.monotonic() - t_kill
        # The job processes of the killed workers (the sleepers wait for ``hold``: only the
        # new daemon can end them) are gone.
        try:
            wait_until(lambda js=jobs: not [p for p in js if alive(p)], timeout=30,
                       what=f"the job processes alive at kill {k} to be killed")
        except AssertionError:
            leaked_at_kills.update(p for p in jobs if alive(p))
    counts = wait_all_final(h, n, timeout=240)
    seconds = time.monotonic() - t0
    leaked_now = set(pids_with_env(h.marker))
    assert_no_leftovers(h, timeout=30)
    leaked = len(leaked_at_kills | leaked_now)

    a = audit(h, list(range(head, head + n)))
    # The side-effect file: which (task, attempt) ran, how often.
    lines = Counter(tuple(map(int, line.split())) for line in ran.read_text().splitlines() if line)
    runs = Counter(idx for idx, _attempt in lines.elements())
    final = {idx: (state, attempts) for idx, state, attempts in
             h.rows("SELECT idx, state, attempts FROM jobs WHERE array_id=?", (head,))}
    outcomes: dict[int, list[str]] = {}
    for idx, outcome in h.rows("SELECT j.idx, a.outcome FROM attempts a JOIN jobs j ON j.id=a.job_id "
                               "WHERE j.array_id=? ORDER BY j.idx, a.attempt", (head,)):
        outcomes.setdefault(idx, []).append(outcome)
    problems: list[str] = []
    duplicated = a.duplicated
    lost = a.lost + sum(1 for s, _ in final.values() if s != "SUCCEEDED")
    for idx in range(1, n + 1):
        state, attempts = final.get(idx, (None, 0))
        if state != "SUCCEEDED":
            problems.append(f"task {idx}: {state}")
            continue
        if lines[(idx, attempts)] != 1:
            problems.append(f"task {idx}: its succeeded attempt {attempts} ran "
                            f"{lines[(idx, attempts)]} time(s)")
            lost += lines[(idx, attempts)] == 0
        after = [at for (i, at) in lines if i == idx and at > attempts]
        twice = [at for (i, at), c in lines.items() if i == idx and c > 1]
        if after or twice:
            duplicated += 1
            problems.append(f"task {idx}: ran after its succeeded attempt {attempts} ({after}) "
                            f"or an attempt twice ({twice})")
        reruns = runs[idx] - 1
        lost_attempts = outcomes.get(idx, []).count("lost")
        if reruns > lost_attempts or lost_attempts > killed_during[idx]:
            duplicated += 1
            problems.append(f"task {idx}: ran {runs[idx]} times, {lost_attempts} attempt(s) lost, "
                            f"running during {killed_during[idx]} kill(s)")
    reran = sum(max(0, c - 1) for c in runs.values())
    if reran > KILLS * WORKERS:
        problems.append(f"{reran} re-runs: more than {KILLS} kills x {WORKERS} workers")
    print(f"\nRELIABILITY kill9-daemon-and-workers: jobs={n} faults={KILLS} lost={lost} "
          f"duplicated={duplicated} leaked={leaked} reran={reran} "
          f"requeued_after_lost_worker={a.lost_attempts} job_processes_at_kills={orphans_at_kill} "
          f"seconds={seconds:.0f} restarts_s={restart_s:.0f} states={dict(sorted(counts.items()))}")
    assert not problems, problems[:10]
    assert not a.disagree, a.disagree[:10]
    assert lost == 0 and duplicated == 0 and leaked == 0
    assert counts["SUCCEEDED"] == n


def test_kill9_of_the_daemon_right_after_it_started_a_worker(home, tmp_path):
    """The daemon killed between starting a worker and its next pass: the next daemon must
    still know the worker is a daemon's (``run/<wid>.child``, written as it is started) and
    stop it at ``stop-host``, not leave it running as a stranger with a lease."""
    from hyper_tui.local.daemon_control import stop_daemon
    from hyper_tui.local.launcher import child_file

    h = make_host(workers=1, lease=4.0)
    code, out, err = qsub(*h.qsub_env_args(), "-r", "2", "--", "sleep", "300")
    assert code == 0, err
    jid = int(out)
    daemon = wait_until(h.daemon_pid, timeout=60, what="the daemon")
    end = time.monotonic() + 60
    seen = []
    while not seen and time.monotonic() < end:
        seen = h.rows("SELECT id, pid FROM workers WHERE pid IS NOT NULL")
        if not seen:
            time.sleep(0.001)
    assert seen, "no worker started"
    os.kill(daemon, signal.SIGSTOP)  # before its next pass (at least 0.1 s away)
    (wid, pid), = seen
    had_identity = child_file(h.data_dir, wid).exists()
    os.kill(daemon, signal.SIGKILL)
    wait_until(lambda: not alive(daemon), timeout=30, what="the daemon to die")
    wait_until(lambda: h.rows("SELECT state FROM jobs WHERE id=?", (jid,))[0][0] == "RUNNING",
               timeout=60, what="the orphaned worker to run the job")
    job_pids = pids_with_env(h.marker)
    assert ensure_daemon(h.name, wait=True, timeout=60)
    assert stop_daemon(h.name, timeout=40)
    wait_until(lambda: not alive(pid) and not [p for p in job_pids if alive(p)], timeout=30,
               what="the worker of the killed daemon and its job stopped")
    state = h.rows("SELECT state FROM jobs WHERE id=?", (jid,))[0][0]
    leaked = int(alive(pid)) + len([p for p in job_pids if alive(p)])
    print(f"\nRELIABILITY kill9-daemon-before-its-next-pass: jobs=1 faults=1 "
          f"lost={int(state not in ('QUEUED', 'SUCCEEDED'))} duplicated=0 leaked={leaked} "
          f"identity_on_disk={had_identity} state={state}")
    assert had_identity, "the worker was recorded before its identity was on disk"
    assert leaked == 0 and state == "QUEUED"
