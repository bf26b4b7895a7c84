import pytest

from hyper_tui.core import scaling as s


def test_desired_workers_ratio_and_cap():
    assert s.desired_workers(backlog=100, running_jobs=0, ratio=10, cap=64) == 10
    assert s.desired_workers(backlog=101, running_jobs=0, ratio=10, cap=64) == 11
    assert s.desired_workers(backlog=100, running_jobs=0, ratio=1, cap=4) == 4
    assert s.desired_workers(backlog=0, running_jobs=3, ratio=1, cap=8) == 3
    assert s.desired_workers(backlog=0, running_jobs=0, ratio=1, cap=8) == 0
    assert s.desired_workers(backlog=5, running_jobs=2, ratio=2.5, cap=100) == 4
    with pytest.raises(ValueError):
        s.desired_workers(backlog=1, running_jobs=0, ratio=0, cap=1)


def test_worker_cap():
    assert s.worker_cap(16, 4) == 4
    assert s.worker_cap(3, 4) == 0
    with pytest.raises(ValueError):
        s.worker_cap(4, 0)


@pytest.mark.parametrize("total,weights,expected", [
    (10, {"a": 1, "b": 3}, {"a": 2, "b": 8}),
    (4, {"a": 1, "b": 1}, {"a": 2, "b": 2}),
    (1, {"a": 1, "b": 3}, {"a": 0, "b": 1}),
    (5, {"a": 0, "b": 2}, {"a": 0, "b": 5}),
    (0, {"a": 1}, {"a": 0}),
    (7, {"a": 1, "b": 1, "c": 1}, {"a": 3, "b": 2, "c": 2}),
])
def test_split_by_weight(total, weights, expected):
    out = s.split_by_weight(total, weights)
    assert out == expected
    assert sum(out.values()) == (total if any(weights.values()) else 0)


def test_split_sums_for_many_inputs():
    for total in range(0, 50):
        out = s.split_by_weight(total, {"x": 5, "y": 1, "z": 3})
        assert sum(out.values()) == total
        assert out["x"] >= out["z"] >= out["y"]


def test_cap_by_region_moves_overflow():
    assert s.cap_by_region({"a": 6, "b": 2}, {"a": 4, "b": 10}) == {"a": 4, "b": 4}
    assert s.cap_by_region({"a": 6, "b": 0}, {"a": 4, "b": 10}) == {"a": 4, "b": 0}


def test_weights_from_scores_squares_and_normalises():
    assert s.weights_from_scores({"us-east-1": 9, "eu-west-1": 3}) == {"eu-west-1": 1, "us-east-1": 9}
    # the original truncated 81/49 to 1; rounding keeps them apart
    assert s.weights_from_scores({"a": 7, "b": 9}) == {"a": 1, "b": 2}
    assert s.weights_from_scores({"a": 5}, regions=["a", "b"]) == {"a": 1, "b": 0}
    assert s.weights_from_scores({}, regions=["us-east-1", "sa-east-1"]) == {"sa-east-1": 1, "us-east-1": 5}


def test_best_region_scores_takes_max_per_region():
    raw = [{"Region": "us-east-1", "Score": 3}, {"Region": "us-east-1", "Score": 8},
           {"Region": "eu-west-1", "Score": 5, "AvailabilityZoneId": "euw1-az1"}]
    assert s.best_region_scores(raw) == {"us-east-1": 8, "eu-west-1": 5}


# ---- decide: what differs between the hosts is an input -----------------------------------


def _pair(q="q", d="d", **kw):
    from hyper_tui.local.daemon import Pair

    base = dict(cluster="c", ratio=1.0, vcpus=1, weights={"r1": 1}, max_running=None, max_vcpus=64)
    return Pair(q, d, **{**base, **kw})


def test_decide_region_slots_cap_each_region_and_move_the_rest():
    p = _pair(weights={"r1": 1, "r2": 1})
    [d] = s.decide([p], {("q", "d"): s.PairObservation(queued=10)}, region_slots={"r1": 2})
    assert d.split == {"r1": 2, "r2": 8}
    assert {x.region: x.count for x in d.launches} == {"r1": 2, "r2": 8}
    assert all(x.job_queue == "" for x in d.launches)  # no target: a local launch


def test_decide_counts_the_vcpus_workers_hold():
    p = _pair(vcpus=2, max_vcpus=8)
    obs = s.PairObservation(queued=10, workers={"r1": 1}, vcpus={"r1": 6})  # an old, bigger worker
    [d] = s.decide([p], {("q", "d"): obs})
    assert [x.count for x in d.launches] == [1]  # (8 - 6) // 2
    [d] = s.decide([p], {("q", "d"): s.PairObservation(queued=10, workers={"r1": 1})})
    assert [x.count for x in d.launches] == [3]  # (8 - 2) // 2


def test_decide_max_launch_and_targets():
    p = _pair()
    [d] = s.decide([p], {("q", "d"): s.PairObservation(queued=50)}, max_launch=7,
                   target=lambda pair, region: (f"jq-{region}", f"jd-{pair.definition}"))
    assert d.launches == [s.Launch("q", "d", "r1", 7, "jq-r1", "jd-d")]
    assert d.cap == 64 and not d.limited


def test_decide_max_running_is_the_same_on_a_local_pair():
    a, b = _pair("q", "d1", max_running=2), _pair("q", "d2", max_running=2)
    da, db = s.decide([a, b], {("q", "d1"): s.PairObservation(queued=4, workers={"r1": 1}),
                               ("q", "d2"): s.PairObservation(queued=4)})
    assert [x.count for x in da.launches] == [1] and da.limited
    assert db.launches == [] and db.limited
    assert db.reason == "queue at its max running (2 workers of max_running 2)"


def test_a_local_pool_without_worker_slots_runs_four_workers_a_cpu_and_says_so():
    from hyper_tui.core.scaling import LOCAL_SLOTS_PER_CPU, local_region_slots
    from hyper_tui.model import Region

    assert local_region_slots(None, 2) == 2 * LOCAL_SLOTS_PER_CPU == 8
    assert local_region_slots(3, 2) == 3 and local_region_slots(None, 0) == LOCAL_SLOTS_PER_CPU
    # The form's help says what the daemon does (it said "the CPU count" while it ran 4 a CPU).
    help_text = Region.model_fields["worker_slots"].description
    assert f"{LOCAL_SLOTS_PER_CPU} per CPU" in help_text
