"""The listing contract the TUI's jobs screen relies on, on every host kind: substring and
regex filters, sort by any column over every matching job (ties by id ascending), counts of a
filter, the position of a job in a listing, and cancelling every job that matches a filter."""

from __future__ import annotations

import time

import pytest

from hyper_tui.core.errors import ValidationError
from hyper_tui.core.job_query import SORT_COLUMNS
from tests.contract.test_host_contract import _sub, host  # noqa: F401  (the fixture)


def _submit(c, h, names: list[str]) -> list[str]:
    ids = []
    for n in names:
        ids += c.submit([_sub(h, n)])
        time.sleep(0.002)  # aws ids order by the millisecond
    return ids


def test_filters_sort_count_position_and_cancel_matching(host) -> None:  # noqa: F811
    c = host.client
    ids = _submit(c, host, ["train-b", "align", "Train-a", "train-b", "score"])
    tb1, al, ta, tb2, sc = ids

    def listed(**kw) -> list[str]:
        return [r.job_id for r in c.list_jobs(queue=host.queue, **kw)]

    assert listed(match="TRAIN") == [tb2, ta, tb1]  # any case, newest first
    assert listed(match=r"^train-\w$", regex=True) == [tb2, tb1]  # a regex is case-sensitive
    assert listed(match="zzz") == []
    assert c.count_jobs(queue=host.queue, match="train").QUEUED == 3
    assert c.count_jobs(queue=host.queue, match="train", state="PENDING").total == 0
    assert c.count_jobs(queue=host.queue, match="train", state="QUEUED").QUEUED == 3
    assert listed(match="train", state="QUEUED", sort="name") == [tb1, tb2, ta]
    # Every column sorts; ties are by id ascending in both directions.
    for col in SORT_COLUMNS:
        assert sorted(listed(sort=col)) == sorted(ids)
    assert listed(sort="name", descending=False) == [ta, al, sc, tb1, tb2]
    assert listed(sort="name") == [tb1, tb2, sc, al, ta]
    assert listed(sort="name", limit=2, offset=1) == [tb2, sc]
    assert c.job_position(sc, queue=host.queue, sort="name") == 2
    assert c.job_position(al, queue=host.queue) == 3  # by id, newest first
    assert c.job_position(al, queue=host.queue, match="train") is None
    with pytest.raises(ValidationError, match="bad regular expression"):
        c.list_jobs(match="(", regex=True)

    progress: list[tuple[int, int]] = []
    assert c.cancel_matching(queue=host.queue, match="train",
                             progress=lambda d, n: progress.append((d, n))) == 3
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)
    assert {r.job_id: r.state for r in c.list_jobs(queue=host.queue)} == {
        tb1: "CANCELLED", tb2: "CANCELLED", ta: "CANCELLED", al: "QUEUED", sc: "QUEUED"}
    assert c.cancel_matching(queue=host.queue, match="train") == 0  # finished: left alone


def test_the_submitting_user_is_recorded_and_filters(host) -> None:  # noqa: F811
    """Every job records who submitted it (the submission's user, else this process's user);
    ``user`` filters listings, counts, positions and cancel-by-filter alike, and combines with
    the other filters."""
    from hyper_tui.core import submit as building

    c = host.client
    me = building.submitting_user()
    mine = _submit(c, host, ["train-a"])[0]
    time.sleep(0.002)
    theirs = c.submit([_sub(host, "train-b", user="alice-2")])[0]
    time.sleep(0.002)
    built = c.submit([building.build(queue=host.queue, definition=host.definition,
                                     defaults=building.Defaults(), name="score",
                                     command="echo hi")])[0]
    rows = {r.job_id: r for r in c.list_jobs(queue=host.queue)}
    assert rows[mine].user == me and rows[built].user == me and rows[theirs].user == "alice-2"
    assert c.get_job(theirs).user == "alice-2"

    def listed(**kw) -> list[str]:
        return [r.job_id for r in c.list_jobs(queue=host.queue, **kw)]

    assert listed(user="alice-2") == [theirs]
    assert listed(user=me) == [built, mine]
    assert listed(user=me, match="train") == [mine]  # combines with a substring
    assert listed(user="alice-2", match="score") == []
    assert listed(user="nobody") == []
    assert listed(user=me, sort="name", descending=False) == [built, mine]  # score, train-a
    assert c.count_jobs(queue=host.queue, user="alice-2").total == 1
    assert c.count_jobs(queue=host.queue, user=me, state="QUEUED").QUEUED == 2
    assert c.job_position(mine, queue=host.queue, user=me) == 1
    assert c.job_position(theirs, queue=host.queue, user=me) is None
    assert c.cancel_matching(queue=host.queue, user="alice-2") == 1
    assert {r.job_id: r.state for r in c.list_jobs(queue=host.queue)} == {
        mine: "QUEUED", theirs: "CANCELLED", built: "QUEUED"}


def test_a_batch_lists_pages_counts_and_cancels_like_single_jobs(host) -> None:  # noqa: F811
    """A ``qsub --stdin`` batch between single jobs (on an aws host its jobs share one by_queue
    group item): listed newest first between them, paged anywhere, counted, found by
    position and cancelled by a filter like single jobs."""
    from hyper_tui.core.jobs import Submission

    c = host.client
    first = _submit(c, host, ["first"])[0]
    time.sleep(0.002)
    batch = c.submit([Submission(queue=host.queue, definition=host.definition, name="STDIN",
                                 commands=[f"echo batch {i}" for i in range(6)])])
    time.sleep(0.002)
    last = _submit(c, host, ["last"])[0]
    rows = [r.job_id for r in c.list_jobs(queue=host.queue)]
    assert rows[0] == last and rows[-1] == first and sorted(rows[1:-1]) == sorted(batch)
    for limit in (1, 3, 4):
        assert [j for off in range(0, len(rows), limit) for j in (
            r.job_id for r in c.list_jobs(queue=host.queue, offset=off, limit=limit))] == rows
    assert c.count_jobs(queue=host.queue, match="batch").QUEUED == 6
    assert c.job_position(rows[4], queue=host.queue) == 4
    assert c.cancel_matching(queue=host.queue, match="echo batch") == 6
    assert {r.job_id: r.state for r in c.list_jobs(queue=host.queue)} == {
        **dict.fromkeys(batch, "CANCELLED"), first: "QUEUED", last: "QUEUED"}
