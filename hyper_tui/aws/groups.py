"""Submission groups: the jobs of one multi-job submission share one ``by_queue`` entry.

A job of a ``qsub --stdin`` batch (or an array's task, or a job of a submit-API request of
several jobs) has no
``queue_shard`` of its own, so DynamoDB writes no by_queue entry for it. Instead one *group*
item per (submission, queue) names its members, compactly (``id_lists``: their common prefix
once, then about 9 bytes a job), and is the one by_queue entry of them all. A job of a batch
then costs 5 write units end to end (submit 2: the item, by_active; start 1; report 2) plus its
share of the group item, the outbox and the counters. A single job keeps its own entry.
(An array's tasks, ids ``A-i``, are grouped the same way: about 6 bytes a task.)

* The group item: ``id`` = ``{greatest member id}#group`` (``group_id``), ``kind`` ``group``
  (the counters skip it), ``queue``, ``queue_shard`` (spread by its own id, like a job's),
  ``prefix`` and ``rests`` (the members, in id order), ``count``, ``submitted`` and a TTL.
  A batch too big for one item (DynamoDB's 400 KB) gets several, each a run of the ids in
  order (``MEMBERS_BYTES`` of rests each: about 40,000 jobs).
* Ordering: the by_queue sort key is the item id, and ``{greatest member}#group`` sorts right
  after that member and before any id greater than it. :func:`newest_first` expands a
  partition's entries, newest first, into member ids in exact descending id order (a group
  whose members interleave with other entries of the partition, jobs submitted in the same
  millisecond, included), so a merge of every partition lists a queue in id order, newest
  first, as when every job had its own entry.
* Life: the TTL (``keep_until``) is the host's retention plus ``WAIT_S`` (30 days) after
  the submission, so a group outlives every member that ended within 30 days of it; a member
  that waited longer is still listed by state (by_active), name and id, but no longer by
  queue once its group is gone. A reader tolerates a group whose members are partly or wholly gone (expired, or
  removed by a failed submit): missing items are skipped.

Standard library only (the submit API's Lambda uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.id_lists import compact_ids, expand_ids

GROUP_KIND = "group"
GROUP_SUFFIX = "#group"  # '#' sorts below every character of an id (digits, letters, '-')
MEMBERS_BYTES = 360 * 1024  # the rests of one group item, at most (DynamoDB items: 400 KB)
WAIT_S = 30 * 86400  # a member that ends within this of its submission is listed till it goes


def group_id(greatest_member: str) -> str:
    """The id (and by_queue sort key) of the group whose greatest member id is given."""
    return greatest_member + GROUP_SUFFIX


def is_group_id(item_id: str) -> bool:
    return item_id.endswith(GROUP_SUFFIX)


def keep_until(now: float, retention_s: float) -> int:
    """A group's TTL: ``WAIT_S`` plus the host's retention after the submission (``now``),
    so it outlives every member that ends within ``WAIT_S`` (a finished job is kept the
    retention after its end). Longer would keep more groups of members all gone, which a
    filtered listing (it reads every entry of the queue) reads in vain."""
    return int(now + retention_s + WAIT_S)


def chunk_ids(ids: list[str], budget: int | None = None) -> list[list[str]]:
    """``ids`` (sorted) in consecutive runs whose compact rests stay within ``budget`` bytes
    (``MEMBERS_BYTES``; counted against the common prefix of all of them, a run's own is at
    least as long)."""
    budget = budget or MEMBERS_BYTES
    prefix = len(compact_ids(ids)[0]) if ids else 0
    runs: list[list[str]] = []
    size = budget + 1
    for jid in ids:
        cost = len(jid.encode("utf-8")) - prefix + 1
        if size + cost > budget:
            runs.append([])
            size = 0
        runs[-1].append(jid)
        size += cost
    return runs


def group_items(queue: str, ids: Iterable[str], *, now: float, retention_s: float,
                budget: int | None = None) -> list[dict[str, Any]]:
    """The group items that list the jobs ``ids`` of one submission in ``queue``."""
    out = []
    for run in chunk_ids(sorted(ids), budget):
        gid = group_id(run[-1])
        prefix, rests = compact_ids(run)
        out.append({"id": gid, "kind": GROUP_KIND, "queue": queue,
                    "queue_shard": schema.queue_shard(queue, gid), "prefix": prefix,
                    "rests": rests, "count": len(run), "submitted": round(now, 3),
                    schema.TTL_ATTRIBUTE: keep_until(now, retention_s)})
    return out


def group_jobs(items: list[dict[str, Any]], *, now: float, retention_s: float
               ) -> list[dict[str, Any]]:
    """The group items of one submission's new job ``items``, per queue that has two or
    more of them; those jobs lose their own ``queue_shard`` (in place), the group lists
    them. A queue with one job of the submission keeps that job's own entry."""
    by_queue: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        if it.get("state") and "queue_shard" in it:
            by_queue.setdefault(it["queue"], []).append(it)
    out: list[dict[str, Any]] = []
    for queue, jobs in sorted(by_queue.items()):
        if len(jobs) < 2:
            continue
        for it in jobs:
            del it["queue_shard"]
        out += group_items(queue, [it["id"] for it in jobs], now=now, retention_s=retention_s)
    return out


def members(item: Mapping[str, Any] | None) -> list[str]:
    """The member ids of a group item, in id order (none for a missing item)."""
    if not item or item.get("kind") != GROUP_KIND or "rests" not in item:
        return []  # (a run of one id is stored as prefix = the id, rests = "")
    return expand_ids(str(item.get("prefix") or ""), str(item["rests"]))


def newest_first(entries: Iterable[Mapping[str, Any]],
                 members_of: Callable[[str], list[str]]) -> Iterator[dict[str, str]]:
    """One by_queue partition's entries (newest first, as a descending Query gives them) as
    job entries ``{"id": ...}`` in descending id order, each group expanded into its members
    (``members_of(group id)``, read only when the listing reaches it). A member is yielded
    once no later entry can hold a greater id: every later entry's key, and so each of its
    members, is below the current one."""
    pending: list[str] = []  # ascending: pop() gives the newest
    for entry in entries:
        key = str(entry["id"])
        while pending and pending[-1] > key:
            yield {"id": pending.pop()}
        if is_group_id(key):
            pending.extend(members_of(key))
            pending.sort()
        else:
            pending.append(key)  # every pending id is at most key: still sorted
    while pending:
        yield {"id": pending.pop()}


def walk_partitions(parts: list[str], read_ids: Callable[..., tuple[list[str], Any]],
                    members_of: Callable[[str], list[str]],
                    read_items: Callable[[list[str]], list[dict[str, Any]]], *, limit: int,
                    position: Mapping[str, Any] | None, key_of: Callable[[str, str], Any]
                    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A page of up to ``limit`` jobs from the index partitions ``parts``, walked in order
    (the submit API's listing), each group entry expanded into its members in place.
    ``read_ids(part, limit=, start=)`` reads one page of entry ids and the key to go on from;
    ``read_items(ids)`` the items the API returns (filtered); ``key_of(part, entry id)`` the
    start key that resumes after an entry. ``position`` (and the one returned, None at the
    end) is ``{"shard", "key", "skip"}``: the partition, the start key, and how many members
    of the next entry (a group) were returned already."""
    pos = dict(position or {})
    shard, start, skip = int(pos.get("shard", 0)), pos.get("key"), int(pos.get("skip", 0))
    out: list[dict[str, Any]] = []
    while shard < len(parts) and len(out) < limit:
        room = limit - len(out)
        ids, last = read_ids(parts[shard], limit=room, start=start)
        wanted: list[str] = []
        stopped = False
        for eid in ids:
            ids_of = members_of(eid) if is_group_id(eid) else [eid]
            take = ids_of[skip:skip + room - len(wanted)]
            wanted += take
            skip += len(take)
            if skip < len(ids_of):
                stopped = True  # resume at this entry, ``skip`` members in
                break
            skip, start = 0, key_of(parts[shard], eid)
        if not stopped and not last:
            shard, start, skip = shard + 1, None, 0
        out += read_items(wanted)
    if shard >= len(parts):
        return out, None
    return out, {"shard": shard, "key": start, "skip": skip}
