"""Submission groups (hyper_tui.aws.groups): the jobs of a ``qsub --stdin`` batch share one
by_queue entry. The pure parts first (ordering, chunking), then the client's listings, counts,
positions and cancels over a queue that mixes single jobs and batches, on moto."""

from __future__ import annotations

import json
import random

import pytest

from hyper_tui.aws import groups, schema
from hyper_tui.aws.table import to_item
from hyper_tui.core.jobs import ArraySpec, Submission
from tests.aws.conftest import AwsHost

MAX_ITEM = 400 * 1024  # DynamoDB's item size limit


def _ids(ms: int, n: int, rng: random.Random) -> list[str]:
    return [f"{ms:012x}" + "".join(rng.choice(schema._ID_ALPHABET) for _ in range(8))
            for _ in range(n)]


# ---- pure --------------------------------------------------------------------------------------


def test_a_group_sorts_right_after_its_newest_member():
    rng = random.Random(1)
    members = sorted(_ids(1_790_000_000_000, 50, rng))
    gid = groups.group_id(members[-1])
    assert members[-1] < gid and groups.is_group_id(gid) and not groups.is_group_id(members[-1])
    # below any greater id: of the same millisecond, a later one, an array task of the newest
    later = [members[-1][:-1] + chr(ord(members[-1][-1]) + 1), f"{1_790_000_000_001:012x}aaaaaaaa",
             schema.array_task_id(members[-1], 0)]
    assert all(gid < x for x in later)


@pytest.mark.parametrize("seed", range(20))
def test_newest_first_expands_groups_in_exact_id_order(seed):
    """Entries of one partition: single jobs and groups whose members interleave with them
    (the same millisecond) and with each other; the expansion is every member and single id,
    in descending order, each once."""
    rng = random.Random(seed)
    every: list[str] = []
    entries: list[str] = []
    group_of: dict[str, list[str]] = {}
    for ms in range(1_790_000_000_000, 1_790_000_000_006):
        for _ in range(rng.randint(0, 3)):  # single jobs
            [jid] = _ids(ms, 1, rng)
            entries.append(jid)
            every.append(jid)
        for _ in range(rng.randint(0, 2)):  # batches, one or more group items each
            ids = _ids(ms, rng.randint(2, 40), rng)
            every += ids
            for g in groups.group_items("q", ids, now=ms / 1000, retention_s=86400, budget=90):
                entries.append(g["id"])
                group_of[g["id"]] = groups.members(g)
    reads: list[str] = []

    def members_of(gid: str) -> list[str]:
        reads.append(gid)
        return group_of[gid]

    got = [e["id"] for e in groups.newest_first(
        ({"id": e} for e in sorted(entries, reverse=True)), members_of)]
    assert got == sorted(every, reverse=True)
    assert sorted(reads) == sorted(group_of)  # each group read once


def test_newest_first_reads_a_group_only_when_the_listing_reaches_it():
    rng = random.Random(3)
    old = _ids(1_790_000_000_000, 5, rng)
    new = _ids(1_790_000_009_000, 1, rng)
    [g] = groups.group_items("q", old, now=1_790_000_000, retention_s=0)
    reads: list[str] = []
    it = groups.newest_first(iter([{"id": new[0]}, {"id": g["id"]}]),
                             lambda gid: reads.append(gid) or groups.members(g))
    assert next(it) == {"id": new[0]} and reads == []  # the group's entry is read, not its item
    assert [e["id"] for e in it] == sorted(old, reverse=True) and reads == [g["id"]]


def test_a_gone_group_or_member_lists_nothing_for_it():
    assert groups.members(None) == [] and groups.members({"id": "x", "kind": "spec"}) == []
    assert list(groups.newest_first([{"id": "a#group"}, {"id": "0"}], lambda gid: [])) == [
        {"id": "0"}]


def test_a_batch_of_100000_jobs_takes_several_items_each_under_400_kb():
    rng = random.Random(4)
    ids = _ids(1_790_000_000_000, 100_000, rng)
    items = groups.group_items("q1", ids, now=1_790_000_000.0, retention_s=30 * 86400)
    assert len(items) >= 2
    assert all(len(json.dumps(to_item(it))) < MAX_ITEM for it in items)  # JSON: an upper bound
    assert [m for it in items for m in groups.members(it)] == sorted(ids)
    assert sum(it["count"] for it in items) == 100_000
    # ~9 bytes a job (the shared time part once): the whole listing of 100,000 jobs is < 1 MB
    assert sum(len(it["rests"]) for it in items) < 100_000 * 9 + len(items)


def test_group_jobs_groups_per_queue_and_leaves_a_lone_job_its_own_entry():
    rng = random.Random(5)
    items = [{"id": jid, "queue": q, "state": "QUEUED", "queue_shard": schema.queue_shard(q, jid)}
             for q, jid in zip(["a", "a", "a", "b"], _ids(1_790_000_000_000, 4, rng), strict=True)]
    made = groups.group_jobs(items, now=1_790_000_000.0, retention_s=86400)
    assert [g["queue"] for g in made] == ["a"] and made[0]["count"] == 3
    assert [("queue_shard" in it) for it in items] == [False, False, False, True]
    assert made[0][schema.TTL_ATTRIBUTE] == groups.keep_until(1_790_000_000.0, 86400)
    assert made[0]["kind"] == groups.GROUP_KIND


def test_walk_partitions_resumes_inside_a_group():
    """The submit API's paging: a token that stops inside a group resumes there."""
    parts = {"p0": ["a", "b#group", "c"], "p1": ["d#group"]}
    group_of = {"b#group": ["b1", "b2", "b3"], "d#group": ["d1", "d2"]}

    def read_ids(part, *, limit, start):
        ids = [e for e in parts[part] if start is None or e > start["id"]]
        return ids[:limit], ({"id": ids[limit - 1]} if len(ids) > limit else None)

    for limit in range(1, 9):
        seen, pos, pages = [], None, 0
        while True:
            out, pos = groups.walk_partitions(
                list(parts), read_ids, group_of.__getitem__,
                lambda ids: [{"id": i} for i in ids if i != "b2"],  # b2 is gone (TTL)
                limit=limit, position=pos, key_of=lambda part, eid: {"id": eid})
            assert len(out) <= limit
            seen += [o["id"] for o in out]
            pages += 1
            if pos is None:
                break
        assert seen == ["a", "b1", "b3", "c", "d1", "d2"], limit
        assert pages <= 7


# ---- on moto -------------------------------------------------------------------------------------


def _sub(**kw) -> Submission:
    return Submission(queue="q1", definition="d1", **kw)


def _mixed(h: AwsHost) -> list[str]:
    """A queue of single jobs and batches, submitted in turn: every id, oldest first."""
    ids: list[str] = []
    ids += h.client.submit([_sub(name="one", command="echo 1")])
    ids += h.client.submit([_sub(name="STDIN", commands=[f"echo b{i}" for i in range(7)])])
    ids += h.client.submit([_sub(name="two", argv=["true"])])
    ids += h.client.submit([_sub(name="STDIN", commands=["echo x", "echo y", "echo z"])])
    ids += h.client.submit([_sub(name="STDIN", commands=["echo alone"])])  # one line: own entry
    return ids


def _by_queue(h: AwsHost) -> list[str]:
    ddb = h.res.session.client("dynamodb")
    return sorted(it["id"]["S"] for it in ddb.scan(TableName=h.res.table,
                                                   IndexName="by_queue")["Items"])


def test_a_batch_has_one_by_queue_entry_and_lists_in_id_order(aws_host: AwsHost):
    h = aws_host
    ids = _mixed(h)
    entries = _by_queue(h)
    assert len(entries) == 5 and sum(groups.is_group_id(e) for e in entries) == 2
    want = sorted(ids, reverse=True)
    assert [r.job_id for r in h.client.list_jobs(queue="q1")] == want
    assert [r.job_id for r in h.client.list_jobs()] == want  # every queue of the host
    for limit in (1, 2, 3, 4, 6):  # pages cut across a batch's members
        paged = [r.job_id for off in range(0, len(want), limit)
                 for r in h.client.list_jobs(queue="q1", offset=off, limit=limit)]
        assert paged == want, limit
    # the filtered paths read the same entries
    assert h.client.count_jobs(queue="q1", match="echo").QUEUED == 12  # all but "two"
    assert [r.job_id for r in h.client.list_jobs(queue="q1", sort="id", descending=False)] == \
        sorted(ids)
    assert h.client.job_position(want[4], queue="q1") == 4
    assert {r.job_id for r in h.client.list_jobs(queue="q1", user=h.client.get_job(
        ids[0]).user)} == set(ids)


def test_members_gone_are_skipped_and_a_gone_group_lists_nothing(aws_host: AwsHost):
    h = aws_host
    ids = _mixed(h)
    ddb = h.res.session.client("dynamodb")
    batch = ids[1:8]
    for jid in batch[:3]:  # expired (TTL): the group still names them
        ddb.delete_item(TableName=h.res.table, Key={"id": {"S": jid}})
    left = sorted(set(ids) - set(batch[:3]), reverse=True)
    assert [r.job_id for r in h.client.list_jobs(queue="q1")] == left
    for jid in batch[3:]:  # every member gone
        ddb.delete_item(TableName=h.res.table, Key={"id": {"S": jid}})
    assert [r.job_id for r in h.client.list_jobs(queue="q1")] == sorted(
        set(ids) - set(batch), reverse=True)
    [gid] = [e for e in _by_queue(h) if groups.is_group_id(e) and e.startswith(max(ids[9:12]))]
    ddb.delete_item(TableName=h.res.table, Key={"id": {"S": gid}})  # the group gone too
    assert len(h.client.list_jobs(queue="q1")) == len(ids) - len(batch) - 3


def test_a_batch_over_several_group_items(aws_host: AwsHost, monkeypatch):
    """A batch too big for one group item (here: 60 bytes of members an item) is listed
    through several, as a 100,000-job batch is through several items of 360 KB."""
    monkeypatch.setattr(groups, "MEMBERS_BYTES", 60)
    h = aws_host
    ids = h.client.submit([_sub(name="STDIN", commands=[f"echo {i}" for i in range(40)])])
    entries = _by_queue(h)
    assert len(entries) >= 5 and all(groups.is_group_id(e) for e in entries)
    assert [r.job_id for r in h.client.list_jobs(queue="q1", limit=1000)] == sorted(
        ids, reverse=True)
    assert [r.job_id for r in h.client.list_jobs(queue="q1", offset=13, limit=9)] == sorted(
        ids, reverse=True)[13:22]


def test_a_group_of_one_id_is_stored_and_listed(aws_host: AwsHost, monkeypatch):
    """A run of one id is stored as its whole id for a prefix and empty rests."""
    monkeypatch.setattr(groups, "MEMBERS_BYTES", 1)  # every run is one id
    h = aws_host
    ids = h.client.submit([_sub(name="STDIN", commands=["echo a", "echo b"])])
    entries = _by_queue(h)
    assert entries == sorted(groups.group_id(i) for i in ids)
    assert [r.job_id for r in h.client.list_jobs(queue="q1")] == sorted(ids, reverse=True)


def test_a_100000_job_listing_is_accepted_by_dynamodb(aws_host: AwsHost):
    """The group items of a 100,000-job batch are items DynamoDB takes (moto checks the 400 KB
    limit); its members, never written here, are all gone: the listing is empty."""
    h = aws_host
    ids = _ids(1_790_000_000_000, 100_000, random.Random(9))
    ddb = h.res.session.client("dynamodb")
    items = groups.group_items("q1", ids, now=1_790_000_000.0, retention_s=86400)
    for it in items:
        ddb.put_item(TableName=h.res.table, Item=to_item(it))
    assert len(_by_queue(h)) == len(items) >= 2
    assert h.client.list_jobs(queue="q1") == []


def test_cancel_all_and_cancel_matching_reach_a_batch(aws_host: AwsHost):
    h = aws_host
    ids = _mixed(h)
    done = h.client.cancel_matching(queue="q1", match="echo b")  # by_queue: the 7 of a batch
    assert done == 7
    assert {h.client.get_job(j).state for j in ids[1:8]} == {"CANCELLED"}
    results = h.client.cancel([], queue="q1", everything=True)  # qdel --all: by_active
    assert sorted(r.job_id for r in results) == sorted(set(ids) - set(ids[1:8]))
    assert {r.state for r in h.client.list_jobs(queue="q1")} == {"CANCELLED"}
    assert len(h.client.list_jobs(queue="q1", state="CANCELLED")) == len(ids)


def test_an_array_is_listed_through_group_items_in_task_id_order(aws_host: AwsHost):
    """An array's tasks (ids ``A-i``) share group items too; the listing is in the order
    entries of their own gave: by item id, newest first (``A-9`` above ``A-11``)."""
    h = aws_host
    ids = h.client.submit([_sub(name="one", command="echo 1")])
    [arr] = h.client.submit([_sub(name="arr", command="echo $HYPER_ARRAY_INDEX",
                                  array=ArraySpec(0, 11))])
    ids += h.client.submit([_sub(name="two", command="echo 2")])
    aid = arr[:-2]
    tasks = {schema.array_task_id(aid, i): f"{aid}[{i}]" for i in range(12)}
    entries = _by_queue(h)
    assert len(entries) == 3 and [e for e in entries if groups.is_group_id(e)] == [
        groups.group_id(max(tasks))]
    want = [tasks.get(i, i) for i in sorted([*ids, *tasks], reverse=True)]
    assert [r.job_id for r in h.client.list_jobs(queue="q1")] == want
    assert [r.job_id for r in h.client.list_jobs(queue="q1", offset=5, limit=4)] == want[5:9]
    assert h.client.get_job(arr).array_size == 12


def test_qstat_and_qdel_all_over_a_batch(aws_host: AwsHost, capsys, monkeypatch):
    """The q-commands: ``qsub --stdin`` writes one group item; ``qstat -q`` lists its jobs
    among a single job's, newest first; ``qdel -q --all`` cancels them all."""
    from tests.aws.test_aws_client import q

    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "-c", "echo one")
    assert code == 0, err
    single = out.strip()
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "--stdin",
                       stdin="".join(f"echo {i}\n" for i in range(5)), monkeypatch=monkeypatch)
    assert code == 0, err
    batch = out.split()
    assert len(batch) == 5 and sum(groups.is_group_id(e) for e in _by_queue(aws_host)) == 1
    code, out, err = q(capsys, "qstat", "--host", "acme", "-q", "q1", "--only-job-id-out")
    assert code == 0, err
    assert out.split() == sorted([single, *batch], reverse=True)
    code, out, err = q(capsys, "qdel", "--host", "acme", "-q", "q1", "--all")
    assert code == 0 and out.count("cancelled (was QUEUED)") == 6, (out, err)
    code, out, _ = q(capsys, "qstat", "--host", "acme", "-q", "q1", "-s", "CANCELLED",
                     "--only-job-id-out")
    assert sorted(out.split()) == sorted([single, *batch])
