"""Jobs on a local host: submit, query, cancel, release. Standard library only (qsub path).

A submission (one job, an array, or a ``--stdin`` batch) is written in ONE transaction: all
or nothing. Job ids are integers from one sequence (short and sortable); array tasks are
``ID[INDEX]`` where ID is the array's id, the id of its first task.
"""

from __future__ import annotations

import time

from hyper_tui import leanjson
from hyper_tui.core.errors import NotFoundError, ValidationError
from hyper_tui.core.jobs import (
    CANCELLED,
    PENDING,
    QUEUED,
    RUNNING,
    STATES,
    ArraySpec,
    CancelResult,
    Submission,
    format_id,
    parse_job_ref,
)
from hyper_tui.core.lifecycle import HELD_REASON, waiting_reason
from hyper_tui.core.submit import submitting_user
from hyper_tui.local.store import Store, encode, now

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

# --------------------------------------------------------------------------------------------
# Submit


def submit(store: Store, subs: Sequence[Submission]) -> list[str]:
    """Write every submission in one transaction; return their ids (``42`` or ``42[]``)."""
    if not subs:
        return []
    t = now()

    owner = store_owner(store)

    def tx(db) -> list[str]:
        ids: list[str] = []
        for sub in subs:
            user = None if sub.user in (None, owner) else sub.user  # NULL: the owner's
            if sub.commands is not None:
                ids.extend(_insert_batch(db, sub, t, user))
            else:
                ids.append(_insert(db, sub, t, user))
        return ids

    return store.write_new_work(tx)  # refused while the store is marked damaged


def _resolve_deps(db, deps: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    out = []
    for kind, ref in deps:
        jid, idx, whole = parse_job_ref(ref)
        if idx is not None:
            row = db.execute("SELECT id FROM jobs WHERE array_id=? AND idx=?", (jid, idx)).fetchone()
            if not row:
                raise NotFoundError(f"--depend: no job {ref}", fix="check the id with qstat")
            out.append((kind, row[0], 0))
            continue
        row = db.execute("SELECT id, array_id FROM jobs WHERE id=?", (jid,)).fetchone()
        if not row:
            raise NotFoundError(f"--depend: no job {ref}", fix="check the id with qstat")
        is_array = row[1] == jid
        out.append((kind, jid, 1 if (is_array or whole) else 0))
    return out


def _insert_batch(db, sub: Submission, t: float, user: str | None) -> list[str]:
    """One job per command of ``sub.commands`` (qsub --stdin), in two statements."""
    assert sub.commands is not None
    if sub.depends or sub.hold:
        state, reason = PENDING, HELD_REASON if sub.hold else None
        if sub.depends:
            raise ValidationError("--stdin batches cannot have dependencies",
                                  fix="submit the dependent job separately")
    else:
        state, reason = QUEUED, None
    env, argv = encode(sub.env or None), encode(sub.argv)
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM specs").fetchone()[0]
    db.executemany("INSERT INTO specs (id, command, argv, env, cwd) VALUES (?,?,?,?,?)",
                   ((first + i, c, argv, env, sub.cwd) for i, c in enumerate(sub.commands)))
    last = first + len(sub.commands) - 1
    lo = db.execute("SELECT coalesce(max(id), 0) FROM jobs").fetchone()[0]
    db.execute("INSERT INTO jobs (name, queue, definition, state, reason, priority, spec_id, retries, "
               "timeout, submitted, held, user) SELECT ?,?,?,?,?,?, id, ?,?,?,?,? FROM specs "
               "WHERE id BETWEEN ? AND ? ORDER BY id",
               (sub.name, sub.queue, sub.definition, state, reason, sub.priority, sub.retries,
                sub.timeout, t, 1 if sub.hold else 0, user, first, last))
    return [str(r[0]) for r in db.execute("SELECT id FROM jobs WHERE id > ? ORDER BY id", (lo,))]


def _insert(db, sub: Submission, t: float, user: str | None) -> str:
    cur = db.execute("INSERT INTO specs (command, argv, env, cwd) VALUES (?,?,?,?)",
                     (sub.command, encode(sub.argv), encode(sub.env or None), sub.cwd))
    spec_id = cur.lastrowid
    deps = _resolve_deps(db, sub.depends)
    state = PENDING if (deps or sub.hold) else QUEUED
    if sub.hold:
        reason = HELD_REASON
    elif deps:
        reason = waiting_reason((k, f"{d}{'[]' if a else ''}") for k, d, a in deps)
    else:
        reason = None
    base = (sub.name, sub.queue, sub.definition, state, reason, sub.priority, spec_id,
            sub.retries, sub.timeout, t, 1 if sub.hold else 0, user)
    cols = ("name, queue, definition, state, reason, priority, spec_id, retries, timeout, "
            "submitted, held, user")
    if sub.array is None and sub.array_params is None:
        cur = db.execute(f"INSERT INTO jobs ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", base)
        head = cur.lastrowid
        _insert_deps(db, head, deps)
        return str(head)
    if sub.array_params is not None:
        count = len(sub.array_params)
        indices: Iterable[int] = range(count)
        params: list[str | None] = [encode(p) for p in sub.array_params]
        max_running = None
    else:
        assert sub.array is not None
        indices = sub.array.indices
        count = len(sub.array.indices)
        params = []
        max_running = sub.array.max_running
    if count == 0:
        raise ValidationError("the array is empty", fix="check the range or the array file")
    first_idx = next(iter(indices))
    cur = db.execute(
        f"INSERT INTO jobs ({cols}, idx, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (*base, first_idx, params[0] if params else None))
    head = cur.lastrowid
    db.execute("INSERT INTO arrays (id, size, max_running) VALUES (?,?,?)", (head, count, max_running))
    if params:
        rows = ((*base, head, i, params[i]) for i in range(1, count))
        db.executemany(
            f"INSERT INTO jobs ({cols}, array_id, idx, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows)
    elif count > 1:
        # One statement generates the other tasks inside SQLite: no per-row Python work.
        assert sub.array is not None
        step = sub.array.step
        db.execute(
            "WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + ? FROM seq WHERE i + ? <= ?) "
            f"INSERT INTO jobs ({cols}, array_id, idx) SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?, i FROM seq",
            (first_idx + step, step, step, sub.array.end, *base, head))
    db.execute("UPDATE jobs SET array_id=? WHERE id=?", (head, head))
    _insert_deps(db, head, deps)
    return f"{head}[]"


_OWNERS: dict[str, str] = {}


def store_owner(store: Store) -> str:
    """Whose store this is (meta 'owner', written when it was made or upgraded): its jobs
    with no user of their own are this user's."""
    owner = _OWNERS.get(store.file)
    if owner is None:
        owner = store.get_meta("owner") or submitting_user()
        _OWNERS[store.file] = owner
    return owner


def _insert_deps(db, head: int, deps: list[tuple[str, int, int]]) -> None:
    if deps:
        db.executemany("INSERT INTO deps (job_id, dep_id, kind) VALUES (?,?,?)",
                       [(head, d if not a else -d, k) for k, d, a in deps])


# --------------------------------------------------------------------------------------------
# Read

# A job's user: its own, else the store's owner (NULL costs a row nothing; one lookup a query).
USER_SQL = "coalesce(user, (SELECT value FROM meta WHERE key='owner'))"
JOB_KEYS = ("id", "array_id", "idx", "name", "queue", "definition", "state", "reason", "priority",
            "retries", "attempts", "timeout", "submitted", "started", "ended", "exit_code",
            "worker", "held", "spec_id", "params", "user")
JOB_COLUMNS = ", ".join(JOB_KEYS[:-1]) + f", {USER_SQL}"


def row_to_job(row: tuple) -> dict[str, Any]:
    job = dict(zip(JOB_KEYS, row, strict=True))
    job["job_id"] = format_id(job["id"], job["array_id"], job["idx"])
    return job


# A whole array cancelled by qdel is marked on its ``arrays`` row at once; its waiting tasks'
# rows become CANCELLED afterwards, a window at a time (``sweep_cancelled``, by the daemon).
# Until then every read here shows them as what they are: CANCELLED.
UNSWEPT = "(SELECT id FROM arrays WHERE cancelled IS NOT NULL AND swept=0)"
WAITING_IN_CANCELLED = (f"(array_id IS NOT NULL AND +state IN ('PENDING','QUEUED') AND "
                        f"array_id IN {UNSWEPT})")


def cancelled_arrays(store: Store) -> dict[int, tuple[float, str]]:
    """Arrays cancelled whole whose waiting tasks' rows are not all CANCELLED yet: id ->
    (when, why). Usually none: one probe of a small partial index."""
    return {aid: (t, why) for aid, t, why in store.read(
        "SELECT id, cancelled, cancel_reason FROM arrays WHERE cancelled IS NOT NULL AND swept=0")}


def _overlay(store: Store, jobs: list[dict[str, Any]],
             marks: dict[int, tuple[float, str]] | None = None) -> list[dict[str, Any]]:
    """Jobs as they are: a waiting task of a cancelled array is CANCELLED."""
    if not jobs:
        return jobs
    if marks is None:
        marks = cancelled_arrays(store)
    if marks:
        for j in jobs:
            m = marks.get(j["array_id"])
            if m is not None and j["state"] in (PENDING, QUEUED):
                j["state"], j["ended"], j["reason"], j["worker"] = CANCELLED, m[0], m[1], None
    return jobs


def find_jobs(store: Store, ref: str) -> list[dict[str, Any]]:
    """Jobs named by ``ref``: a job, an array task ``ID[i]``, or a whole array ``ID``/``ID[]``."""
    jid, idx, whole = parse_job_ref(ref)
    if idx is not None:
        rows = store.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE array_id=? AND idx=?", (jid, idx))
    else:
        head = store.one("SELECT array_id FROM jobs WHERE id=?", (jid,))
        if head is None:
            rows = []
        elif head[0] == jid or whole:
            rows = store.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE array_id=? ORDER BY idx",
                              (head[0] if head[0] is not None else jid,))
            if not rows:
                rows = store.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=?", (jid,))
        else:
            rows = store.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id=?", (jid,))
    if not rows:
        raise NotFoundError(f"no job {ref}", fix="list jobs with qstat -q QUEUE")
    return _overlay(store, [row_to_job(r) for r in rows])


def _array_of(store: Store, ref: str) -> int | None:
    """The array id when ``ref`` names a whole array (``ID`` of its head, or ``ID[]``)."""
    jid, idx, whole = parse_job_ref(ref)
    if idx is not None:
        return None
    head = store.one("SELECT array_id FROM jobs WHERE id=?", (jid,))
    if head is None or head[0] is None:
        return None
    return head[0] if (head[0] == jid or whole) else None


def array_counts(store: Store, array_id: int) -> dict[str, int]:
    """Tasks of an array by state: one aggregate over the (array_id, state) index."""
    counts = {st: n for st, n in store.read(
        "SELECT state, count(*) FROM jobs WHERE array_id=? GROUP BY state", (array_id,))}
    if array_id in cancelled_arrays(store):
        for st in (PENDING, QUEUED):
            counts[CANCELLED] = counts.get(CANCELLED, 0) + counts.pop(st, 0)
    return counts


def get_job(store: Store, ref: str) -> dict[str, Any]:
    """One job (for an array id: the array's first task, with its tasks counted by state, in
    one aggregate query: a million-task array is never read row by row), with spec, deps and
    attempts."""
    array_id = _array_of(store, ref)
    if array_id is not None:
        first = store.read(f"SELECT {JOB_COLUMNS} FROM jobs WHERE array_id=? ORDER BY idx LIMIT 1",
                           (array_id,))
        jobs = _overlay(store, [row_to_job(first[0])])
        counts = array_counts(store, array_id)
    else:
        jobs = find_jobs(store, ref)[:1]
        counts = {}
    job = jobs[0]
    spec = store.one("SELECT command, argv, env, cwd FROM specs WHERE id=?", (job["spec_id"],))
    if spec:
        job["command"], argv, env, job["cwd"] = spec
        job["argv"] = leanjson.loads(argv) if argv else None
        job["env"] = leanjson.loads(env) if env else {}
    job["params"] = leanjson.loads(job["params"]) if job["params"] else None
    job["attempt_history"] = [
        dict(zip(("attempt", "worker", "started", "ended", "exit_code", "outcome"), r, strict=True))
        for r in store.read("SELECT attempt, worker, started, ended, exit_code, outcome FROM attempts "
                            "WHERE job_id=? ORDER BY attempt", (job["id"],))]
    head = job["array_id"] if job["array_id"] is not None else job["id"]
    job["depends"] = [{"kind": k, "on": (f"{-d}[]" if d < 0 else str(d))}
                      for d, k in store.read("SELECT dep_id, kind FROM deps WHERE job_id=?", (head,))]
    if sum(counts.values()) > 1:
        job["array_size"] = sum(counts.values())
        job["array_states"] = counts
    job["why"] = explain(store, job)
    return job


# ``core.job_query.SORT_COLUMNS`` as SQL over ``jobs``. ``runtime`` is the real one: a running
# job's counts up to now (the ``?``), a job that never started sorts lowest. Ties are broken by
# id ascending whatever the direction: the table is scanned by id, so SQLite's top-N sort then
# rejects most rows at once (with id descending, every tie would replace a kept row: 8x slower).
# "+queue" and "+state" keep SQLite off the indexes that start with them: it would walk one,
# then sort each run of equal values by id (a million jobs in one state: a second). The name
# index is (name, id): it gives the ascending order as it is; descending is a scan like the rest.
SORT_SQL = {
    "id": "id",
    "name": "name",
    "queue": "+queue",
    "state": "+state",
    "reason": "coalesce(reason, '')",
    "attempts": "attempts",
    "submitted": "submitted",
    "runtime": "CASE WHEN started IS NULL THEN -1.0 ELSE coalesce(ended, ?) - started END",
}


_PATTERNS: dict[str, str] = {}  # pattern -> the SQL function that matches it


def _regexp_function(store: Store, pattern: str) -> str:
    """The name of an SQL function of one text, registered on the store's connection, that
    tells whether ``pattern`` matches it. One function per pattern, with the compiled pattern
    bound: a call per job is what a regex filter costs, so it does nothing else."""
    name = _PATTERNS.get(pattern)
    if name is None:
        name = _PATTERNS[pattern] = f"hyper_rx_{len(_PATTERNS)}"
    import re  # here, not at the top: qsub imports this module

    search = re.compile(pattern).search
    store.db.create_function(name, 1, lambda text: text is not None and search(text) is not None,
                             deterministic=True)
    return name


def check_regex(pattern: str) -> None:
    """Raise ValidationError naming the fault when ``pattern`` is not a valid regex."""
    import re

    try:
        re.compile(pattern)
    except re.error as err:
        raise ValidationError(f"filter: bad regular expression {pattern!r}: {err}",
                              fix="escape special characters with \\ or turn regex off") from None


def _match_sql(store: Store, match: str, regex: bool) -> tuple[str, list[Any]]:
    """Jobs whose name, reason or command contain ``match`` (case-insensitive for ASCII), or
    match it as a Python regular expression. A job's command is its spec's: the specs are
    matched once (an array's tasks share one) and jobs are picked by spec id."""
    if regex:
        check_regex(match)
        fn = _regexp_function(store, match)
        # The Python call is what costs: one per distinct name (read by seeking from one name
        # to the next in their index, a skip scan) and per command (an array's tasks share
        # both), one per job only for jobs that have a reason.
        names = ("WITH RECURSIVE n(x) AS (SELECT min(name) FROM jobs UNION ALL "
                 "SELECT (SELECT min(name) FROM jobs WHERE name > x) FROM n WHERE x IS NOT NULL) "
                 f"SELECT x FROM n WHERE x IS NOT NULL AND {fn}(x)")
        return (f"(name IN ({names}) OR (reason IS NOT NULL AND {fn}(reason)) "
                f"OR spec_id IN (SELECT id FROM specs WHERE {fn}(command)))", [])
    like = "%" + match.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return ("(name LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\' OR spec_id IN "
            "(SELECT id FROM specs WHERE command LIKE ? ESCAPE '\\'))", [like] * 3)


def _where(store: Store, *, queue: str | None, state: str | None, name: str | None,
           match: str | None, regex: bool, sorted_by_id: bool, user: str | None = None,
           finished_since: float | None = None, overlay: bool = True) -> tuple[str, list[Any]]:
    """The WHERE clause every listing, count and cancel-by-filter shares, with its arguments.
    ``finished_since``: active jobs, and finished ones only if they ended since then (qstat
    without -x)."""
    where: list[str] = []
    args: list[Any] = []
    if finished_since is not None:
        where.append(f"(+state IN {_ACTIVE} OR ended >= ?)")
        args.append(finished_since)
    if queue:
        # Listed by id without a state: "+queue" keeps SQLite walking the ids backwards and
        # stopping after one page rather than sorting every job of the queue.
        where.append("queue=?" if (state or not sorted_by_id) else "+queue=?")
        args.append(queue)
    if state:
        # Without a queue, "+state" keeps SQLite from using the claim index (state first) and
        # then sorting every match by id.
        marks = cancelled_arrays(store) if overlay else {}
        if marks and state == CANCELLED:
            where.append(f"(state=? OR {WAITING_IN_CANCELLED})")
        else:
            where.append("state=?" if (queue or not sorted_by_id) else "+state=?")
            if marks and state in (PENDING, QUEUED):
                where.append(f"NOT {WAITING_IN_CANCELLED}")
        args.append(state)
    if name:
        where.append("name=?")
        args.append(name)
    if user:
        # No index (none to keep up on submit): a store is mostly one user's jobs, so a listing
        # by id walks the ids and stops after a page.
        where.append(f"{USER_SQL}=?")
        args.append(user)
    if match:
        clause, values = _match_sql(store, match, regex)
        where.append(clause)
        args.extend(values)
    return (" WHERE " + " AND ".join(where)) if where else "", args


def list_jobs(store: Store, *, queue: str | None = None, state: str | None = None,
              name: str | None = None, match: str | None = None, regex: bool = False,
              user: str | None = None,
              sort: str = "id", descending: bool = True, limit: int = 100, offset: int = 0,
              newest_first: bool | None = None, finished_since: float | None = None
              ) -> list[dict[str, Any]]:
    """One page of the jobs that pass the filter, sorted by ``sort`` over ALL of them
    (``SORT_SQL``; ties by id ascending). ``newest_first`` is the old spelling
    of ``descending`` for the id order."""
    if newest_first is not None:
        descending = newest_first
    if sort not in SORT_SQL:
        raise ValidationError(f"sort: no column {sort!r}", fix=f"use one of {', '.join(SORT_SQL)}")
    where, args = _where(store, queue=queue, state=state, name=name, match=match, regex=regex,
                         sorted_by_id=sort == "id", user=user, finished_since=finished_since)
    way = "DESC" if descending else "ASC"
    key = "+name" if sort == "name" and descending else SORT_SQL[sort]
    order = f"id {way}" if sort == "id" else f"{key} {way}, id"
    if sort == "runtime":
        args.append(now())
    sql = f"SELECT {JOB_COLUMNS} FROM jobs{where} ORDER BY {order} LIMIT ? OFFSET ?"
    args += [limit, offset]
    rows = _overlay(store, [row_to_job(r) for r in store.read(sql, args)])
    _fill_queued_reasons(store, rows)
    return rows


def job_position(store: Store, ref: str, *, queue: str | None = None, state: str | None = None,
                 match: str | None = None, regex: bool = False, sort: str = "id",
                 descending: bool = True, user: str | None = None) -> int | None:
    """How many jobs come before job ``ref`` in ``list_jobs`` with the same arguments (the
    offset of its row), or None when the filter leaves it out."""
    job = find_jobs(store, ref)[0]
    where, args = _where(store, queue=queue, state=state, name=None, match=match, regex=regex,
                         sorted_by_id=False, user=user)
    if not store.one(f"SELECT 1 FROM jobs{where}{' AND' if where else ' WHERE'} id=?",
                     (*args, job["id"])):
        return None
    if sort == "id":
        before, extra = ("id > ?" if descending else "id < ?"), [job["id"]]
    else:
        expr = SORT_SQL[sort]
        t = [now()] if sort == "runtime" else []
        value = store.one(f"SELECT {expr} FROM jobs WHERE id=?", (*t, job["id"]))[0]
        way = ">" if descending else "<"
        before = f"({expr} {way} ? OR ({expr} = ? AND id < ?))"
        extra = [*t, value, *t, value, job["id"]]
    sql = f"SELECT count(*) FROM jobs{where}{' AND' if where else ' WHERE'} {before}"
    return store.one(sql, (*args, *extra))[0]


def _fill_queued_reasons(store: Store, rows: list[dict[str, Any]]) -> None:
    """A queued job without a reason of its own waits for what its (queue, definition) waits
    for, as the daemon last wrote it: say so, so no job is ever silently waiting."""
    if not any(r["state"] == QUEUED and not r["reason"] for r in rows):
        return
    status = {k[len("status:"):]: leanjson.loads(v).get("reason") for k, v in
              store.read("SELECT key, value FROM meta WHERE key LIKE 'status:%'")}
    for r in rows:
        if r["state"] == QUEUED and not r["reason"]:
            r["reason"] = status.get(f"{r['queue']}/{r['definition']}") or \
                "waiting for the scheduler daemon"


def count_jobs(store: Store, *, queue: str | None = None, state: str | None = None,
               name: str | None = None, match: str | None = None, regex: bool = False,
               user: str | None = None, finished_since: float | None = None) -> dict[str, int]:
    """Jobs by state among those that pass the filter (every state present). With
    ``finished_since``, finished jobs count only if they ended since then: the active ones
    are counted by the index, the recent finished ones by the ``ended`` index."""
    if cancelled_arrays(store):
        counts = _count_raw(store, queue=queue, name=name, match=match, regex=regex, user=user,
                            finished_since=finished_since)
        where, args = _where(store, queue=queue, state=None, name=name, match=match, regex=regex,
                             sorted_by_id=False, user=user)
        glue = " AND " if where else " WHERE "
        for st, n in store.read(f"SELECT state, count(*) FROM jobs{where}{glue}"
                                f"{WAITING_IN_CANCELLED} GROUP BY state", args):
            counts[st] -= n
            counts[CANCELLED] += n
        return {s: (n if state in (None, s) else 0) for s, n in counts.items()}
    return _count_raw(store, queue=queue, state=state, name=name, match=match, regex=regex,
                      user=user, finished_since=finished_since)


def _count_raw(store: Store, *, queue: str | None = None, state: str | None = None,
               name: str | None = None, match: str | None = None, regex: bool = False,
               user: str | None = None, finished_since: float | None = None) -> dict[str, int]:
    """``count_jobs`` by the rows' own states."""
    where, args = _where(store, queue=queue, state=state, name=name, match=match, regex=regex,
                         sorted_by_id=False, user=user, overlay=False)
    counts = {s: 0 for s in STATES}
    if finished_since is None:
        for st, n in store.read(f"SELECT state, count(*) FROM jobs{where} GROUP BY state", args):
            counts[st] = n
        return counts
    glue = " AND " if where else " WHERE "
    for st, n in store.read(f"SELECT state, count(*) FROM jobs{where}{glue}state IN {_ACTIVE} "
                            "GROUP BY state", args):
        counts[st] = n
    for st, n in store.read(f"SELECT state, count(*) FROM jobs{where}{glue}ended >= ? AND "
                            f"+state NOT IN {_ACTIVE} GROUP BY state", (*args, finished_since)):
        counts[st] = n
    return counts


def summary(store: Store) -> dict[str, dict[str, int]]:
    """Counts by state per queue (every declared queue, even empty ones)."""
    out: dict[str, dict[str, int]] = {}
    for (name,) in store.read("SELECT name FROM resources WHERE kind='queues' ORDER BY name"):
        out[name] = {s: 0 for s in STATES}
    for q, st, n in store.read("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state"):
        out.setdefault(q, {s: 0 for s in STATES})[st] = n
    if cancelled_arrays(store):
        for q, st, n in store.read(f"SELECT queue, state, count(*) FROM jobs WHERE "
                                   f"{WAITING_IN_CANCELLED} GROUP BY queue, state"):
            out[q][st] -= n
            out[q][CANCELLED] += n
    return out


def explain(store: Store, job: dict[str, Any]) -> str | None:
    """Why a job is where it is, in words."""
    if job["state"] == PENDING:
        return job["reason"] or "pending"
    if job["state"] == QUEUED:
        status = store.get_meta(f"status:{job['queue']}/{job['definition']}")
        base = f" ({job['reason']})" if job.get("reason") else ""
        if not status:
            return "queued: the scheduler daemon has not seen it yet (is it running? hosts status-host)" + base
        info = leanjson.loads(status)
        return f"queued: {info.get('reason', 'waiting for a worker')}" + base
    if job["state"] == RUNNING:
        return f"running on worker {job['worker']} (attempt {job['attempts']})"
    return job["reason"]


# --------------------------------------------------------------------------------------------
# Change


SUMMARY_AFTER = 100  # an array or filter matching more jobs is reported in one line
CHUNK = 2000  # rows per cancel transaction: the write lock is held for milliseconds
_ACTIVE = "('PENDING','QUEUED','RUNNING')"


def cancel(store: Store, refs: Iterable[str] = (), *, queue: str | None = None,
           name: str | None = None, everything: bool = False, why: str = "cancelled by qdel"
           ) -> list[CancelResult]:
    """Cancel jobs: queued ones at once, running ones too (their worker sees the state change
    and kills the process group: SIGTERM, then SIGKILL after the grace period). Finished jobs
    are left as they are and reported so.

    Jobs and array tasks are reported one by one; a whole array, or a ``queue``/``name``
    filter, that matches more than SUMMARY_AFTER jobs is cancelled in transactions of CHUNK
    rows (never one long write lock) and reported in one summary result (``before`` "")."""
    out: list[CancelResult] = []
    singles: list[dict[str, Any]] = []
    for ref in refs:
        array_id = _array_of(store, ref)
        if array_id is not None:
            row = store.one("SELECT size FROM arrays WHERE id=?", (array_id,))  # not a count
            size = row[0] if row else store.one("SELECT count(*) FROM jobs WHERE array_id=?",
                                                (array_id,))[0]
            if size > SUMMARY_AFTER:
                out.extend(_flush_singles(store, singles, why))
                out.append(_cancel_array(store, array_id, why))
                continue
        singles.extend(find_jobs(store, ref))
        if len(singles) >= CHUNK:
            out.extend(_flush_singles(store, singles, why))
    if queue and (name or everything):
        where, args = ("queue=? AND name=?", (queue, name)) if name else ("queue=?", (queue,))
        matched = store.one(f"SELECT count(*) FROM jobs WHERE {where}", args)[0]
        if not matched and name:
            raise NotFoundError(f"no job named {name!r} in queue {queue!r}")
        if matched > SUMMARY_AFTER:
            label = f"queue {queue}" + (f", name {name}" if name else "")
            out.extend(_flush_singles(store, singles, why))
            out.append(_cancel_many(store, label, where, args, why))
        else:
            singles.extend(row_to_job(r) for r in store.read(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where} ORDER BY id", args))
    out.extend(_flush_singles(store, singles, why))
    return out


def _flush_singles(store: Store, targets: list[dict[str, Any]], why: str) -> list[CancelResult]:
    """Cancel ``targets`` (and empty the list): one result per job."""
    if not targets:
        return []
    t = now()
    ids = list(dict.fromkeys(j["id"] for j in targets))
    changed: dict[int, str] = {}
    for chunk in _chunks(ids, 500):
        def tx(db, chunk=chunk) -> dict[int, str]:
            marks = ",".join("?" * len(chunk))
            got = dict(db.execute(f"SELECT id, state FROM jobs WHERE id IN ({marks}) AND +state IN "
                                  f"{_ACTIVE} AND NOT {WAITING_IN_CANCELLED}", chunk).fetchall())
            _cancel_where(db, f"id IN ({marks})", chunk, t, why)
            return got

        changed.update(store.write(tx))
    out = []
    seen = set()
    for j in targets:
        if j["id"] in seen:
            continue
        seen.add(j["id"])
        if j["id"] in changed:
            out.append(CancelResult(j["job_id"], changed[j["id"]], "cancelled"))
        else:
            current = job_states(store, [j["id"]]).get(j["id"])
            out.append(CancelResult(j["job_id"], current or j["state"], "already finished"))
    targets.clear()
    return out


def cancel_matching(store: Store, *, queue: str | None = None, state: str | None = None,
                    name: str | None = None, match: str | None = None, regex: bool = False,
                    user: str | None = None, why: str = "cancelled from the TUI", batch: int = 5000,
                    progress: Callable[[int, int], None] | None = None) -> int:
    """Cancel every active job that passes the filter (the TUI's "select all matching"), in
    transactions of ``batch`` jobs so the daemon and the workers are never held up for long;
    ``progress(done, total)`` after each. Returns how many were cancelled (a job that
    finished meanwhile is left as it is)."""
    where, args = _where(store, queue=queue, state=state, name=name, match=match, regex=regex,
                         sorted_by_id=False, user=user)
    active = "state IN ('PENDING','QUEUED','RUNNING')"
    where = f"{where} AND {active}" if where else f" WHERE {active}"
    ids = [r[0] for r in store.read(f"SELECT id FROM jobs{where} ORDER BY id", args)]
    total, done = len(ids), 0
    if progress:
        progress(0, total)
    for i in range(0, total, batch):
        chunk = ids[i:i + batch]
        done += store.write(lambda db, chunk=chunk: _cancel_ids(db, chunk, now(), why))
        if progress:
            progress(min(i + batch, total), total)
    return done


def _cancel_ids(db, ids: list[int], t: float, why: str) -> int:
    """Cancel these jobs if still active, in the caller's transaction (``_cancel_where``, 500
    ids a statement); how many were."""
    changed = 0
    for chunk in _chunks(ids, 500):
        where = f"id IN ({','.join('?' * len(chunk))})"
        changed += db.execute(f"SELECT count(*) FROM jobs WHERE {where} AND +state IN {_ACTIVE}",
                              chunk).fetchone()[0]
        _cancel_where(db, where, chunk, t, why)
    return changed


def _cancel_where(db, where: str, args: Sequence[Any], t: float, why: str) -> None:
    """In one transaction: the SYSTEM event of every active job matching ``where``, the
    attempt record of the running ones, then their state. ("+state": the rows ``where``
    names, never a walk of every active job through the claim index.)"""
    active = f"+state IN {_ACTIVE} AND NOT {WAITING_IN_CANCELLED}"  # those are cancelled already
    db.execute("INSERT INTO events (job_id, ts, type, data) SELECT id, ?, 'SYSTEM', "
               f"? || ' (was ' || state || ')' FROM jobs WHERE {where} AND {active}",
               (t, why, *args))
    # A running job's attempt is recorded with its state (its worker adds the end).
    db.execute("INSERT OR IGNORE INTO attempts (job_id, attempt, worker, started, ended, "
               "outcome) SELECT id, attempts, worker, started, ?, 'cancelled' FROM jobs "
               f"WHERE {where} AND +state='RUNNING'", (t, *args))
    db.execute(f"UPDATE jobs SET state='CANCELLED', reason=?, ended=? WHERE {where} "
               f"AND {active}", (why, t, *args))


def _cancel_many(store: Store, label: str, where: str, args: tuple, why: str) -> CancelResult:
    """Cancel every job matching ``where`` a window of CHUNK row ids at a time (each window
    its own short transaction, memory constant), and sum it up in one result."""
    lo, hi = store.one(f"SELECT min(id), max(id) FROM jobs WHERE {where}", args)
    t = now()
    was: dict[str, int] = {}
    finished = 0
    start = lo
    while start is not None and start <= hi:
        # "+column": walk the row-id window, never an index of the whole array or queue
        window = "id BETWEEN ? AND ? AND " + where.replace("array_id=", "+array_id=").replace(
            "queue=", "+queue=").replace("name=", "+name=")
        wargs = (start, start + CHUNK - 1, *args)

        def tx(db, window=window, wargs=wargs) -> list[tuple[str, int]]:
            counts = db.execute(f"SELECT CASE WHEN {WAITING_IN_CANCELLED} THEN 'CANCELLED' ELSE "
                                f"state END AS s, count(*) FROM jobs WHERE {window} GROUP BY s",
                                wargs).fetchall()
            _cancel_where(db, window, wargs, t, why)
            return counts

        if start != lo:
            time.sleep(0.002)  # a gap between transactions: other writers get their turn
        for state, n in store.write(tx):
            if state in ("PENDING", "QUEUED", "RUNNING"):
                was[state] = was.get(state, 0) + n
            else:
                finished += n
        start += CHUNK
    cancelled = sum(was.values())
    parts = [f"cancelled {cancelled} of {cancelled + finished} jobs"]
    if was:
        parts[0] += " (was " + ", ".join(f"{s} {n}" for s, n in sorted(was.items())) + ")"
    if was.get("RUNNING"):
        parts.append("running ones: process groups sent SIGTERM")
    if finished:
        parts.append(f"{finished} already finished, left as they are")
    return CancelResult(label, "", "; ".join(parts))


def _cancel_array(store: Store, array_id: int, why: str) -> CancelResult:
    """Cancel a whole array in one short transaction, whatever its size: the mark on its
    ``arrays`` row (claims and starts honour it, every read here shows its waiting tasks as
    CANCELLED) and its running tasks cancelled at once (their workers kill them). The waiting
    tasks' rows follow in windows (``sweep_cancelled``)."""
    before = array_counts(store, array_id)  # outside the write lock: an index aggregate
    t = now()

    def tx(db) -> bool:
        row = db.execute("SELECT cancelled FROM arrays WHERE id=?", (array_id,)).fetchone()
        if row is None:
            return False
        if row[0] is None:
            db.execute("UPDATE arrays SET cancelled=?, cancel_reason=?, swept=0, swept_upto=? "
                       "WHERE id=?", (t, why, array_id, array_id))
        running = "array_id=? AND state='RUNNING'"
        db.execute("INSERT INTO events (job_id, ts, type, data) SELECT id, ?, 'SYSTEM', "
                   f"? || ' (was RUNNING)' FROM jobs WHERE {running}", (t, why, array_id))
        db.execute("INSERT OR IGNORE INTO attempts (job_id, attempt, worker, started, ended, "
                   f"outcome) SELECT id, attempts, worker, started, ?, 'cancelled' FROM jobs "
                   f"WHERE {running}", (t, array_id))
        db.execute(f"UPDATE jobs SET state='CANCELLED', reason=?, ended=? WHERE {running}",
                   (why, t, array_id))
        return True

    if not store.write(tx):  # no arrays row (a store from before arrays had one): row by row
        return _cancel_many(store, f"{array_id}[]", "array_id=?", (array_id,), why)
    was = {s: before.get(s, 0) for s in (PENDING, QUEUED, RUNNING) if before.get(s)}
    cancelled = sum(was.values())
    finished = sum(before.values()) - cancelled
    parts = [f"cancelled {cancelled} of {cancelled + finished} jobs"]
    if was:
        parts[0] += " (was " + ", ".join(f"{s} {n}" for s, n in sorted(was.items())) + ")"
    if was.get(RUNNING):
        parts.append("running ones: process groups sent SIGTERM")
    if finished:
        parts.append(f"{finished} already finished, left as they are")
    return CancelResult(f"{array_id}[]", "", "; ".join(parts))


SWEEP_ROWS = 1000  # task rows turned CANCELLED per transaction: the write lock for milliseconds


def sweep_cancelled(store: Store, budget_s: float = 0.05) -> int:
    """Turn the waiting tasks of arrays cancelled whole into CANCELLED rows, SWEEP_ROWS row
    ids a transaction, for about ``budget_s`` (the daemon calls this every pass). Returns
    how many rows changed. Reads show those tasks CANCELLED before and after: only where the
    truth is stored changes."""
    todo = store.read("SELECT id, cancelled, cancel_reason, coalesce(swept_upto, id) FROM arrays "
                      "WHERE cancelled IS NOT NULL AND swept=0 ORDER BY id")
    changed = 0
    end = time.monotonic() + budget_s
    for aid, t, why, lo in todo:
        # The tasks' row ids follow their indices (one submission writes them in order).
        last = store.one("SELECT id FROM jobs WHERE array_id=? ORDER BY idx DESC LIMIT 1", (aid,))
        hi = max(last[0] if last else aid, aid)
        while True:
            def tx(db, lo=lo, hi=hi, aid=aid, t=t, why=why) -> tuple[int, int | None]:
                n = db.execute("UPDATE jobs SET state='CANCELLED', reason=?, ended=?, worker=NULL, "
                               "lease_until=NULL WHERE id BETWEEN ? AND ? AND +array_id=? AND "
                               "+state IN ('PENDING','QUEUED')",
                               (why, t, lo, lo + SWEEP_ROWS - 1, aid)).rowcount
                nxt: int | None = lo + SWEEP_ROWS
                if nxt > hi:  # the end: done, unless a waiting task lies outside the range
                    left = db.execute("SELECT max(id) FROM jobs WHERE array_id=? AND state IN "
                                      "('PENDING','QUEUED')", (aid,)).fetchone()[0]
                    nxt = None if left is None else aid
                db.execute("UPDATE arrays SET swept_upto=?, swept=? WHERE id=?",
                           (nxt, 1 if nxt is None else 0, aid))
                return n, nxt

            n, nxt = store.write(tx)
            changed += n
            if nxt is None:
                break
            if nxt == aid:  # start over, as far as the last waiting task
                hi = store.one("SELECT max(id) FROM jobs WHERE array_id=?", (aid,))[0] or aid
            lo = nxt
            if time.monotonic() >= end:
                return changed
            time.sleep(0.002)  # a gap between transactions: other writers get their turn
    return changed


def job_states(store: Store, ids: Iterable[int]) -> dict[int, str]:
    """The states of these jobs as they are (a waiting task of a cancelled array is
    CANCELLED)."""
    ids = list(ids)
    out: dict[int, str] = {}
    for chunk in _chunks(ids, 500):
        out.update(store.read(
            f"SELECT id, CASE WHEN {WAITING_IN_CANCELLED} THEN 'CANCELLED' ELSE state END FROM jobs "
            f"WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return out


def array_states(store: Store, array_id: int) -> list[str]:
    """Which states the tasks of an array are in (one index probe per state), as they are."""
    present = [s for s in STATES if store.one(
        "SELECT 1 FROM jobs WHERE array_id=? AND state=? LIMIT 1", (array_id, s))]
    if array_id in cancelled_arrays(store):
        present = [s for s in STATES if s in {CANCELLED if p in (PENDING, QUEUED) else p
                                              for p in present}]
    return present


def release(store: Store, refs: Iterable[str]) -> list[tuple[str, str]]:
    """Release held jobs (``qrls``). Jobs still waiting on dependencies stay PENDING."""
    out = []
    for ref in refs:
        jobs = find_jobs(store, ref)
        ids = [j["id"] for j in jobs if j["held"] and j["state"] == PENDING]  # not cancelled
        if not ids:
            out.append((ref, "not held"))
            continue
        head = jobs[0]["array_id"] if jobs[0]["array_id"] is not None else jobs[0]["id"]

        def tx(db, ids=ids, head=head) -> None:
            has_deps = db.execute("SELECT 1 FROM deps WHERE job_id=?", (head,)).fetchone()
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                if has_deps:
                    db.execute(f"UPDATE jobs SET held=0, reason='waiting for dependencies' "
                               f"WHERE id IN ({marks}) AND +state='PENDING'", chunk)
                else:
                    db.execute(f"UPDATE jobs SET held=0, state='QUEUED', reason=NULL "
                               f"WHERE id IN ({marks}) AND +state='PENDING'", chunk)

        store.write(tx)
        out.append((ref, "released"))
    return out


def _chunks(items: Sequence[int], n: int) -> Iterable[list[int]]:
    for i in range(0, len(items), n):
        yield list(items[i:i + n])


__all__ = ["Submission", "ArraySpec", "submit", "find_jobs", "get_job", "list_jobs", "count_jobs",
           "summary", "explain", "job_position", "cancel", "cancel_matching", "release",
           "parse_job_ref", "format_id", "CANCELLED", "sweep_cancelled", "cancelled_arrays",
           "job_states", "array_states"]
