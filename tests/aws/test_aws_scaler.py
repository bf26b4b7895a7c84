"""The scaler: the pure decision, and whole passes against moto (SQS, DynamoDB, Batch)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from hyper_tui.aws import schema
from hyper_tui.aws.scaler import (
    Launch,
    PairObservation,
    apply_weights,
    decide,
    handler,
    run_scaler,
)
from hyper_tui.aws.scaler_config import PairConfig, build_scaler_config
from hyper_tui.core.jobs import Submission
from tests.aws import moto_env
from tests.aws.conftest import make_aws_host


def pair(q="q", d="d", *, ratio=1.0, vcpus=1, max_vcpus=64, weights=None, cluster="c",
         max_running=None) -> PairConfig:
    weights = weights or {"r1": 1}
    return PairConfig(queue=q, definition=d, cluster=cluster, work_queue_url=f"https://x/{q}-{d}",
                      ratio=ratio, vcpus=vcpus, max_vcpus=max_vcpus, weights=weights,
                      max_running=max_running,
                      batch_job_queue={r: f"jq-{r}" for r in weights},
                      batch_job_definition={r: f"jd-{d}" for r in weights})


# ---- the pure decision ----------------------------------------------------------------------


def test_backlog_and_ratio_make_workers() -> None:
    [d] = decide([pair(ratio=10)], {("q", "d"): PairObservation(queued=95)})
    assert d.desired == 10 and d.launches == [Launch("q", "d", "r1", 10, "jq-r1", "jd-d")]


def test_running_workers_are_not_launched_again() -> None:
    [d] = decide([pair()], {("q", "d"): PairObservation(queued=3, running=2,
                                                        workers={"r1": 4})})
    assert d.desired == 5 and [x.count for x in d.launches] == [1]
    [d] = decide([pair()], {("q", "d"): PairObservation(queued=0, running=0)})
    assert d.desired == 0 and d.launches == [] and d.reason == "idle"


def test_weights_split_regions_and_vcpus_cap_each() -> None:
    p = pair(weights={"r1": 1, "r2": 3, "r3": 0}, vcpus=4, max_vcpus=16)
    [d] = decide([p], {("q", "d"): PairObservation(queued=100)})
    # 4 workers fit per region (16 / 4), two live regions -> 8, split 1:3 then capped at 4.
    assert d.desired == 8
    assert {x.region: x.count for x in d.launches} == {"r1": 4, "r2": 4}


def test_one_new_worker_per_visible_message_at_most() -> None:
    [d] = decide([pair()], {("q", "d"): PairObservation(queued=30, visible_messages=3)})
    assert d.desired == 3


def test_queue_max_running_caps_its_workers_over_its_definitions() -> None:
    a, b = pair("q", "d1", max_running=5), pair("q", "d2", max_running=5)
    da, db = decide([a, b], {("q", "d1"): PairObservation(queued=4, workers={"r1": 1}),
                             ("q", "d2"): PairObservation(queued=50)})
    assert da.desired == 4 and [x.count for x in da.launches] == [3]  # 1 + 3 = 4 of 5
    assert db.desired == 1 and [x.count for x in db.launches] == [1]  # the 5th
    [d] = decide([pair(max_running=2)], {("q", "d"): PairObservation(queued=9, running=2,
                                                                     workers={"r1": 2})})
    assert d.launches == [] and d.reason == "queue at its max running (2 workers of max_running 2)"
    [d] = decide([pair(max_running=None)], {("q", "d"): PairObservation(queued=9)})
    assert d.desired == 9  # no limit


def test_max_running_reaches_the_scaler_config(home) -> None:
    h = make_aws_host()
    h.cfg.update("queues", "q1", {"max_running": 7})
    assert {p.max_running for p in build_scaler_config(h.cfg).pairs} == {7}


def test_pairs_share_their_cluster_vcpus() -> None:
    a, b = pair("a", vcpus=2, max_vcpus=10), pair("b", vcpus=2, max_vcpus=10)
    obs = {("a", "d"): PairObservation(queued=10, workers={"r1": 2}),
           ("b", "d"): PairObservation(queued=10)}
    da, db = decide([a, b], obs)
    # 10 vCPUs, 4 used by a's 2 workers: 3 more workers of 2 vCPUs fit in all.
    assert sum(x.count for x in da.launches) + sum(x.count for x in db.launches) == 3
    assert "max_vcpus" in db.reason


def test_refreshed_weights_replace_configured_ones() -> None:
    [p] = apply_weights([pair(weights={"r1": 1, "r2": 1})], {"q": {"r1": 9, "r2": 1}})
    assert p.weights == {"r1": 9, "r2": 1}
    [p] = apply_weights([pair(weights={"r1": 1})], {"q": {"r1": 0}})
    assert p.weights == {"r1": 1}  # all zero would stop the queue: ignored


# ---- whole passes against moto ----------------------------------------------------------------


def _batch_jobs(session, region: str, jq: str) -> list[dict]:
    batch = session.client("batch", region)
    ids = [j["jobId"] for st in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING",
                                 "SUCCEEDED", "FAILED")
           for j in batch.list_jobs(jobQueue=jq, jobStatus=st)["jobSummaryList"]]
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def test_pass_launches_array_jobs_and_publishes_metrics(home) -> None:
    h = make_aws_host(definitions={"d1": {"jobs_to_workers_ratio": 10}},
                      regions=("us-east-1", "us-west-2"), weights={"us-east-1": 1, "us-west-2": 3})
    s = h.res.session
    for r in ("us-east-1", "us-west-2"):
        moto_env.batch_setup(s, h.name, "c1", ["d1"], region=r)
    h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}", command="true")
                     for i in range(75)])
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    out = run_scaler(sc, s)
    assert out["errors"] == []
    [p] = out["pairs"]
    assert p["queued"] == 75 and p["desired"] == 8 and p["split"] == {"us-east-1": 2, "us-west-2": 6}
    launched = {x["region"]: x["count"] for x in out["launched"]}
    assert launched == {"us-east-1": 2, "us-west-2": 6}
    jq = schema.batch_job_queue_name(h.name, "c1")
    [west] = [j for j in _batch_jobs(s, "us-west-2", jq) if "arrayProperties" in j
              and "size" in j["arrayProperties"]]
    assert west["arrayProperties"]["size"] == 6
    assert west["jobName"] == schema.worker_batch_job_name("q1", "d1")
    env = {e["name"]: e["value"] for e in west["container"]["environment"]}
    assert env["HYPER_QUEUE"] == "q1" and env["HYPER_REGION"] == "us-west-2"
    assert env["HYPER_WORK_QUEUE_URL"] == sc.pairs[0].work_queue_url
    assert set(schema.WORKER_ENV) <= set(env)
    m = h.client.metrics(0)
    assert m["jobs_queued"]["q1"][-1][1] == 75 and m["backlog"]["d1"][-1][1] == 75
    assert m["workers"]["us-east-1"][-1][1] == 0
    # Submitted (and Finished) come from the counters, once a pass (a submit makes no
    # CloudWatch request): the first pass records where it starts, the next publishes what
    # came since.
    cw_calls: list[str] = []
    s.register("provide-client-params.cloudwatch.PutMetricData",
               lambda params=None, **kw: cw_calls.append(params["Namespace"]))
    h.client.submit([Submission(queue="q1", definition="d1", name="more", command="true")
                     for _ in range(5)])
    assert cw_calls == []
    assert run_scaler(sc, s, launch=False, sweep=False, reconcile=False)["errors"] == []
    cw = s.client("cloudwatch")
    got = cw.get_metric_statistics(Namespace=sc.namespace, MetricName=schema.METRIC_SUBMITTED,
                                   Dimensions=[{"Name": "Queue", "Value": "q1"}],
                                   StartTime=datetime.now(UTC) - timedelta(hours=1),
                                   EndTime=datetime.now(UTC) + timedelta(minutes=5),
                                   Period=60,
                                   Statistics=["Sum"])["Datapoints"]
    assert sum(p["Sum"] for p in got) == 5


def test_handler_reads_its_config_and_sweeps_dead_letters(home, monkeypatch) -> None:
    h = make_aws_host(lease=1.0, max_receives=1)
    moto_env.batch_setup(h.res.session, h.name, "c1", ["d1"])
    [jid] = h.client.submit([Submission(queue="q1", definition="d1", name="x", command="true")])
    sqs = h.res.session.client("sqs")
    url = h.res.work_urls[("q1", "d1")]
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]  # a crashed worker
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the message is dead-lettered
    sc = build_scaler_config(h.cfg)  # the real-AWS queue URL form, as deployed
    monkeypatch.setenv(schema.SCALER_CONFIG_ENV, sc.to_json())
    out = handler({}, None)
    assert out["errors"] == [] and out["swept"]["failed"] == 1
    assert h.client.get_job(jid).state == "FAILED"
    assert out["launched"] == []  # nothing left to run
    json.dumps(out)


def test_refreshed_weights_item_steers_the_next_pass(home) -> None:
    from hyper_tui.aws.weights_refresh import publish_weights

    h = make_aws_host(regions=("us-east-1", "us-west-2"), weights={"us-east-1": 1, "us-west-2": 1})
    for r in ("us-east-1", "us-west-2"):
        moto_env.batch_setup(h.res.session, h.name, "c1", ["d1"], region=r)
    h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}", command="true")
                     for i in range(10)])
    assert publish_weights(h.res.session, h.name, {"q1": {"us-east-1": 0, "us-west-2": 5}})
    sc = build_scaler_config(h.cfg)
    out = run_scaler(sc, h.res.session, sweep=False, publish=False)
    assert {x["region"] for x in out["launched"]} == {"us-west-2"}


def test_active_workers_count_unfinished_array_tasks(moto_url) -> None:
    """Recorded ListJobs / DescribeJobs answers (moto's Batch finishes jobs at once)."""
    from botocore.stub import Stubber

    from hyper_tui.aws.scaler import active_worker_jobs
    from hyper_tui.aws.session import AwsSession

    batch = AwsSession("us-east-1").client("batch")
    with Stubber(batch) as stub:
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
            jobs = []
            if status == "PENDING":
                jobs = [{"jobId": "arr", "jobName": "hyper-q1--d1", "status": "PENDING",
                         "createdAt": 1_700_000_000_000, "arrayProperties": {"size": 5}}]
            if status == "RUNNING":
                jobs = [{"jobId": "one", "jobName": "hyper-q1--d1", "status": "RUNNING",
                         "createdAt": 1_700_000_000_000}]
            stub.add_response("list_jobs", {"jobSummaryList": jobs},
                              {"jobQueue": "jq", "jobStatus": status})
        stub.add_response("describe_jobs", {"jobs": [{
            "jobId": "arr", "jobName": "hyper-q1--d1", "jobQueue": "jq", "status": "PENDING",
            "startedAt": 0, "jobDefinition": "jd",
            "arrayProperties": {"size": 5, "statusSummary": {"SUCCEEDED": 2, "RUNNING": 3}}}]},
            {"jobs": ["arr"]})
        found = active_worker_jobs(batch, ["jq"])
    assert {j["id"]: j["count"] for j in found} == {"arr": 3, "one": 1}


# ---- steps, budgets and the launcher ------------------------------------------------------------


def test_launches_go_through_the_worker_launcher_and_come_first(home) -> None:
    """The pass starts workers only through the WorkerLauncher (BatchLauncher); when the
    launch step uses up the pass's time, the upkeep steps are skipped, never the launch."""
    from hyper_tui.aws.launcher import BatchLauncher
    from hyper_tui.aws.scaler import StepBudgets
    from hyper_tui.hosts.contract import WorkerLauncher

    h = make_aws_host()
    moto_env.batch_setup(h.res.session, h.name, "c1", ["d1"])
    h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}", command="true")
                     for i in range(30)])
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    clock = {"t": 0.0}

    class Slow(BatchLauncher):
        started: list = []

        def start(self, queue, definition, region, count=1, **kw):
            ids = super().start(queue, definition, region, count, **kw)
            self.started.append((queue, definition, region, count, ids))
            clock["t"] += 60.0  # this launch took the whole pass
            return ids

    launcher = Slow(h.res.session, sc)
    assert isinstance(launcher, WorkerLauncher)
    out = run_scaler(sc, h.res.session, launcher=launcher, clock=lambda: clock["t"],
                     budgets=StepBudgets())
    # 30 jobs in one send go one a message (schema.ids_per_message): 30 visible, 30 workers.
    assert [(q, d, r, n) for q, d, r, n, _ in Slow.started] == [("q1", "d1", "us-east-1", 30)]
    assert [x["batch_job_id"] for x in out["launched"]] == [Slow.started[0][4][0]]
    assert out["over_budget"] == ["launch"]
    assert out["skipped"] == ["dead letters", "outbox", "dependencies", "reconcile",
                              "control queues", "metrics"]
    assert out["step_seconds"]["launch"] == 60.0


def test_the_count_is_the_counters_whatever_the_observe_budget(home) -> None:
    """The observe step's count is one BatchGetItem of the counter items: it is whole even
    with a clock that runs out the observe budget at once (no estimate from the messages),
    and the pass goes on to launch, a worker per visible message."""
    from hyper_tui.aws.scaler import StepBudgets

    h = make_aws_host()
    moto_env.batch_setup(h.res.session, h.name, "c1", ["d1"])
    h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}", command="true")
                     for i in range(25)])
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    ticks = iter(range(1_000_000))
    out = run_scaler(sc, h.res.session, clock=lambda: float(next(ticks)),
                     budgets=StepBudgets(observe=5.0, total=10_000.0), sweep=False,
                     publish=False, reconcile=False)
    [p] = out["pairs"]
    assert p["estimated"] is False and p["queued"] == 25
    assert sum(x["count"] for x in out["launched"]) == 25


def test_failover_setting_reaches_the_scaler_config(home) -> None:
    from hyper_tui.aws.scaler_config import DEFAULT_FAILOVER_AFTER_S, ScalerConfig

    h = make_aws_host()
    sc = build_scaler_config(h.cfg)
    assert {p.failover_after_s for p in sc.pairs} == {DEFAULT_FAILOVER_AFTER_S}
    assert sc.lease_seconds == 15.0
    h.cfg.update("queues", "q1", {"failover_after_s": 0})
    sc = build_scaler_config(h.cfg)
    assert {p.failover_after_s for p in sc.pairs} == {0}
    assert ScalerConfig.from_json(sc.to_json()) == sc
    # A config written before these settings still loads, with the defaults.
    old = json.loads(sc.to_json())
    old.pop("lease_seconds")
    for p in old["pairs"]:
        p.pop("failover_after_s")
    again = ScalerConfig.from_json(json.dumps(old))
    assert again.pairs[0].failover_after_s == DEFAULT_FAILOVER_AFTER_S


def test_a_pass_deletes_the_control_queue_of_a_dead_worker(home) -> None:
    """A worker that died without deleting its control queue: the pass after its queue went
    untouched for control.STALE_AFTER_S deletes it; a pass before that leaves it."""
    from hyper_tui.aws import control

    h = make_aws_host()
    sqs = h.res.session.client("sqs")
    url = control.create_control_queue(sqs, h.name, "w-died", h.res.work_urls[("q1", "d1")],
                                       "us-east-1")
    sc = build_scaler_config(h.cfg)
    out = run_scaler(sc, h.res.session, launch=False, publish=False)
    assert out["control_queues"] == {"queues": 1, "checked": 1, "deleted": 0}
    out = run_scaler(sc, h.res.session, launch=False, publish=False,
                     now=time.time() + control.STALE_AFTER_S + 60)
    assert out["control_queues"] == {"queues": 1, "checked": 1, "deleted": 1}
    assert url not in (sqs.list_queues(QueueNamePrefix=schema.control_queue_prefix(h.name))
                       .get("QueueUrls") or [])
