"""Region failover in the aws scaler: a region whose launches fail, or whose workers wait
RUNNABLE past the queue's ``failover_after_s``, hands its share to the queue's other regions
until it recovers.

Launch failures are injected with a botocore hook on region A's Batch client (SubmitJob
answered with an error) against moto; moto's Batch cannot keep a job RUNNABLE, so for that
case both regions' ListJobs are answered by a hook (a worker RUNNABLE since a given time),
while SubmitJob goes to moto. Time is injected (``now``).
"""

from __future__ import annotations

import time
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.scaler import decide, fail_over, regions_down, run_scaler, stuck_workers
from hyper_tui.aws.scaler_config import PairConfig, build_scaler_config
from hyper_tui.core.jobs import Submission
from hyper_tui.core.scaling import PairObservation
from tests.aws import moto_env
from tests.aws.conftest import make_aws_host
from tests.aws.test_reconciler import Faults

A, B = "us-east-1", "us-west-2"


def pair(*, failover: int = 900, weights: dict | None = None) -> PairConfig:
    weights = weights or {A: 1, B: 1}
    return PairConfig(queue="q", definition="d", cluster="c", work_queue_url="https://x/q-d",
                      ratio=1.0, vcpus=2, max_vcpus=64, weights=weights,
                      failover_after_s=failover,
                      batch_job_queue={r: f"jq-{r}" for r in weights},
                      batch_job_definition={r: "jd" for r in weights})


# ---- the pure rules --------------------------------------------------------------------------


def test_workers_runnable_past_the_limit_are_stuck() -> None:
    p = pair()
    now = 10_000.0
    job = {"pair": ("q", "d"), "runnable": 3, "count": 5, "created": now - 901}
    assert stuck_workers([p], {A: [job]}, now) == {("q", "d"): {A: 3}}
    assert stuck_workers([p], {A: [{**job, "created": now - 899}]}, now) == {}
    assert stuck_workers([pair(failover=0)], {A: [job]}, now) == {}  # failover off


def test_a_down_region_hands_its_share_to_the_others() -> None:
    p = pair()
    stuck = {("q", "d"): {A: 2}}
    down = regions_down([p], stuck, {})
    assert down == {("q", A): "2 worker(s) RUNNABLE for more than 900s"}
    obs = {("q", "d"): PairObservation(queued=20, workers={A: 3, B: 1})}
    [p2], o2 = fail_over([p], obs, stuck, down)
    assert p2.weights == {A: 0, B: 1}
    # A's 1 healthy worker is counted in B, its 2 stuck ones nowhere; vCPUs stay put.
    assert o2[("q", "d")].workers == {B: 2} and o2[("q", "d")].vcpus == {A: 6, B: 2}
    [d] = decide([p2], o2)
    assert {x.region: x.count for x in d.launches} == {B: 18}
    [d] = decide([p], obs)  # without failover: A would get its half, next to its stuck ones
    assert {x.region: x.count for x in d.launches} == {A: 7, B: 9}


def test_no_failover_when_every_region_is_down_or_it_is_off() -> None:
    p = pair()
    down = {("q", A): "launch failed", ("q", B): "launch failed"}
    obs = {("q", "d"): PairObservation(queued=4)}
    [p2], o2 = fail_over([p], obs, {}, down)
    assert p2 == p and o2 == obs
    assert regions_down([pair(failover=0)], {}, {("q", A): "launch failed"}) == {}


# ---- passes against moto ---------------------------------------------------------------------


def host(n_jobs: int) -> tuple[Any, Any]:
    h = make_aws_host(regions=(A, B), weights={A: 1, B: 1})
    for r in (A, B):
        moto_env.batch_setup(h.res.session, h.name, "c1", ["d1"], region=r)
    h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}", command="true")
                     for i in range(n_jobs)])
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    return h, sc


def launched(out: dict) -> dict[str, int]:
    per: dict[str, int] = {}
    for x in out["launched"]:
        per[x["region"]] = per.get(x["region"], 0) + x["count"]
    return per


def test_failing_launches_in_a_shift_its_share_to_b_until_a_recovers(home) -> None:
    h, sc = host(4)  # a small send goes one job a message: 4 workers wanted, 2 per region
    faults = Faults(h.res.session.client("batch", A)).fail("SubmitJob", "ServerException")
    kw = dict(sweep=False, publish=False, reconcile=False)
    out = run_scaler(sc, h.res.session, **kw)
    assert launched(out) == {B: 4}, out
    assert out["failover"] == [{"queue": "q1", "region": A,
                                "reason": "launch failed: ServerException"}]
    assert faults.injected == {"SubmitJob": 1}
    assert any("in us-east-1" in e and "ServerException" in e for e in out["errors"])
    faults.clear()  # A works again: the next pass launches there (its try is the probe)
    out = run_scaler(sc, h.res.session, **kw)
    assert out["failover"] == [] and out["errors"] == []
    assert launched(out).get(A) == 2, out


def test_workers_runnable_too_long_in_a_shift_its_share_until_they_start(home) -> None:
    h, sc = host(4)
    created = time.time()
    listing = {"status": "RUNNABLE"}  # what region A's one worker is doing

    def list_jobs(region: str):
        def answer(body: dict) -> dict:
            if region != A or body.get("jobStatus") != listing["status"]:
                return {"jobSummaryList": []}
            return {"jobSummaryList": [{
                "jobId": "stuck-1", "jobName": schema.worker_batch_job_name("q1", "d1"),
                "status": listing["status"], "createdAt": int(created * 1000)}]}
        return answer

    for r in (A, B):
        Faults(h.res.session.client("batch", r)).answer("ListJobs", list_jobs(r))
    kw = dict(sweep=False, publish=False, reconcile=False)
    # Within the limit: A's RUNNABLE worker counts, A gets its share less that one.
    out = run_scaler(sc, h.res.session, now=created + 100, **kw)
    assert out["failover"] == [] and launched(out) == {A: 1, B: 2}, out
    # Past it: A's share goes to B, and its stuck worker is not counted.
    out = run_scaler(sc, h.res.session, now=created + 901, **kw)
    assert out["failover"] == [{"queue": "q1", "region": A,
                                "reason": "1 worker(s) RUNNABLE for more than 900s"}]
    assert launched(out) == {B: 4}, out
    # The worker starts: A has recovered, its worker counts again and A gets its share.
    listing["status"] = "RUNNING"
    out = run_scaler(sc, h.res.session, now=created + 1000, **kw)
    assert out["failover"] == [] and launched(out) == {A: 1, B: 2}, out
    # A queue with failover off never hands its share over.
    listing["status"] = "RUNNABLE"
    sc.pairs[0].failover_after_s = 0
    out = run_scaler(sc, h.res.session, now=created + 5000, **kw)
    assert out["failover"] == [] and launched(out) == {A: 1, B: 2}, out


def test_the_queue_setting_is_validated_with_one_line() -> None:
    import pytest

    from hyper_tui import config
    from hyper_tui.core.errors import HyperError

    q = config.validate_resource("queues", {"name": "q", "cluster": "c",
                                            "failover_after_seconds": 60})
    assert q.failover_after_s == 60
    assert config.validate_resource("queues", {"name": "q", "cluster": "c"}).failover_after_s is None
    with pytest.raises(HyperError) as err:
        config.validate_resource("queues", {"name": "q", "cluster": "c", "failover_after_s": -1})
    assert str(err.value).splitlines()[0].startswith("failover_after_s: must be at least 0")


# ---- workers that FAIL at start --------------------------------------------------------------


def test_which_failures_are_failed_starts() -> None:
    from hyper_tui.aws.launcher import STOP_REASON, start_failure

    failed = {"status": "FAILED", "jobId": "j"}
    assert start_failure({**failed, "statusReason": "CannotPullContainerError: pull access "
                          "denied", "startedAt": 1}).startswith("CannotPullContainerError")
    assert start_failure({**failed, "container": {"reason": "CannotStartContainerError: "
                          "exec /start.sh: no such file"}}) is not None
    assert start_failure({**failed, "statusReason": "Host EC2 (instance i-1) terminated.",
                          "startedAt": 1}) is not None
    assert start_failure({**failed}) == "failed before it started"
    # a worker that ran and failed, one hyper-tui stopped, one still running: not failed starts
    assert start_failure({**failed, "startedAt": 1,
                          "statusReason": "Essential container in task exited"}) is None
    assert start_failure({**failed, "statusReason": STOP_REASON}) is None
    assert start_failure({"status": "RUNNING", "jobId": "j"}) is None


def test_failed_starts_take_a_region_down_until_they_age_or_a_worker_runs() -> None:
    from hyper_tui.aws.scaler import failed_start_regions

    p = pair()
    now = 10_000.0
    fail = {"pair": ("q", "d"), "reason": "CannotPullContainerError: no such image",
            "at": now - 100}
    down = failed_start_regions([p], {A: [fail, {**fail, "at": now - 50}]}, {}, now)
    assert down == {("q", A): "2 worker(s) failed at start: CannotPullContainerError: no "
                              "such image"}
    assert regions_down([p], {}, down) == down
    # older than the queue's failover_after_s: A gets its share back (its launch the probe)
    assert failed_start_regions([p], {A: [{**fail, "at": now - 901}]}, {}, now) == {}
    # one of the queue's workers runs in A: A can start them
    running = {A: [{"pair": ("q", "d"), "running": 1}]}
    assert failed_start_regions([p], {A: [fail]}, running, now) == {}
    assert failed_start_regions([pair(failover=0)], {A: [fail]}, {}, now) == {}


def test_workers_failing_at_start_in_a_shift_its_share_to_b(home) -> None:
    h, sc = host(4)  # a small send goes one job a message: 4 workers wanted, 2 per region
    t0 = time.time()
    name = schema.worker_batch_job_name("q1", "d1")
    state = {"failed_at": t0 - 60, "array": False}

    def list_jobs(body: dict) -> dict:
        if body.get("jobStatus") in (None, "FAILED") and body.get("filters"):
            assert body["filters"][0]["name"] == "AFTER_CREATED_AT"
            job = {"jobId": "w-a1", "jobName": name, "status": "FAILED",
                   "createdAt": int((state["failed_at"] - 30) * 1000),
                   "stoppedAt": int(state["failed_at"] * 1000),
                   "statusReason": "CannotPullContainerError: pull access denied"}
            if state["array"]:  # an array of 2: the parent failed, its children say why
                job = {**job, "statusReason": "Array Child Job failed",
                       "arrayProperties": {"size": 2}}
            return {"jobSummaryList": [job]}
        if body.get("arrayJobId") == "w-a1" and body.get("jobStatus") == "FAILED":
            return {"jobSummaryList": [
                {"jobId": f"w-a1:{i}", "jobName": name, "status": "FAILED",
                 "createdAt": int((state["failed_at"] - 30) * 1000),
                 "stoppedAt": int(state["failed_at"] * 1000),
                 "statusReason": "Host EC2 (instance i-0abc) terminated."} for i in range(2)]}
        return {"jobSummaryList": []}  # no active worker anywhere

    for r in (A, B):
        Faults(h.res.session.client("batch", r)).answer(
            "ListJobs", list_jobs if r == A else (lambda body: {"jobSummaryList": []}))
    kw = dict(sweep=False, publish=False, reconcile=False)
    out = run_scaler(sc, h.res.session, now=t0, **kw)
    assert out["failover"] == [{"queue": "q1", "region": A, "reason": "1 worker(s) failed at "
                                "start: CannotPullContainerError: pull access denied"}], out
    assert launched(out) == {B: 4}, out
    state["array"] = True
    out = run_scaler(sc, h.res.session, now=t0, **kw)
    assert out["failover"] == [{"queue": "q1", "region": A, "reason": "2 worker(s) failed at "
                                "start: Host EC2 (instance i-0abc) terminated."}], out
    assert launched(out) == {B: 4}, out
    # Past the queue's failover_after_s with no new failure: A is tried again.
    out = run_scaler(sc, h.res.session, now=t0 + 901, **kw)
    assert out["failover"] == [] and launched(out) == {A: 2, B: 2}, out
