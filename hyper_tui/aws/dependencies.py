"""Holds and dependencies on an aws host: the local host's PENDING, kept in DynamoDB.

A held or dependent job is written PENDING and sent to no work queue. Its item carries
``held`` (present only while held) and ``deps``: a list of ``{"kind", "on", "whole", "ref"}``
(``kind`` afterok, afterany or afternotok; ``on`` the item id of the job waited for, or with
``whole`` the id of an array whose every task is waited for; ``ref`` what the user wrote).

* :func:`release_pending` runs in every scaler pass (so a dependent job starts within about a
  minute of the last job it waits for): each PENDING job of a queue (read from the sparse
  ``by_active`` index, so finished jobs cost nothing) that is not held has its dependencies
  judged by ``core.lifecycle.dependency_state`` and ``judge_dependencies``, the local daemon's
  rules: all ready -> QUEUED and sent to its work queue; one that can never be satisfied ->
  CANCELLED with that reason.
  The states of a job waited for are read once per pass, however many jobs wait for it.
* ``qrls`` (:func:`release_holds`) removes ``held``; a job without dependencies is queued at
  once, one with dependencies waits for the next pass.

Jobs made QUEUED here are recorded in the outbox first (hyper_tui.aws.outbox), like a
submission's, so a crash before their messages are sent cannot strand them.

Every change is conditional on the job still being PENDING (and not held), so a ``qdel`` or a
second scaler racing with this one can never be undone or doubled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.outbox import close_outbox, enqueue_or_fail, open_outbox
from hyper_tui.aws.session import error_code
from hyper_tui.aws.table import Update, array_tasks, batch_get, hydrate, query_items, run_updates
from hyper_tui.core.lifecycle import (
    QUEUED_REASON,
    dependency_state,
    judge_dependencies,
    waiting_reason,
)


def deps_reason(deps: Iterable[Mapping[str, Any]]) -> str:
    """``waiting for 0190...[] to succeed, 0190... to end``: the local host's wording."""
    return waiting_reason((d["kind"], d["ref"]) for d in deps)


def _states(ddb: Any, table: str, dep: Mapping[str, Any]) -> list[str]:
    """The states of what ``dep`` waits for (every task of an array for ``whole``)."""
    if not dep.get("whole"):
        item = batch_get(ddb, table, [dep["on"]]).get(dep["on"])
        return [str(item["state"])] if item and item.get("state") else []
    return [str(it["state"]) for it in array_tasks(ddb, table, dep["on"])]


def _pending(ddb: Any, table: str, queue: str) -> list[dict[str, Any]]:
    """The PENDING jobs of a queue: ids from the sparse by_active index's PENDING group
    (keys only), then their items (``hydrate``)."""
    keys: list[dict[str, Any]] = []
    for part in schema.active_partitions(queue, "PENDING"):  # PENDING jobs only
        keys += query_items(ddb, TableName=table, IndexName="by_active",
                            KeyConditionExpression="#k = :k",
                            ExpressionAttributeNames={"#k": schema.ACTIVE_KEY},
                            ExpressionAttributeValues={":k": {"S": part}})
    return list(hydrate(ddb, table, keys, keep=lambda it: it.get("state") == "PENDING"))


def to_queue(table: str, job_id: str, queue: str, now: float) -> Update:
    """PENDING (and no longer held) -> QUEUED."""
    u = Update(table, job_id, queue=queue).when("state", "=", "PENDING").when_missing("held")
    return u.set("state", "QUEUED").set("reason", QUEUED_REASON).set("queued", round(now, 3)) \
        .remove("deps")


def release_pending(ddb: Any, sqs: Any, table: str, queues: Iterable[str],
                    url_of: Callable[[str, str], str], *, retention_s: float,
                    now: float | None = None) -> dict[str, int]:
    """Queue the PENDING jobs whose dependencies are met, cancel those whose dependencies
    never can be; returns counts (``released``, ``cancelled``, ``waiting``, ``held``)."""
    now = time.time() if now is None else now
    verdicts: dict[tuple[str, str, bool], str] = {}
    release: list[dict[str, Any]] = []
    cancel: list[tuple[dict[str, Any], str]] = []
    counts = {"released": 0, "cancelled": 0, "waiting": 0, "held": 0}

    def verdict_of(dep: Mapping[str, Any]) -> str:
        key = (dep["kind"], dep["on"], bool(dep.get("whole")))
        if key not in verdicts:
            verdicts[key] = dependency_state(dep["kind"], _states(ddb, table, dep) or ["CANCELLED"])
        return verdicts[key]

    for queue in queues:
        for job in _pending(ddb, table, queue):
            if job.get("held"):
                counts["held"] += 1
                continue
            verdict, why = judge_dependencies(
                (dep.get("ref") or dep["on"], verdict_of(dep)) for dep in job.get("deps") or [])
            if verdict == "cancel":
                cancel.append((job, why or ""))
            elif verdict == "release":
                release.append(job)
            else:
                counts["waiting"] += 1
    outbox = open_outbox(ddb, table, release, retention_s=retention_s, now=now) if release else []
    ops = [to_queue(table, job["id"], job["queue"], now).kwargs() for job in release]
    ops += [Update(table, job["id"]).when("state", "=", "PENDING").set("state", "CANCELLED")
            .set("reason", why).set("ended", now).set(schema.TTL_ATTRIBUTE, int(now + retention_s))
            .kwargs() for job, why in cancel]
    codes = run_updates(ddb, ops) if ops else []
    queued = [job for job, code in zip(release, codes, strict=False) if code is None]
    counts["released"] = len(queued)
    counts["cancelled"] = sum(1 for code in codes[len(release):] if code is None)
    enqueue_or_fail(ddb, sqs, table, url_of, queued, now, retention_s)
    close_outbox(ddb, table, outbox)
    return counts


def release_holds(ddb: Any, sqs: Any, table: str, jobs: Iterable[Mapping[str, Any]],
                  url_of: Callable[[str, str], str], *, retention_s: float) -> dict[str, str]:
    """``qrls``: the held PENDING ``jobs`` lose their hold; those without dependencies are
    queued at once. Returns what happened to each job id (``released`` or ``not held``)."""
    now = time.time()
    out: dict[str, str] = {}
    queued: list[Mapping[str, Any]] = []
    jobs = list(jobs)
    outbox = open_outbox(ddb, table, [j for j in jobs if j.get("state") == "PENDING"
                                      and j.get("held") and not j.get("deps")],
                         retention_s=retention_s, now=now)
    for job in jobs:
        if job.get("state") != "PENDING" or not job.get("held"):
            out[job["id"]] = "not held"
            continue
        if job.get("deps"):
            u = Update(table, job["id"]).when("state", "=", "PENDING").remove("held")
            u.set("reason", deps_reason(job["deps"]))
        else:
            u = Update(table, job["id"], queue=job["queue"]).when("state", "=", "PENDING")
            u.remove("held").set("state", "QUEUED").set("reason", QUEUED_REASON).set("queued", round(now, 3))
        try:
            ddb.update_item(**u.kwargs())
        except Exception as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            out[job["id"]] = "not held"  # cancelled or released meanwhile
            continue
        out[job["id"]] = "released"
        if not job.get("deps"):
            queued.append(job)
    enqueue_or_fail(ddb, sqs, table, url_of, queued, now, retention_s)
    close_outbox(ddb, table, outbox)
    return out
