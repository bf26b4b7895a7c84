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
    assert s.get_meta("schema") == str(SCHEMA_VERSION) == "6"
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
