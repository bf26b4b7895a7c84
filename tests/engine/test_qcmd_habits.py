"""PBS/Slurm/LSF habits on a real local host: qsub --wait, output files, directives that are
applied or refused, "did you mean", and the huge or broken inputs refused at submit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import wait_for
from tests.engine.helpers import job, q, submit, tasks, wait_state


def _count_jobs() -> int:
    from hyper_tui.core.errors import NotFoundError
    from hyper_tui.local.client import LocalHost
    from hyper_tui.local.jobs import count_jobs

    try:
        h = LocalHost("local")
    except NotFoundError:  # the command failed before the host was created
        return 0
    try:
        return sum(count_jobs(h.store).values())
    finally:
        h.close()


# ---- qsub --wait and qlog -f exit with the job's status ------------------------------------

@pytest.mark.parametrize(("flags", "command", "status"), [
    (["--wait"], "exit 0", 0),
    (["--wait"], "exit 7", 7),
    (["-K"], "kill -9 $$", 137),
    (["-W", "block=true"], "exit 3", 3),
    (["--wait", "--timeout", "0.5"], "sleep 20", 1),
    (["--wait", "-J", "1-3"], "exit 0", 0),
    (["--wait", "-J", "1-3"], 'test "$HYPER_ARRAY_INDEX" != 2', 1),
])
def test_qsub_wait_exits_with_the_job_status(home, capsys, flags, command, status):
    code, out, err = q(capsys, "qsub", *flags, "-r", "0", "-c", command)
    assert code == status, err
    ref = out.strip()
    assert all(t["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") for t in tasks(ref))


def _qsub_process(*args: str) -> subprocess.Popen:
    """A qsub in its own process (its exit status is what is tested)."""
    return subprocess.Popen([sys.executable, "-m", "hyper_tui.qcmd.qsub", *args], text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_state(ref: str, state: str) -> None:
    """wait_state for a job a qsub in another process submits (the host may not exist yet)."""
    from hyper_tui.core.errors import NotFoundError

    def check():
        try:
            return job(ref)["state"] == state
        except NotFoundError:
            return False

    wait_for(check, timeout=30, what=f"job {ref} to be {state}")


def test_qsub_wait_directive_and_cancelled_job(home, capsys, tmp_path):
    script = tmp_path / "w.sh"
    script.write_text("#PBS -W block=true\nsleep 30\n")
    submit(capsys, "--hold", "--", "true")  # the host exists before the other process submits
    p = _qsub_process(str(script))
    _wait_state("2", "RUNNING")
    assert q(capsys, "qdel", "2")[0] == 0
    assert p.wait(30) == 1 and p.stdout.read().strip() == "2"


def test_qsub_wait_on_a_job_that_disappears_is_one_line_exit_4(home, capsys):
    submit(capsys, "--hold", "--", "true")  # the host exists before the other process submits
    p = _qsub_process("--wait", "--hold", "--", "true")
    _wait_state("2", "PENDING")
    time.sleep(0.5)
    from hyper_tui.local.client import LocalHost

    h = LocalHost("local")
    h.store.write(lambda db: db.execute("DELETE FROM jobs WHERE id=2"))
    h.close()
    assert p.wait(30) == 4
    err = p.stderr.read()
    assert err.count("\n") == 1 and "no job 2" in err


def test_qlog_follow_exits_with_the_job_status(home, capsys):
    jid = submit(capsys, "-r", "0", "-c", "sleep 0.5; echo done; exit 5")
    code, out, _ = q(capsys, "qlog", jid, "-f")
    assert code == 5 and "STDOUT" in out and "done" in out
    ok = submit(capsys, "--", "true")
    assert q(capsys, "qlog", ok, "-f")[0] == 0
    assert q(capsys, "qlog", ok)[0] == 0
    code, _, err = q(capsys, "qlog", "999", "-f")
    assert code == 4 and err.count("\n") == 1


# ---- output files ---------------------------------------------------------------------------

def test_output_and_error_files(home, capsys, tmp_path):
    out, err = tmp_path / "job.out", tmp_path / "job.err"
    code, _, e = q(capsys, "qsub", "--wait", "-o", str(out), "-e", str(err), "-c",
                   "echo to-out; echo to-err >&2; echo $LSB_OUTPUTFILE")
    assert code == 0, e
    assert out.read_text() == f"to-out\n{out}\n" and err.read_text() == "to-err\n"


def test_join_oe_and_eo_and_j_as_a_name(home, capsys, tmp_path):
    code, ref, _ = q(capsys, "qsub", "--wait", "-j", "oe", "-o", str(tmp_path / "both.%J"), "-c",
                     "echo a; echo b >&2")
    assert code == 0
    assert (tmp_path / f"both.{ref.strip()}").read_text().splitlines() == ["a", "b"]
    code, ref, _ = q(capsys, "qsub", "--wait", "-j", "eo", "-e", str(tmp_path / "e.txt"), "-c",
                     "echo a; echo b >&2")
    assert code == 0 and sorted((tmp_path / "e.txt").read_text().split()) == ["a", "b"]
    jid = submit(capsys, "-j", "oefix", "--", "true")
    assert job(jid)["name"] == "oefix"
    # -j oe without -o: PBS's default NAME.oID in the working directory
    code, ref, _ = q(capsys, "qsub", "--wait", "-j", "oe", "-N", "named", "--cwd", str(tmp_path),
                     "-c", "echo x >&2")
    assert (tmp_path / f"named.o{ref.strip()}").read_text() == "x\n"


def test_output_directives_pbs_and_lsf_arrays(home, capsys, tmp_path):
    pbs = tmp_path / "pbs.sh"
    pbs.write_text(f"#PBS -N p\n#PBS -j oe\n#PBS -o {tmp_path}/pbs.$PBS_JOBID.log\necho out\n"
                   "echo err >&2\n")
    jid = submit(capsys, "--wait", str(pbs))
    assert (tmp_path / f"pbs.{jid}.log").read_text().split() == ["out", "err"]
    lsf = tmp_path / "lsf.sh"
    lsf.write_text(f'#BSUB -J "arr[1-3]"\n#BSUB -o {tmp_path}/%J_%I.out\n#BSUB -e {tmp_path}/%J_%I.err\n'
                   "echo i=$LSB_JOBINDEX\necho e >&2\n")
    aid = submit(capsys, "-K", str(lsf))
    head = aid[:-2]
    for i in (1, 2, 3):
        assert (tmp_path / f"{head}_{i}.out").read_text() == f"i={i}\n"
        assert (tmp_path / f"{head}_{i}.err").read_text() == "e\n"


@pytest.mark.parametrize(("args", "code", "text"), [
    (["-o", "/no/such/dir/x.out", "--", "true"], 3, "does not exist"),
    (["-e", "/etc/hostname/x.err", "--", "true"], 3, "is not a directory"),
    (["-o", "/tmp", "--", "true"], 3, "is a directory"),
    (["-o", "json", "--", "true"], 2, "--output-format json"),
    (["-j", "oe", "-e", "x.err", "--", "true"], 2, "-j oe"),
    (["-j", "eo", "-o", "x.out", "--", "true"], 2, "-j eo"),
    (["-N", "a", "-j", "b", "--", "true"], 2, "two job names"),
    (["--timeout", "1e999", "--", "true"], 3, "--timeout"),
    (["--timeout", "nan", "--", "true"], 3, "--timeout"),
    (["-l", "walltime=99999999999:00:00", "--", "true"], 3, "walltime"),
    (["--retries", "9" * 40, "--", "true"], 3, "-r"),
    (["--priority", "9" * 40, "--", "true"], 3, "--priority"),
    (["-J", "1-" + "9" * 40, "--", "true"], 3, "--array"),
    (["-J", "9" * 40, "--", "true"], 3, "--array"),
    (["-J", "1-5%" + "9" * 40, "--", "true"], 0, ""),
    (["-c", "echo a\0b"], 3, "NUL"),
    (["--", "echo", "a\0b"], 3, "NUL"),
    (["-v", "A=x\0y", "--", "true"], 3, "NUL"),
    (["-o", "x\0y", "--", "true"], 3, "NUL"),
    (["--qeue", "default", "--", "true"], 2, "did you mean --queue?"),
])
def test_bad_output_paths_and_huge_inputs_one_line_nothing_submitted(home, capsys, args, code, text):
    got, out, err = q(capsys, "qsub", "--hold", *args)
    assert got == code, err
    if code:
        assert text in err and len(err.strip().splitlines()) == 1 and "internal error" not in err
        assert _count_jobs() == 0
    else:
        assert _count_jobs() == 5


def test_priority_and_lsf_dependency_directives_are_applied(home, capsys, tmp_path):
    first = submit(capsys, "--hold", "--", "true")
    pbs = tmp_path / "p.sh"
    pbs.write_text("#PBS -p 7\n#PBS -r n\ntrue\n")
    jid = submit(capsys, "--hold", str(pbs))
    assert job(jid)["priority"] == 7 and job(jid)["retries"] == 0
    assert job(submit(capsys, "--hold", "--priority", "2", str(pbs)))["priority"] == 2
    lsf = tmp_path / "l.sh"
    lsf.write_text(f'#BSUB -w "done({first}) && ended({first})"\ntrue\n')
    dep = submit(capsys, str(lsf))
    d = job(dep)
    assert d["state"] == "PENDING"
    assert [(x["kind"], x["on"]) for x in d["depends"]] == [("afterok", first), ("afterany", first)]
    q(capsys, "qrls", first)
    wait_state(dep, "SUCCEEDED")
    bad = tmp_path / "b.sh"
    bad.write_text(f'#BSUB -w "started({first})"\ntrue\n')
    code, _, err = q(capsys, "qsub", str(bad))
    assert code == 3 and "#BSUB -w" in err and err.count("\n") == 1
    bad.write_text("#PBS -p high\ntrue\n")
    code, _, err = q(capsys, "qsub", str(bad))
    assert code == 3 and "#PBS -p" in err


@pytest.mark.parametrize(("cmd", "args", "hint"), [
    ("qstat", ["--limt", "3"], "did you mean --limit?"),
    ("qdel", ["--al", "-q", "default"], "did you mean --all?"),
    ("qlog", ["1", "--tial", "2"], "did you mean --tail?"),
    ("qrls", ["--hots", "x", "1"], "did you mean --host?"),
])
def test_mistyped_flags_get_did_you_mean(home, capsys, cmd, args, hint):
    code, _, err = q(capsys, cmd, *args)
    assert code == 2 and hint in err and err.count("\n") == 1


def test_jobs_see_user_logname_and_a_private_tmpdir(home, capsys, monkeypatch):
    import getpass

    code, ref, _ = q(capsys, "qsub", "--wait", "-c",
                     "echo $USER $LOGNAME; echo $TMPDIR; test -d $TMPDIR && touch $TMPDIR/f")
    assert code == 0
    from tests.engine.helpers import log_text

    lines = [ln.rsplit(" | ", 1)[1] for ln in log_text(capsys, ref.strip(), "-t", "STDOUT").splitlines()]
    user = getpass.getuser()
    assert lines[0] == f"{user} {user}"
    tmp = lines[1]
    assert tmp and tmp != "/tmp" and not os.path.exists(tmp)
    wait_for(lambda: not os.path.exists(tmp), timeout=5, what="the job's TMPDIR to be removed")


# ---- qstat and qdel at scale ------------------------------------------------------------------

def test_thousand_id_pipeline_qstat_to_qdel(home, capsys, monkeypatch):
    code, out, err = q(capsys, "qsub", "--hold", "--stdin",
                       stdin="".join(f"echo {i}\n" for i in range(1000)), monkeypatch=monkeypatch)
    assert code == 0, err
    ids = out.split()
    assert len(ids) == 1000
    code, listed, _ = q(capsys, "qstat", "-q", "default", "--only-job-id-out")
    assert sorted(listed.split(), key=int) == ids
    code, out, _ = q(capsys, "qdel", "-", stdin=listed, monkeypatch=monkeypatch)
    assert code == 0 and out.count("cancelled (was PENDING)") == 1000
    assert {t["state"] for i in ids[::97] for t in tasks(i)} == {"CANCELLED"}


def test_qstat_hint_and_totals_honour_every_filter(home, capsys):
    for _ in range(3):
        submit(capsys, "--hold", "--", "true")
    done = submit(capsys, "-K", "--", "true")
    code, out, _ = q(capsys, "qstat", "-s", "PENDING", "--limit", "1")
    assert "(showing 1 of 3; --offset 1 for more)" in out
    assert out.splitlines()[-1].startswith("Total: 3  Pending: 3")
    code, out, _ = q(capsys, "qstat", "-s", "SUCCEEDED")
    assert "showing" not in out and out.splitlines()[-1].startswith("Total: 1")
    header = out.splitlines()[0].split()
    assert {"USER", "SUBMITTED", "EXIT"} <= set(header)
    assert out.splitlines()[1].split()[0] == done
    code, out, _ = q(capsys, "qstat", "-q", "default", "--limit", "all")
    assert len([ln for ln in out.splitlines() if ln[:1].isdigit()]) == 4
    code, out, _ = q(capsys, "qstat", "-s", "pending", "-u", "someone-else", "--only-job-id-out")
    assert out == ""
    code, out, _ = q(capsys, "qstat", "-x", "-s", "pending", "--only-job-id-out")
    assert out.split() == ["3", "2", "1"]
    code, out, _ = q(capsys, "qstat", "-f", done)
    assert out.startswith(f"Job Id: {done}\n") and "    job_state = F" in out
    assert "    Exit_status = 0" in out
    code, _, err = q(capsys, "qstat", "--limit", "lots")
    assert code == 3 and "--limit" in err


def test_qstat_u_lists_the_jobs_a_user_submitted_with_their_user(home, capsys):
    """Each job records its submitter; ``qstat -u`` filters by it and the USER column shows it
    (a job another account submitted into the same store, e.g. by an older store's owner)."""
    from hyper_tui.core.submit import submitting_user
    from hyper_tui.local.client import LocalHostClient

    me = submitting_user()
    mine = submit(capsys, "--hold", "-N", "mine", "--", "true")
    hers = int(submit(capsys, "--hold", "-N", "hers", "--", "true"))
    client = LocalHostClient("local", start_daemon=False)
    try:
        client.store.write(lambda db: db.execute("UPDATE jobs SET user='carol' WHERE id=?",
                                                 (hers,)))
    finally:
        client.close()
    code, out, _ = q(capsys, "qstat", "-u", me)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["JOB", "ID", "NAME"] and "USER" in lines[0]
    assert [ln.split()[:3] for ln in lines[1:-1]] == [[mine, "mine", me[:12]]]
    assert lines[-1].startswith("Total: 1")
    code, out, _ = q(capsys, "qstat", "-u", "carol")
    assert [ln.split()[1:3] for ln in out.splitlines()[1:-1]] == [["hers", "carol"]]
    code, out, _ = q(capsys, "qstat", "-u", "carol", "-j", "mine")
    assert out.startswith("no jobs match")
    code, out, _ = q(capsys, "qstat", "-u", "carol", "--only-job-id-out")
    assert len(out.split()) == 1
    code, out, _ = q(capsys, "qstat", "-f", mine)
    assert f"    Job_Owner = {me}\n" in out


def test_qdel_names_tasks_and_sums_up_big_arrays_and_filters(home, capsys):
    small = submit(capsys, "--hold", "-J", "1-3", "--", "true")
    head = int(small[:-2])
    code, out, _ = q(capsys, "qdel", str(head + 1))  # a task's own id: Slurm's habit
    assert out.strip() == f"{head}[2]: cancelled (was PENDING)"
    code, out, _ = q(capsys, "qstat", "-i", str(head + 1))
    assert out.splitlines()[0].split()[-1] == f"{head}[2]"
    big = submit(capsys, "--hold", "-J", "0-4999", "--", "true")
    code, out, _ = q(capsys, "qdel", big)
    assert out.splitlines() == [f"{big}: cancelled 5000 of 5000 jobs (was PENDING 5000)"]
    assert job(big)["array_states"] == {"CANCELLED": 5000}
    for _ in range(2):
        submit(capsys, "--hold", "-J", "1-100", "--", "true")
    code, out, _ = q(capsys, "qdel", "-q", "default", "--all")
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("queue default: cancelled 202 of 5203 jobs")
    assert "5001 already finished" in lines[0]


def test_qdel_of_a_big_array_never_holds_the_write_lock_long(home, capsys, monkeypatch):
    """Cancelling a 100,000-task array holds the write lock for under 100 ms at a time, and
    another writer meanwhile gets it (within SQLite's busy-handler polling)."""
    from hyper_tui.local.client import LocalHost
    from hyper_tui.local.store import Store

    holds: list[float] = []
    rows: list[int] = []
    original = Store.write

    def timed(self, fn, **kw):
        def held(db):  # from the lock taken (BEGIN IMMEDIATE) to the work done
            t0, changes = time.perf_counter(), db.total_changes
            try:
                return fn(db)
            finally:
                holds.append(time.perf_counter() - t0)
                rows.append(db.total_changes - changes)

        return original(self, held, **kw)

    monkeypatch.setattr(Store, "write", timed)

    big = submit(capsys, "--hold", "-J", "1-100000", "--", "true")
    waits: list[float] = []
    stop = threading.Event()

    def writer():
        import sqlite3

        h = LocalHost("local")
        db = sqlite3.connect(h.store.file, timeout=10, isolation_level=None)
        db.execute("PRAGMA wal_autocheckpoint=0")  # time the lock, not a checkpoint we'd do
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                db.execute("BEGIN IMMEDIATE")
                waits.append(time.perf_counter() - t0)
                db.execute("ROLLBACK")
                time.sleep(0.005)
        finally:
            db.close()
            h.close()

    t = threading.Thread(target=writer)
    t.start()
    holds.clear()
    rows.clear()  # the qdel's transactions only (not the submit's)
    try:
        code, out, _ = q(capsys, "qdel", big)
    finally:
        stop.set()
        t.join()
    assert code == 0 and "cancelled 100000 of 100000" in out
    # qdel marks the array in one transaction of a few rows; the waiting tasks' rows are turned
    # CANCELLED afterwards (the daemon's sweep; here also this process's), at most SWEEP_ROWS
    # a transaction. This machine's 2 cores are shared (load 4-8 while this was written) and a
    # process can lose its core while it holds the lock, so the time bound is on the median;
    # the row bound is the mechanism, and holds whatever the load.
    from hyper_tui.local import jobs as local_jobs

    assert len(rows) <= 2 and max(rows) <= 10, rows
    h = LocalHost("local")
    try:
        while local_jobs.cancelled_arrays(h.store):
            local_jobs.sweep_cancelled(h.store, budget_s=1.0)
        assert h.store.one("SELECT count(*) FROM jobs WHERE state != 'CANCELLED'")[0] == 0
    finally:
        h.close()
    assert max(rows) <= local_jobs.SWEEP_ROWS + 1, max(rows)
    holds.sort()
    assert holds[len(holds) // 2] < 0.1, holds[-5:]
    assert len(waits) >= 1  # the other writer got the lock meanwhile


def test_qdel_of_a_thousand_task_ids_from_stdin_is_linear(home, capsys, monkeypatch):
    aid = submit(capsys, "--hold", "-J", "1-1000", "--", "true")
    head = aid[:-2]
    t0 = time.perf_counter()
    code, out, _ = q(capsys, "qdel", "-", stdin="".join(f"{head}[{i}]\n" for i in range(1, 1001)),
                     monkeypatch=monkeypatch)
    elapsed = time.perf_counter() - t0
    assert code == 0 and out.count("cancelled (was PENDING)") == 1000
    assert out.splitlines()[0] == f"{head}[1]: cancelled (was PENDING)"
    assert job(aid)["array_states"] == {"CANCELLED": 1000}
    assert elapsed < 4, elapsed  # 8 s before the (array_id, idx) index


# ---- qstat -x: finished jobs beyond the last minutes ------------------------------------------

def test_qstat_lists_active_and_recent_jobs_and_x_adds_every_finished_one(home, capsys):
    from hyper_tui.local.client import LocalHost

    code, old, _ = q(capsys, "qsub", "--wait", "-N", "oldjob", "--", "true")
    assert code == 0
    code, recent, _ = q(capsys, "qsub", "--wait", "-N", "recentjob", "--", "true")
    assert code == 0
    code, held, _ = q(capsys, "qsub", "--hold", "-N", "heldjob", "--", "true")
    old, recent, held = old.strip(), recent.strip(), held.strip()
    h = LocalHost("local")
    try:  # the first one finished an hour ago
        h.store.write(lambda db: db.execute("UPDATE jobs SET ended=ended-3600 WHERE id=?",
                                            (int(old),)))
    finally:
        h.close()

    def ids(*args: str) -> list[str]:
        code, out, err = q(capsys, "qstat", *args, "--only-job-id-out")
        assert code == 0, err
        return out.split()

    assert ids("-q", "default") == [held, recent]
    assert ids("-q", "default", "-x") == [held, recent, old]
    assert ids("-s", "SUCCEEDED") == [recent, old]  # a final state finds every finished job
    assert ids("-j", "oldjob") == []
    assert ids("-j", "oldjob", "-x") == [old]
    code, out, _ = q(capsys, "qstat", "-q", "default")
    assert code == 0 and "oldjob" not in out and "recentjob" in out
    assert out.splitlines()[-1].startswith("Total: 2 ")  # the totals honour the window too
    code, out, _ = q(capsys, "qstat", "-q", "default", "-x")
    assert out.splitlines()[-1].startswith("Total: 3 ")
    code, out, _ = q(capsys, "qstat", "-i", old)  # one job by id: always found
    assert code == 0 and "SUCCEEDED" in out
    code, out, _ = q(capsys, "qstat", "-f", old)
    assert code == 0 and f"Job Id: {old}" in out
