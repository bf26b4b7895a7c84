"""qdel of a whole array: one short transaction whatever its size (a mark on the array's row),
and every read tells the truth at once: its waiting tasks are CANCELLED for qstat, qlog, the
dependents and the workers, before and after the daemon turns their rows CANCELLED."""

from __future__ import annotations

from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.local import jobs
from tests.conftest import wait_for
from tests.engine.helpers import q


def _client():
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient

    registry.resolve(None)  # first use: creates the local host
    return LocalHostClient("local", start_daemon=False)


def _stored(store, head: int) -> dict[str, int]:
    """The tasks' own rows by state (what the sweep changes)."""
    return dict(store.read("SELECT state, count(*) FROM jobs WHERE array_id=? GROUP BY state",
                           (head,)))


def test_a_cancelled_array_is_cancelled_everywhere_at_once(home):
    from hyper_tui.agent.transports.local import LocalTransport

    c = _client()
    store = c.store
    [ref] = c.submit([Submission("default", "default", "big", argv=["true"],
                                 array=ArraySpec(1, 500))])
    head = int(ref[:-2])
    [held] = c.submit([Submission("default", "default", "held", argv=["true"], hold=True,
                                  array=ArraySpec(1, 300))])
    [after] = c.submit([Submission("default", "default", "after", argv=["true"],
                                   depends=[("afterok", ref)])])
    [other] = c.submit([Submission("default", "default", "other", argv=["true"])])
    w = LocalTransport(store.path, worker_id="w-test", queue="default", definition="default")
    claims = w.reserve(3)
    assert [cl.job_id for cl in claims] == [f"{head}[1]", f"{head}[2]", f"{head}[3]"]
    assert w.start(claims[0])  # task 1 runs; tasks 2 and 3 stay reserved (QUEUED)

    [res] = c.cancel([ref])
    assert res.job_id == f"{head}[]"
    assert res.outcome.startswith("cancelled 500 of 500 jobs (was QUEUED 499, RUNNING 1)")
    assert _stored(store, head).get("QUEUED") == 499  # the rows are swept later...
    # ...but every read says CANCELLED now
    assert {t["state"] for t in jobs.find_jobs(store, ref)} == {"CANCELLED"}
    assert jobs.find_jobs(store, f"{head}[250]")[0]["reason"] == "cancelled by qdel"
    counts = jobs.count_jobs(store, queue="default")
    assert counts["CANCELLED"] == 500 and counts["QUEUED"] == 1 and counts["PENDING"] == 301
    assert jobs.count_jobs(store, state="QUEUED")["QUEUED"] == 1
    assert [j["job_id"] for j in jobs.list_jobs(store, state="QUEUED")] == [other]
    assert len(jobs.list_jobs(store, state="CANCELLED", limit=1000)) == 500
    assert jobs.summary(store)["default"]["CANCELLED"] == 500
    detail = jobs.get_job(store, ref)
    assert detail["array_states"] == {"CANCELLED": 500} and detail["state"] == "CANCELLED"
    assert jobs.array_states(store, head) == ["CANCELLED"]
    # a cancelled task never starts: the reserved ones are refused, none is reserved again
    assert w.is_cancelled(claims[0])
    assert not w.start(claims[1]) and not w.start(claims[2])
    assert [cl.job_id for cl in w.reserve(8)] == [other]
    # qdel again: nothing left to cancel
    [again] = c.cancel([ref])
    assert again.outcome.startswith("cancelled 0 of 500 jobs") and "500 already finished" in again.outcome
    [one] = c.cancel([f"{head}[7]"])  # one task of it: cancelled already
    assert (one.job_id, one.outcome) == (f"{head}[7]", "already finished") and one.before == "CANCELLED"
    # qlog of a waiting task says why it ended
    chunk = c.logs(f"{head}[300]")
    assert chunk.final and any("cancelled by qdel (the whole array" in r.data for r in chunk.records)

    # the sweep turns the rows CANCELLED, a window at a time, and the reads stay the same
    moved = 0
    for _ in range(100):
        moved += jobs.sweep_cancelled(store, budget_s=0.0)  # one window a call
        if not jobs.cancelled_arrays(store):
            break
    assert moved == 499 and _stored(store, head) == {"CANCELLED": 500}
    assert store.one("SELECT swept FROM arrays WHERE id=?", (head,))[0] == 1
    assert jobs.count_jobs(store, queue="default")["CANCELLED"] == 500
    assert {t["state"] for t in jobs.find_jobs(store, ref)} == {"CANCELLED"}
    assert jobs.find_jobs(store, held)[0]["state"] == "PENDING"  # other arrays untouched
    assert jobs.find_jobs(store, after)[0]["state"] == "PENDING"  # the daemon judges it
    w.close()
    c.close()


def test_qdel_of_a_whole_array_through_the_daemon(home, capsys):
    code, out, err = q(capsys, "qsub", "--hold", "-J", "1-400", "--", "true")
    assert code == 0, err
    ref = out.strip()
    head = int(ref[:-2])
    code, out, err = q(capsys, "qsub", "--depend", f"afterok:{ref}", "--", "true")
    assert code == 0, err
    after = out.strip()
    code, out, err = q(capsys, "qdel", ref)
    assert code == 0, err
    assert out.count("\n") == 1 and "cancelled 400 of 400 jobs (was PENDING 400)" in out
    code, out, _ = q(capsys, "qstat", "-s", "CANCELLED", "--only-job-id-out")
    assert len(out.split()) == 400
    code, out, _ = q(capsys, "qstat", "-s", "PENDING", "--only-job-id-out")
    assert out.split() in ([after], [])  # [] once the running daemon has judged it already
    c = _client()
    try:  # the dependent gets its verdict, and the daemon sweeps the rows
        wait_for(lambda: jobs.find_jobs(c.store, after)[0]["state"] == "CANCELLED", timeout=30,
                 what="the dependent of the cancelled array to be cancelled")
        wait_for(lambda: _stored(c.store, head) == {"CANCELLED": 400}, timeout=30,
                 what="the daemon to sweep the cancelled array's rows")
    finally:
        c.close()


def test_a_store_from_before_the_array_mark_is_migrated(tmp_path):
    """A schema-3 store (arrays without the cancel mark, the jobs_worker index) opens as
    schema 5: the columns added, the index gone, its arrays cancellable by the mark."""
    import sqlite3

    from hyper_tui.local.store import SCHEMA_VERSION, Store

    path = tmp_path / "data" / "store.db"
    Store(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TABLE arrays")
    db.execute("CREATE TABLE arrays (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, "
               "max_running INTEGER)")
    db.execute("CREATE INDEX jobs_worker ON jobs (worker) WHERE state = 'RUNNING'")
    db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    db.close()
    s = Store(path)
    try:
        assert s.get_meta("schema") == str(SCHEMA_VERSION) == "7"
        cols = {r[1] for r in s.read("PRAGMA table_info(arrays)")}
        assert {"cancelled", "cancel_reason", "swept", "swept_upto"} <= cols
        assert "jobs_worker" not in {r[1] for r in s.read("PRAGMA index_list(jobs)")}
        [ref] = jobs.submit(s, [Submission("default", "default", "a", argv=["true"],
                                           array=ArraySpec(1, 150))])
        [res] = jobs.cancel(s, [ref])
        assert res.outcome.startswith("cancelled 150 of 150 jobs (was QUEUED 150)")
        assert jobs.count_jobs(s)["CANCELLED"] == 150
    finally:
        s.close()
