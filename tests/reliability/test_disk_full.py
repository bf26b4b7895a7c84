"""Scenario 6: the disk fills up, then the state directory turns read-only.

The host lives on a size-limited filesystem (``mount -t tmpfs -o size=6m``; the tests run as
root here). When it is full, qsub fails with one line and exit 6 that names the problem and
the fix; nothing is half-submitted (a batch or an array is all or nothing);
``PRAGMA integrity_check`` stays ok; workers whose report fails keep their results and retry,
so jobs that finished while the disk was full are recorded as succeeded in their first
attempt once space returns; then work resumes. Read-only: the filesystem is remounted ro
(root ignores chmod) and qsub fails the same way; work resumes when it is writable again.

Without root (mount not permitted) the disk-full test is skipped and the read-only test uses
chmod instead; the worker's retry is still covered by ``test_agent_survives_unavailable_store``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    alive,
    audit,
    integrity_ok,
    make_host,
    qsub,
    wait_all_final,
    wait_until,
)


def _mount_tmpfs(d: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(d)],
                       capture_output=True, text=True)
    return r.returncode == 0


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """HYPER_HOME on a 6 MiB tmpfs; daemons stopped and the filesystem unmounted afterwards."""
    d = tmp_path / "disk"
    d.mkdir()
    if not _mount_tmpfs(d, "6m"):
        pytest.skip("mounting a small tmpfs needs root; the agent's retry is covered by "
                    "test_agent_survives_unavailable_store")
    home = d / "home"
    monkeypatch.setenv("HYPER_HOME", str(home))
    monkeypatch.delenv("HYPER_HOST", raising=False)
    try:
        yield d
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(d)], capture_output=True)
        from hyper_tui.local.daemon_control import stop_daemon

        stop_daemon("local", timeout=30)
        for p in d.glob("filler*"):
            p.unlink()
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _fill(d: Path) -> Path:
    """Write a filler file until the filesystem is full."""
    filler = d / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        small = b"\0" * 512
        while True:  # the last few pages too
            try:
                os.write(fd, small)
            except OSError:
                break
    finally:
        os.close(fd)
    return filler


def _one_line_unavailable(code: int, out: str, err: str, *words: str) -> None:
    assert code == 6, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qsub: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


def _count(h) -> int:
    return h.rows("SELECT count(*) FROM jobs")[0][0]


def test_disk_full_then_space_returns(small_disk, tmp_path):
    d = small_disk
    h = make_host(workers=4, lease=3.0)
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-20", "--", "true")
    assert code == 0, err
    wait_all_final(h, 20, timeout=120)
    # Jobs that are running when the disk fills, and finish while it is full.
    marks = tmp_path / "marks"
    marks.mkdir()
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-4", "-c",
                          f"sleep 3; echo finished; touch {marks}/done.$HYPER_ARRAY_INDEX")
    assert code == 0, err
    through = int(out.strip().removesuffix("[]"))
    wait_until(lambda: h.rows("SELECT count(*) FROM jobs WHERE array_id=? AND state='RUNNING'",
                              (through,))[0][0] == 4, timeout=60, what="4 jobs running")
    workers = h.worker_pids()
    filler = _fill(d)
    faults = 1
    # qsub until the store cannot grow: each call is all or nothing.
    before = _count(h)
    accepted = 0
    failure = None
    for i in range(40):
        cmds = "".join(f"echo {'x' * 200} {i} {k}\n" for k in range(300))
        import io
        import sys

        old, sys.stdin = sys.stdin, io.StringIO(cmds)
        try:
            code, out, err = qsub(*h.qsub_env_args(), "--stdin")
        finally:
            sys.stdin = old
        if code == 0:
            accepted += len(out.split())
            continue
        failure = (code, out, err)
        break
    assert failure, "the store never ran out of space"
    _one_line_unavailable(*failure, "full", "free some space")
    assert _count(h) == before + accepted, "a failed batch left jobs behind"
    # Arrays are all or nothing too: a parameter file array and a generated range.
    params = tmp_path / "params.txt"
    params.write_text("".join(f'{{"N": "{i:06d}-{"y" * 100}"}}\n' for i in range(20000)))
    n_arrays = h.rows("SELECT count(*) FROM arrays")[0][0]
    _one_line_unavailable(*qsub(*h.qsub_env_args(), "-a", str(params), "-c", "echo N"), "full")
    _one_line_unavailable(*qsub(*h.qsub_env_args(), "-J", "1-200000", "--", "true"), "full")
    assert _count(h) == before + accepted
    assert h.rows("SELECT count(*) FROM arrays")[0][0] == n_arrays
    assert integrity_ok(h) == "ok"
    # The running jobs end while the disk is full; their workers must not crash. (The marks
    # are outside the full disk. The pause gives a failing report the time to crash a worker.)
    wait_until(lambda: len(list(marks.glob("done.*"))) == 4, timeout=60,
               what="the jobs to end on the full disk")
    time.sleep(2.0)
    crashed = [w for w, p in workers.items() if not alive(p)]
    if crashed:  # say why: the workers' stderr and the daemon's log
        tails = [f"--- {f.name}\n" + f.read_text(errors="replace")[-2500:]
                 for f in (h.store_path.with_name(n) for n in ("workers.log", "daemon.log"))
                 if f.exists()]
        raise AssertionError(f"workers died on the full disk: {crashed}\n" + "\n".join(tails))
    assert h.rows("SELECT count(*) FROM jobs WHERE array_id=? AND state='RUNNING'", (through,))[0][0] == 4
    # Space returns: the kept results are reported, work resumes.
    filler.unlink()
    wait_until(lambda: h.rows("SELECT count(*) FROM jobs WHERE array_id=? AND state='SUCCEEDED'",
                              (through,))[0][0] == 4, timeout=120, what="the kept results to be reported")
    assert {a for (a,) in h.rows("SELECT attempts FROM jobs WHERE array_id=?", (through,))} == {1}, \
        "a result was lost on the full disk and the job ran again"
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-50", "--", "true")
    assert code == 0, err
    wait_all_final(h, _count(h), timeout=180)
    assert integrity_ok(h) == "ok"
    a = audit(h)
    assert not a.disagree, a.disagree[:10]
    print("\n" + a.line("disk-full", faults=faults,
                        extra=f"accepted_before_full={accepted} kept_results=4"))



def _remount(d: Path, mode: str) -> None:
    r = subprocess.run(["mount", "-o", f"remount,{mode}", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, (r.stderr, _open_files_under(d))


def _open_files_under(d: Path) -> list[str]:
    """Which processes hold files under ``d`` open (a busy remount says why)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            with open(f"/proc/{pid}/maps") as fh:
                targets += [ln.split(None, 5)[-1] for ln in fh if str(d) in ln]
            for target in targets:
                if str(d) in target:
                    cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")[:100]
                    out.append(f"{pid} {cmd.decode(errors='replace')} -> {target}")
        except OSError:
            continue
    return out


def test_state_directory_turns_read_only(small_disk):
    """The filesystem holding the host turns read-only (remount ro: root ignores chmod). The
    daemon is stopped first: Linux refuses to remount a filesystem with files open for
    writing."""
    from hyper_tui.local.daemon_control import stop_daemon
    from hyper_tui.qcmd import qstat

    d = small_disk
    h = make_host(workers=2)
    code, out, err = qsub(*h.qsub_env_args(), "--", "true")
    assert code == 0, err
    wait_all_final(h, 1, timeout=60)
    before = _count(h)
    stop_daemon(h.name, timeout=60)
    _remount(d, "ro")
    try:
        _one_line_unavailable(*qsub(*h.qsub_env_args(), "--", "true"), "read-only", "remount it read-write")
        _one_line_unavailable(*qsub(*h.qsub_env_args(), "-J", "1-1000", "--", "true"), "read-only")
        import io
        from contextlib import redirect_stderr, redirect_stdout

        out_io, err_io = io.StringIO(), io.StringIO()
        with redirect_stdout(out_io), redirect_stderr(err_io):
            code = qstat.main([])
        assert code in (0, 6) and "Traceback" not in err_io.getvalue(), (code, err_io.getvalue())
        if code:
            assert len(err_io.getvalue().strip().splitlines()) == 1
    finally:
        _remount(d, "rw")
    assert _count(h) == before
    assert integrity_ok(h) == "ok"
    code, out, err = qsub(*h.qsub_env_args(), "-J", "1-20", "--", "true")
    assert code == 0, err
    wait_all_final(h, before + 20, timeout=120)
    a = audit(h)
    assert not a.disagree, a.disagree[:10]
    assert integrity_ok(h) == "ok"
    print("\n" + a.line("read-only", faults=1))


class _FlakyTransport:
    """A transport whose store is unavailable for a while: claim, heartbeat and report raise
    like the local store on a full disk, then work again."""

    from hyper_tui.core.errors import UnavailableError as _Unavailable

    transient_errors = (_Unavailable,)
    worker_id = "w-flaky"

    def __init__(self, jobs: int, failures: int) -> None:
        from hyper_tui.agent.loop import Claim

        self.queue = [Claim(job_id=str(i), key=str(i), attempt=1, queue="q", definition="d",
                            name=f"j{i}", argv=["true"]) for i in range(jobs)]
        self.failures = {"claim": failures, "heartbeat": failures, "report": failures}
        self.reported: list[str] = []
        self.calls = {"claim": 0, "heartbeat": 0, "report": 0}

    def _maybe_fail(self, what: str) -> None:
        self.calls[what] += 1
        if self.failures[what] > 0:
            self.failures[what] -= 1
            raise self._Unavailable("the disk holding /x is full; nothing was changed")

    def reserve(self, n):
        self._maybe_fail("claim")
        out, self.queue = self.queue[:n], self.queue[n:]
        return out

    def start(self, claim, finished=None):
        if finished is not None:
            self.report(finished)
        return True

    def release(self, claims):
        self.queue[:0] = claims

    def report(self, result):
        self._maybe_fail("report")
        if result.outcome == "exit" and result.exit_code == 0:
            self.reported.append(result.claim.key)

    def flush_logs(self):
        pass

    def heartbeat(self, running):
        self._maybe_fail("heartbeat")
        return True

    def is_cancelled(self, claim):
        return False

    def append_log(self, claim, records):
        pass

    def wait_for_work(self, timeout):
        time.sleep(timeout)

    def job_started(self, claim, pgid):
        pass

    def close(self):
        pass


def test_agent_survives_unavailable_store():
    """The worker keeps its results while the store cannot be written and reports each one
    exactly once when it can; heartbeat and claim failures do not kill it either."""
    from hyper_tui.agent.loop import Agent, AgentOptions

    t = _FlakyTransport(jobs=12, failures=5)
    agent = Agent(t, AgentOptions(idle_timeout=0.5, heartbeat_every=0.05))
    done = agent.run()
    assert done == 12
    assert sorted(t.reported, key=int) == [str(i) for i in range(12)], t.reported
    assert t.calls["report"] > 5 and t.calls["claim"] > 5 and t.calls["heartbeat"] > 5
