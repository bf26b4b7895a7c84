"""A store made before jobs recorded their submitter (schema 3) opens as schema 4: its jobs
read as its owner's (a store is private to the user who runs it), new jobs record theirs, and
no row is rewritten. The owner's own jobs store no name (NULL: a row costs nothing more)."""

from __future__ import annotations

import sqlite3

from hyper_tui.core.jobs import Submission
from hyper_tui.core.submit import submitting_user
from hyper_tui.local import jobs as local_jobs
from hyper_tui.local.store import SCHEMA_VERSION, Store


def test_a_schema_3_store_gains_the_user_column(tmp_path):
    folder = tmp_path / "host"
    s = Store(folder / "store.db")
    old = local_jobs.submit(s, [Submission(queue="q", definition="d", name="old", command="true")])
    s.close()
    db = sqlite3.connect(folder / "store.db")  # back to schema 3: jobs without a user column
    db.execute("ALTER TABLE jobs DROP COLUMN user")
    db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    db.execute("DELETE FROM meta WHERE key='owner'")
    db.commit()
    db.close()

    s = Store(folder / "store.db")
    assert s.get_meta("schema") == str(SCHEMA_VERSION) == "7"
    new = local_jobs.submit(s, [Submission(queue="q", definition="d", name="new", command="true",
                                           user="dora")])
    users = {j["name"]: j["user"] for j in local_jobs.list_jobs(s)}
    assert users == {"old": submitting_user(), "new": "dora"}
    assert [j["job_id"] for j in local_jobs.list_jobs(s, user="dora")] == new
    assert [j["job_id"] for j in local_jobs.list_jobs(s, user=submitting_user())] == old
    assert s.get_meta("owner") == submitting_user()
    mine = local_jobs.submit(s, [Submission(queue="q", definition="d", name="mine", command="true",
                                            user=submitting_user())])
    stored = dict(s.read("SELECT name, user FROM jobs"))
    assert stored == {"old": None, "new": "dora", "mine": None}  # the owner's: NULL
    assert local_jobs.count_jobs(s, user=submitting_user())["QUEUED"] == 2
    assert local_jobs.get_job(s, mine[0])["user"] == submitting_user()
    s.close()


def test_a_schema_6_store_gets_the_descending_state_indexes_and_keeps_its_attempts(tmp_path):
    """Schema 7 rebuilds the three indexes that hold a job's state (``id DESC`` last) and
    attempts (WITHOUT ROWID), keeping every attempt row; a store opened again is left alone."""
    folder = tmp_path / "host"
    s = Store(folder / "store.db")
    [jid] = local_jobs.submit(s, [Submission(queue="q", definition="d", name="a", command="true")])
    s.close()
    db = sqlite3.connect(folder / "store.db")  # back to schema 6
    db.executescript(
        "DROP INDEX jobs_claim; CREATE INDEX jobs_claim ON jobs (state, queue, definition, "
        "priority DESC, id);"
        "DROP INDEX jobs_queue_state; CREATE INDEX jobs_queue_state ON jobs (queue, state);"
        "DROP INDEX jobs_array; CREATE INDEX jobs_array ON jobs (array_id, state) WHERE "
        "array_id IS NOT NULL;"
        "DROP TABLE attempts; CREATE TABLE attempts (job_id INTEGER NOT NULL, attempt INTEGER "
        "NOT NULL, worker TEXT, started REAL, ended REAL, exit_code INTEGER, outcome TEXT, "
        "PRIMARY KEY (job_id, attempt));"
        f"INSERT INTO attempts VALUES ({jid}, 1, 'w-1', 1.0, 2.0, 3, 'failed');"
        "UPDATE meta SET value='6' WHERE key='schema';")
    db.commit()
    db.close()

    s = Store(folder / "store.db")
    assert s.get_meta("schema") == "7"
    sql = dict(s.read("SELECT name, sql FROM sqlite_master WHERE name IN "
                      "('jobs_claim', 'jobs_queue_state', 'jobs_array', 'attempts')"))
    assert sql["jobs_claim"].endswith("(state, queue, definition, priority, id DESC)")
    assert sql["jobs_queue_state"].endswith("(queue, state, id DESC)")
    assert "(array_id, state, id DESC)" in sql["jobs_array"]
    assert sql["attempts"].endswith("WITHOUT ROWID")
    assert s.read("SELECT * FROM attempts") == [(int(jid), 1, "w-1", 1.0, 2.0, 3, "failed")]
    assert not s.read("SELECT name FROM sqlite_master WHERE name LIKE 'attempts_before%'")
    s.close()
    before = sqlite3.connect(folder / "store.db").execute(
        "SELECT count(*) FROM sqlite_master").fetchone()
    Store(folder / "store.db").close()
    assert sqlite3.connect(folder / "store.db").execute(
        "SELECT count(*) FROM sqlite_master").fetchone() == before
