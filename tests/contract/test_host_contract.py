"""The host contract (``hyper_tui.hosts.contract.HostClient``), the same expectations for every
host kind: a real local host (SQLite store in a temporary HYPER_HOME, an agent run here) and an
aws host on a moto server (DynamoDB, SQS, CloudWatch). Clients come from ``client_for``."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from hyper_tui.core.errors import NotFoundError
from hyper_tui.core.jobs import (
    Attempt,
    CancelResult,
    Counts,
    JobDetail,
    JobRow,
    LogChunk,
    LogRecord,
    ReleaseResult,
    Submission,
)
from hyper_tui.hosts.contract import Capabilities, HostClient, HostStatus
from hyper_tui.hosts.follow import follow
from hyper_tui.hosts.registry import client_for

# A job's cgroup is hyper-tui-<worker id>/job-<job key>, and both hosts number their jobs from
# 1 in every test's home: one worker id for tests running at once on two xdist workers gave
# them one cgroup, and the end of one job killed the other's (-9 after 0.62 s, seen once).
WORKER = f"w-ct{os.getpid()}"


class LocalHost:
    queue = definition = "default"

    def __init__(self) -> None:
        from hyper_tui.hosts import registry

        registry.create_local_host("ct", select=True)
        self.name = "ct"
        self.client = client_for("ct", start_daemon=False)  # workers run here, in the test

    def run_jobs(self) -> int:
        from hyper_tui import paths
        from hyper_tui.agent.loop import Agent, AgentOptions
        from hyper_tui.agent.transports.local import LocalTransport

        t = LocalTransport(paths.store_path(self.name), worker_id=WORKER, queue=self.queue,
                           definition=self.definition)
        try:
            return Agent(t, AgentOptions(idle_timeout=0.5, heartbeat_every=0.5)).run()
        finally:
            t.close()

    def publish_metrics(self) -> None:
        """What the daemon does every 2 s: sample the store."""
        from hyper_tui.local.daemon import Daemon

        d = Daemon(self.name)
        try:
            d.sample_metrics(time.time())
        finally:
            d.store.close()


class AwsHost:
    queue, definition = "q1", "d1"

    def __init__(self) -> None:
        from tests.aws.conftest import make_aws_host

        self.h = make_aws_host()
        self.name = self.h.name
        self.client = client_for(self.name)

    def run_jobs(self) -> int:
        from tests.aws.test_aws_client import run_worker

        return run_worker(self.h, WORKER)

    def publish_metrics(self) -> None:
        """What the scaler does every minute: publish what it observed (from the counts)."""
        from hyper_tui.aws.scaler import PairObservation, publish_metrics
        from hyper_tui.aws.scaler_config import build_scaler_config

        c = self.client.count_jobs(queue=self.queue)
        sc = build_scaler_config(self.h.cfg)
        obs = {(self.queue, self.definition): PairObservation(
            queued=c.QUEUED, running=c.RUNNING, pending=c.PENDING)}
        publish_metrics(self.h.res.session.client("cloudwatch"), sc, sc.pairs, obs, {})


@pytest.fixture(params=["local", "aws"])
def host(request, home):
    if request.param == "aws":
        from tests.aws import moto_env

        url = moto_env.shared_server()
        moto_env.reset(url)
        moto_env.configure(url, {"batch": {"use_docker": False}})
        h: Any = AwsHost()
    else:
        h = LocalHost()
    yield h
    h.client.close()


def _sub(h: Any, name: str, command: str = "echo hi", **kw: Any) -> Submission:
    return Submission(queue=h.queue, definition=h.definition, name=name, command=command, **kw)


def test_the_client_is_a_host_client(host) -> None:
    c = host.client
    assert isinstance(c, HostClient) and c.name == host.name
    assert isinstance(c.capabilities, Capabilities)
    st = c.status()
    assert isinstance(st, HostStatus) and st.host == host.name and st.kind == c.kind and st.summary
    assert c.workers() == []


def test_submit_list_count_get(host) -> None:
    c = host.client
    ids = []
    for sub in (_sub(host, "a"), _sub(host, "b", "echo two"), _sub(host, "h", hold=True)):
        ids += c.submit([sub])
        time.sleep(0.002)  # aws ids order by the millisecond; jobs of one call are not ordered
    a, b, held = ids
    rows = c.list_jobs(queue=host.queue)
    assert all(isinstance(r, JobRow) for r in rows)
    assert [r.job_id for r in rows] == [held, b, a]  # newest first
    assert [r.job_id for r in c.list_jobs(queue=host.queue, limit=1, offset=1)] == [b]
    assert {r.job_id for r in c.list_jobs(queue=host.queue, state="PENDING")} == {held}
    assert [r.job_id for r in c.list_jobs(name="b")] == [b]
    counts = c.count_jobs(queue=host.queue)
    assert isinstance(counts, Counts)
    assert (counts.QUEUED, counts.PENDING, counts.total) == (2, 1, 3)
    assert counts["RUNNING"] == 0 and dict(counts.items())["QUEUED"] == 2
    assert c.count_jobs(name="a").total == 1
    assert c.summary()[host.queue] == counts
    d = c.get_job(b)
    assert isinstance(d, JobDetail)
    assert (d.job_id, d.name, d.queue, d.definition, d.state) == (b, "b", host.queue,
                                                                  host.definition, "QUEUED")
    assert d.command == "echo two" and d.attempt_history == [] and d.array_size is None
    assert d.why and d.why.startswith("queued")
    h = c.get_job(held)
    assert h.state == "PENDING" and h.held and h.why == "held; release with qrls"
    with pytest.raises(NotFoundError):
        c.get_job("999999")
    with pytest.raises(NotFoundError, match="-q nope"):
        c.require("queues", "nope", "-q")


def test_run_then_results_and_logs(host) -> None:
    c = host.client
    [ok] = c.submit([_sub(host, "ok", "echo out-line; echo err-line >&2")])
    [bad] = c.submit([_sub(host, "bad", "exit 3", retries=0)])
    assert not c.job_finished(ok)
    assert host.run_jobs() == 2
    assert c.job_finished(ok) and c.job_finished(bad)
    d = c.get_job(ok)
    assert d.state == "SUCCEEDED" and d.exit_code == 0 and d.attempts == 1
    assert d.attempt_history and isinstance(d.attempt_history[0], Attempt)
    assert d.attempt_history[0].exit_code == 0 and d.attempt_history[0].worker == WORKER
    f = c.get_job(bad)
    assert f.state == "FAILED" and f.exit_code == 3 and f.reason == "exit code 3"
    assert c.count_jobs(queue=host.queue).SUCCEEDED == 1

    chunk = c.logs(ok)
    assert isinstance(chunk, LogChunk) and chunk.final and chunk.offset > 0
    assert all(isinstance(r, LogRecord) for r in chunk.records)
    seen = [(r.type, r.data) for r in chunk.records]
    assert ("STDOUT", "out-line") in seen and ("STDERR", "err-line") in seen
    assert seen[0][0] == "SYSTEM" and seen[0][1].startswith("submitted to queue")
    assert [r.ts for r in chunk.records] == sorted(r.ts for r in chunk.records)
    assert [(r.type, r.data) for r in c.logs(ok, tail=1).records] == [seen[-1]]
    # Read on from the offset: nothing new, and the submit event is not repeated.
    assert c.logs(ok, offset=chunk.offset).records == []


def test_follow_reads_each_record_once_until_the_end(host) -> None:
    import threading

    c = host.client
    [jid] = c.submit([_sub(host, "f", "echo one; sleep 1; echo two")])
    th = threading.Thread(target=host.run_jobs)
    th.start()
    try:
        chunks = list(follow(c, jid, poll_s=0.2))
    finally:
        th.join()
    assert chunks[-1].final and not any(ch.final for ch in chunks[:-1])
    lines = [(r.type, r.data) for ch in chunks for r in ch.records]
    assert lines.count(("STDOUT", "one")) == 1 and lines.count(("STDOUT", "two")) == 1
    assert sum(1 for t, d in lines if d.startswith("submitted to queue")) == 1
    assert lines.index(("STDOUT", "one")) < lines.index(("STDOUT", "two"))


def test_cancel_and_release(host) -> None:
    c = host.client
    a, b = c.submit([_sub(host, "a"), _sub(host, "b")])
    [held] = c.submit([_sub(host, "h", hold=True)])
    [r] = c.cancel([a])
    assert isinstance(r, CancelResult) and (r.job_id, r.before, r.outcome) == (a, "QUEUED", "cancelled")
    [r] = c.cancel([a])
    assert (r.before, r.outcome) == ("CANCELLED", "already finished")
    assert c.get_job(a).state == "CANCELLED"
    [r] = c.release([held])
    assert isinstance(r, ReleaseResult) and (r.ref, r.outcome) == (held, "released")
    assert c.get_job(held).state == "QUEUED"
    assert [x.outcome for x in c.release([held, b])] == ["not held", "not held"]
    everything = c.cancel([], queue=host.queue, everything=True)
    # Every active job of the queue is cancelled. (A local host also reports the finished ones
    # as "already finished"; an aws host reads only the active ones: both are pinned by tests
    # of their own, tests/engine/test_lifecycle.py and tests/aws/test_aws_client.py.)
    assert {x.job_id for x in everything if x.outcome == "cancelled"} == {b, held}
    assert {x.outcome for x in everything if x.job_id not in (b, held)} <= {"already finished"}
    assert c.count_jobs(queue=host.queue).CANCELLED == 3
    with pytest.raises(NotFoundError):
        c.cancel([], queue="nope", everything=True)


def test_metrics_series(host) -> None:
    c = host.client
    t0 = time.time()
    c.submit([_sub(host, f"m{i}") for i in range(2)])
    host.publish_metrics()
    m = c.metrics(t0 - 120)
    assert m["jobs_queued"][host.queue][-1][1] == 2
    assert m["backlog"][host.definition][-1][1] == 2
    for labels in m.values():
        for points in labels.values():
            assert all(isinstance(ts, float) and isinstance(v, float) for ts, v in points)


def test_declared_resources_give_qsub_its_defaults(host) -> None:
    from hyper_tui.core.submit import Defaults, definition_defaults

    c = host.client
    assert host.queue in c.resources("queues") and host.definition in c.resources("definitions")
    assert isinstance(definition_defaults(c.resources("definitions")[host.definition]), Defaults)


def test_operations_a_kind_lacks_are_one_line_usage_errors(host) -> None:
    """Capabilities say which operations apply; the others refuse in one line, exit 2."""
    from hyper_tui.core.errors import EXIT_USAGE, UsageError
    from hyper_tui.hosts import registry

    c = host.client
    lacking = []
    if not c.capabilities.deploy:
        lacking += [c.synth, c.deploy, c.diff, c.bootstrap, c.bootstrap_policies,
                    c.refresh_lookups, c.refresh_weights,
                    lambda: registry.import_host(c.kind, "elsewhere", account="1", region="r")]
    if not c.capabilities.daemon:
        lacking += [c.start, c.serve, c.stop]
    assert lacking
    for op in lacking:
        with pytest.raises(UsageError) as err:
            op()
        assert err.value.exit_code == EXIT_USAGE and "\n" not in err.value.line()
        assert c.name in err.value.line()


def test_the_daemon_starts_and_stops_through_the_client(host) -> None:
    c = host.client
    if not c.capabilities.daemon:
        pytest.skip("this kind runs no daemon on this machine")
    assert c.stop() is False  # not running yet
    try:
        assert c.start() and c.status().state == "running"
    finally:
        assert c.stop() is True
    assert c.status().state == "stopped"
