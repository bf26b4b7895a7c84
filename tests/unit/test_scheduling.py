import pytest

from hyper_tui import scheduling as s


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


def test_exit_outcomes():
    assert s.after_exit(0, retry_exit_codes=(), attempts=1, retries=2).state == "SUCCEEDED"
    o = s.after_exit(3, retry_exit_codes=(), attempts=1, retries=2)
    assert (o.state, o.reason) == ("FAILED", "exit code 3")
    o = s.after_exit(75, retry_exit_codes=(75,), attempts=1, retries=1)
    assert o.state == "QUEUED" and o.counts_retry
    assert s.after_exit(75, retry_exit_codes=(75,), attempts=2, retries=1).state == "FAILED"
    assert s.after_exit(-9, retry_exit_codes=(), attempts=1, retries=0).reason == "killed by signal 9"


def test_lost_worker_and_interruption():
    assert s.after_lost_worker(attempts=1, retries=1, why="w died").state == "QUEUED"
    o = s.after_lost_worker(attempts=2, retries=1, why="w died")
    assert o.state == "FAILED" and "no retries left" in o.reason
    o = s.after_interruption(why="SIGTERM")
    assert o.state == "QUEUED" and not o.counts_retry


@pytest.mark.parametrize("kind,states,expected", [
    ("afterok", ["SUCCEEDED", "SUCCEEDED"], "ready"),
    ("afterok", ["SUCCEEDED", "RUNNING"], "wait"),
    ("afterok", ["FAILED", "RUNNING"], "never"),
    ("afterok", ["CANCELLED"], "never"),
    ("afterany", ["FAILED", "SUCCEEDED"], "ready"),
    ("afterany", ["QUEUED"], "wait"),
    ("afternotok", ["FAILED"], "ready"),
    ("afternotok", ["SUCCEEDED"], "never"),
])
def test_dependency_state(kind, states, expected):
    assert s.dependency_state(kind, states) == expected
