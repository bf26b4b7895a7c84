"""The aws worker transport against moto: real shell jobs, leases, dead letters, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from hyper_tui.agent.loop import Agent, AgentOptions, Result
from hyper_tui.agent.transports.aws import AwsTransport
from hyper_tui.aws import schema
from hyper_tui.aws.table import batch_get
from hyper_tui.core.jobs import ArraySpec, Submission
from tests.aws.conftest import AwsHost, Killed, kill_at, make_aws_host
from tests.conftest import wait_for


def transport(h: AwsHost, wid: str, **kw) -> AwsTransport:
    kw.setdefault("poll_wait", 0)
    return AwsTransport.for_host(h.cfg, worker_id=wid, queue="q1", definition="d1",
                                 session=h.res.session, **kw)


def take(t: AwsTransport, n: int) -> list:
    """Reserve up to ``n`` jobs and start them all (what the agent does, one by one)."""
    return [c for c in t.reserve(n) if t.start(c)]


def items(h: AwsHost, ids: list[str]) -> dict[str, dict]:
    return batch_get(h.res.session.client("dynamodb"), h.res.table, ids)


def queue_depth(h: AwsHost, url: str | None = None) -> int:
    attrs = h.res.session.client("sqs").get_queue_attributes(
        QueueUrl=url or h.res.work_urls[("q1", "d1")],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    a = attrs["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def submit(h: AwsHost, n: int, command: str, **kw) -> list[str]:
    return h.client.submit([Submission(queue="q1", definition="d1", name=f"j{i}", command=command,
                                       **kw) for i in range(n)])


def test_hundred_shell_jobs_succeed(aws_host: AwsHost) -> None:
    h = aws_host
    ids = submit(h, 60, 'echo "out $HYPER_JOB_NAME"; echo err >&2')
    ids += [i.replace("[]", f"[{k}]") for i in h.client.submit([Submission(
        queue="q1", definition="d1", name="arr", command="echo task $HYPER_ARRAY_INDEX",
        array=ArraySpec(0, 39))]) for k in range(40)]
    assert len(ids) == 100
    t = transport(h, "w-hundred")
    n = Agent(t, AgentOptions(idle_timeout=1.0, heartbeat_every=0.5)).run()
    t.close()
    assert n == 100
    counts = h.client.count_jobs(queue="q1")
    assert counts["SUCCEEDED"] == 100, counts
    assert queue_depth(h) == 0  # every message settled and deleted
    recs = h.client.logs(ids[0]).records
    kinds = [(r.type, r.data) for r in recs]
    assert ("STDOUT", "out j0") in kinds and ("STDERR", "err") in kinds
    assert any(k == "SYSTEM" and d.startswith("exit code 0") for k, d in kinds)
    recs = h.client.logs(ids[-1]).records
    assert ("STDOUT", "task 39") in [(r.type, r.data) for r in recs]


def test_lease_expiry_redelivers_to_another_worker(home) -> None:
    h = make_aws_host(lease=1.0)
    [jid] = submit(h, 1, "true", retries=2)
    a = transport(h, "w-a", lease=1.0)
    [ca] = take(a, 1)
    assert ca.attempt == 1
    time.sleep(1.3)  # a stops heartbeating: its lease (message visibility) runs out
    b = transport(h, "w-b", lease=1.0)
    got = wait_for(lambda: take(b, 1), timeout=10, what="redelivery")
    assert got[0].key == jid and got[0].attempt == 2
    # The lost worker's late report does not overwrite the new attempt...
    a.report(Result(ca, "exit", 0, time.time(), time.time()))
    it = items(h, [jid])[jid]
    assert it["state"] == "RUNNING" and it["worker"] == "w-b" and it["attempt"] == 2
    assert it["history"][0]["outcome"] == "lost" and it["history"][0]["worker"] == "w-a"
    # ...and its next heartbeat tells it that it was declared lost.
    a._last_beat = 0
    assert a.heartbeat([ca]) is False
    b.report(Result(got[0], "exit", 0, time.time(), time.time()))
    assert items(h, [jid])[jid]["state"] == "SUCCEEDED"
    b.close()
    assert queue_depth(h) == 0


def test_lost_worker_past_retries_fails(home) -> None:
    h = make_aws_host(lease=1.0)
    [jid] = submit(h, 1, "true", retries=0)
    a = transport(h, "w-a", lease=1.0)
    assert take(a, 1)[0].attempt == 1
    time.sleep(1.3)
    b = transport(h, "w-b", lease=1.0)
    assert wait_for(lambda: items(h, [jid])[jid]["state"] == "FAILED" or take(b, 1),
                    timeout=10) is True
    it = items(h, [jid])[jid]
    assert "no retries left" in it["reason"] and "w-a" in it["reason"]


def test_dead_letter_after_max_receives_fails_the_job(home) -> None:
    h = make_aws_host(lease=1.0, max_receives=2)
    [jid] = submit(h, 1, "true")
    sqs = h.res.session.client("sqs")
    url = h.res.work_urls[("q1", "d1")]
    for _ in range(2):  # workers that crash before they claim anything
        msgs = wait_for(lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=1,
                                                    WaitTimeSeconds=1).get("Messages"), timeout=10)
        assert jid in msgs[0]["Body"]
        time.sleep(1.1)
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")  # -> DLQ
    swept = h.client.sweep_dead_letters()
    assert swept["failed"] == 1
    job = h.client.get_job(jid)
    assert job.state == "FAILED" and job.reason.startswith("dead-lettered")
    assert queue_depth(h, h.res.dlq_urls[("q1", "d1")]) == 0


def test_dead_letter_of_a_requeued_job_is_ignored(home) -> None:
    """A dead-lettered message older than the job's requeue does not fail the job: a newer
    message carries it."""
    import json

    h = make_aws_host(lease=1.0)
    [jid] = submit(h, 1, "exit 3")
    sqs = h.res.session.client("sqs")
    dlq = h.res.dlq_urls[("q1", "d1")]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"ids": [jid]}))  # an old copy
    time.sleep(1.2)
    t = transport(h, "w-a", lease=1.0, retry_exit_codes=(3,))
    [c] = take(t, 1)
    t.report(Result(c, "exit", 3, time.time(), time.time()))  # retry: requeued, re-sent
    t.close()
    it = items(h, [jid])[jid]
    assert it["state"] == "QUEUED" and "exit code 3" in it["reason"]
    assert queue_depth(h) == 1
    assert h.client.sweep_dead_letters() == {"messages": 1, "failed": 0, "requeued": 0, "kept": 0}
    assert items(h, [jid])[jid]["state"] == "QUEUED" and queue_depth(h, dlq) == 0


def test_sigterm_requeues_without_using_a_retry(home) -> None:
    h = make_aws_host(lease=5.0)
    [jid] = submit(h, 1, "sleep 30", retries=1)
    env = dict(os.environ, HYPER_HOST=h.name, HYPER_MAIN_REGION="us-east-1",
               HYPER_JOBS_TABLE=h.res.table, HYPER_WORK_QUEUE_URL=h.res.work_urls[("q1", "d1")],
               HYPER_LOG_GROUP=h.res.log_group, HYPER_QUEUE="q1", HYPER_DEFINITION="d1",
               HYPER_REGION="us-east-1", HYPER_LEASE_SECONDS="5", HYPER_POLL_WAIT="1")
    proc = subprocess.Popen([sys.executable, "-m", "worker", "--transport", "aws",
                             "--worker-id", "w-spot", "--idle-timeout", "30", "--heartbeat", "0.5"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: items(h, [jid])[jid]["state"] == "RUNNING", timeout=20, what="running")
        proc.send_signal(signal.SIGTERM)  # a spot interruption notice
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    it = items(h, [jid])[jid]
    assert it["state"] == "QUEUED", (it, proc.stderr.read().decode() if proc.stderr else "")
    assert it["reason"].startswith("requeued without using a retry")
    assert it["attempt"] == 1 and it["retries"] == 2  # the attempt was given back
    assert it["history"][-1]["outcome"] == "interrupted"
    # It is on the work queue again and the next worker runs it as attempt 2.
    t = transport(h, "w-next", lease=5.0)
    [c] = wait_for(lambda: take(t, 1), timeout=10, what="requeued job")
    assert c.key == jid and c.attempt == 2


def test_cancel_kills_the_running_job(aws_host: AwsHost) -> None:
    h = aws_host
    [jid] = submit(h, 1, "sleep 60")
    t = transport(h, "w-c", cancel_poll=0.2)
    agent = Agent(t, AgentOptions(idle_timeout=0.5, heartbeat_every=0.5, max_jobs=1))
    th = threading.Thread(target=agent.run)
    th.start()
    wait_for(lambda: items(h, [jid])[jid]["state"] == "RUNNING", timeout=20)
    [r] = h.client.cancel([jid])
    assert r.outcome == "cancelled" and r.before == "RUNNING"
    t0 = time.monotonic()
    th.join(timeout=20)
    assert not th.is_alive() and time.monotonic() - t0 < 10
    it = items(h, [jid])[jid]
    assert it["state"] == "CANCELLED" and it["history"][-1]["outcome"] == "cancelled"
    t.close()


def _worker_session(h: AwsHost, calls: list[tuple[float, str, str]]):
    """A session of the worker's own (its requests alone), recording (time, operation, queue
    name or "") of each request."""
    from hyper_tui.aws.session import AwsSession

    session = AwsSession(h.res.session.region)

    def record(model=None, params=None, **kw) -> None:
        url = (params or {}).get("QueueUrl") or (params or {}).get("QueueName") or ""
        calls.append((time.monotonic(), model.name, url.rsplit("/", 1)[-1]))

    session.register("provide-client-params", record)
    return session


def test_a_30s_job_at_the_default_lease_learns_of_its_cancel_through_two_requests(
        aws_host: AwsHost) -> None:
    """The agent running a silent job at the host's default lease (heartbeats 20 s apart):
    for its first 30 s, what it spends on cancel detection is the long polls of its worker's
    control queue (20 s each: 2 requests), never a control read (BatchGetItem) nor a GetItem;
    besides them, a heartbeat and lease extension per third of the lease and its log. A cancel
    then reaches the job through the control queue at once (well within CANCEL_NOTICE_S)."""
    from hyper_tui.agent.transports.aws import CANCEL_NOTICE_S
    from hyper_tui.aws import control

    h = aws_host
    [jid] = submit(h, 1, "sleep 120")
    calls: list[tuple[float, str, str]] = []
    t = AwsTransport.for_host(h.cfg, worker_id="w-lease", queue="q1", definition="d1",
                              session=_worker_session(h, calls), poll_wait=0,
                              lease=schema.LEASE_SECONDS)
    ctl = schema.control_queue_name(h.name, "w-lease")
    assert t.beat_every == schema.LEASE_SECONDS / 3 > 3 * CANCEL_NOTICE_S
    agent = Agent(t, AgentOptions(idle_timeout=0.5, heartbeat_every=1.0, max_jobs=1))
    th = threading.Thread(target=agent.run)
    th.start()
    wait_for(lambda: items(h, [jid])[jid]["state"] == "RUNNING", timeout=30)
    started = next(at for at, name, q in calls if name == "UpdateItem")  # its start
    assert [q for _, name, q in calls if name == "CreateQueue"] == [ctl]  # before the start
    wait_for(lambda: time.monotonic() - started >= 30, timeout=40, interval=0.2,
             what="30 s of running")
    cancelled_at, c0 = time.time(), time.monotonic()
    [r] = h.client.cancel([jid])
    assert r.outcome == "cancelled" and r.before == "RUNNING"
    t0 = time.monotonic()
    th.join(timeout=30)
    assert not th.is_alive()
    it = items(h, [jid])[jid]
    assert it["state"] == "CANCELLED" and it["history"][-1]["outcome"] == "cancelled"
    took = float(it["history"][-1]["ended"]) - cancelled_at  # to the job's process ending
    assert took < CANCEL_NOTICE_S, f"the cancel took {took:.1f}s to reach the job"
    during = [(name, q) for at, name, q in calls if started < at < t0]
    detection = [(name, q) for at, name, q in calls if started < at < c0
                 and (q == ctl or name in ("BatchGetItem", "GetItem", "Query"))]
    by = {n: [x for x, _ in during].count(n) for n, _ in during}
    print(f"\nrunning {t0 - started:.1f}s at lease {schema.LEASE_SECONDS}s: {by}; "
          f"cancel detection: {detection}; the job ended {took:.1f}s after its cancel")
    assert detection == [("ReceiveMessage", ctl)] * 2, detection
    assert by.get("UpdateItem", 0) <= 1 and by.get("ChangeMessageVisibilityBatch", 0) <= 1
    assert by.get("PutLogEvents", 0) <= 2  # the start's records, then the heartbeat's
    assert set(by) <= {"ReceiveMessage", "UpdateItem", "ChangeMessageVisibilityBatch",
                       "PutLogEvents", "CreateLogStream", "DeleteMessageBatch"}, by
    t.close()
    sqs = h.res.session.client("sqs")
    assert not sqs.list_queues(QueueNamePrefix=ctl).get("QueueUrls")  # deleted at close
    assert control.RETENTION_S <= 3600


def test_a_lost_cancel_notice_is_caught_by_the_heartbeat(aws_host: AwsHost, monkeypatch) -> None:
    """A notice that never reaches the worker (sent to a queue that is not there) is caught
    by the heartbeat's conditional write (a third of the lease later), with no control read:
    the control queue itself stays healthy."""
    from hyper_tui.aws.client import AwsHostClient

    h = aws_host
    [jid] = submit(h, 1, "sleep 120")
    calls: list[tuple[float, str, str]] = []
    t = AwsTransport.for_host(h.cfg, worker_id="w-lost", queue="q1", definition="d1",
                              session=_worker_session(h, calls), poll_wait=0, lease=9.0)
    agent = Agent(t, AgentOptions(idle_timeout=0.5, heartbeat_every=1.0, max_jobs=1))
    th = threading.Thread(target=agent.run)
    th.start()
    wait_for(lambda: items(h, [jid])[jid]["state"] == "RUNNING", timeout=30)
    wait_for(lambda: any(name == "ReceiveMessage" and q.startswith(
        schema.control_queue_prefix(h.name)) for _, name, q in calls), timeout=10,
             what="the control queue's first long poll")
    nowhere = h.res.work_urls[("q1", "d1")].rsplit("/", 1)[0] + "/no-such-queue"
    monkeypatch.setattr(AwsHostClient, "control_url", lambda self, worker: nowhere)
    cancelled_at = time.time()
    [r] = h.client.cancel([jid])
    assert r.outcome == "cancelled" and r.before == "RUNNING"
    th.join(timeout=30)
    assert not th.is_alive()
    it = items(h, [jid])[jid]
    assert it["state"] == "CANCELLED" and it["history"][-1]["outcome"] == "cancelled"
    took = float(it["history"][-1]["ended"]) - cancelled_at
    assert took < t.beat_every + 5, f"the heartbeat caught the cancel after {took:.1f}s"
    assert t._control is not None and t._control.healthy
    started = next(at for at, name, _ in calls if name == "UpdateItem")  # its start
    assert not [name for at, name, _ in calls
                if at > started and name in ("BatchGetItem", "GetItem")]  # no control read
    t.close()


def test_control_queue_is_encrypted_tls_only_and_swept_when_its_worker_died(
        aws_host: AwsHost) -> None:
    """The worker's control queue: SSE, a TLS-only policy, short retention. A worker that
    died without deleting its queue: the sweep deletes it once untouched for ``stale_after``;
    a live worker's (touched since) stays; a sweep looks at ``max_checks`` queues at most."""
    import json

    from hyper_tui.aws import control

    h = aws_host
    sqs = h.res.session.client("sqs")
    work = h.res.work_urls[("q1", "d1")]
    dead = control.create_control_queue(sqs, h.name, "w-dead", work, "us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["MessageRetentionPeriod"] == str(control.RETENTION_S)
    [deny] = json.loads(attrs["Policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}}
    live = control.create_control_queue(sqs, h.name, "w-live", work, "us-east-1")
    wait_for(lambda: time.time() - float(sqs.get_queue_attributes(
        QueueUrl=dead, AttributeNames=["LastModifiedTimestamp"])["Attributes"][
        "LastModifiedTimestamp"]) >= 3, timeout=10, interval=0.2, what="an untouched queue")
    control.touch(sqs, live)
    out = control.sweep_control_queues(sqs, h.name, now=time.time(), stale_after=2.5)
    assert out == {"queues": 2, "checked": 2, "deleted": 1}
    left = sqs.list_queues(QueueNamePrefix=schema.control_queue_prefix(h.name))["QueueUrls"]
    assert left == [live]
    assert sqs.list_queues(QueueNamePrefix=schema.work_queue_name(h.name, "q1", "d1"))[
        "QueueUrls"]  # the work queues are not control queues
    # A work queue whose name the prefix lists (a queue named "ctl") is never deleted.
    odd = sqs.create_queue(QueueName=schema.work_queue_name(h.name, "ctl", "d1"), Attributes={
        "MessageRetentionPeriod": str(14 * 86400)})["QueueUrl"]
    out = control.sweep_control_queues(sqs, h.name, now=time.time() + 3600)
    assert out == {"queues": 2, "checked": 2, "deleted": 1}  # the live one, untouched since
    assert sqs.list_queues(QueueNamePrefix=schema.control_queue_prefix(h.name))[
        "QueueUrls"] == [odd]
    for i in range(3):
        control.create_control_queue(sqs, h.name, f"w-more-{i}", work, "us-east-1")
    # A minute that is a multiple of 6: with 4 queues, then 3, each sweep starts at the first.
    later = (int(time.time() // 60) // 6 * 6 + 120) * 60.0
    out = control.sweep_control_queues(sqs, h.name, now=later, max_checks=2)
    assert out == {"queues": 4, "checked": 2, "deleted": 1}  # the work queue, and w-more-0
    out = control.sweep_control_queues(sqs, h.name, now=later, max_checks=2)
    assert out == {"queues": 3, "checked": 2, "deleted": 1}  # the work queue, and w-more-1
    out = control.sweep_control_queues(sqs, h.name, now=later + 60, max_checks=2)
    assert out == {"queues": 2, "checked": 2, "deleted": 1}  # the next minute: w-more-2


def test_cancel_is_learnt_within_5s_without_a_read_per_job(aws_host: AwsHost) -> None:
    """Without a control queue (``push=False``: a worker that may not create one, on a host
    deployed before them), at the production lease (heartbeats 20 s apart), a worker running
    3 jobs learns of a cancel within CANCEL_NOTICE_S from one control read for all of them (a
    BatchGetItem), never a GetItem per job; at a short lease (heartbeats 5 s apart) the
    heartbeat's own conditional write tells, and nothing else is read."""
    from hyper_tui.agent.transports.aws import CANCEL_NOTICE_S

    h = aws_host
    ids = submit(h, 3, "sleep 60")
    t = transport(h, "w-n", lease=60.0, push=False)
    running = take(t, 3)
    assert len(running) == 3 and t.beat_every > CANCEL_NOTICE_S
    calls: list[str] = []
    h.res.session.register("provide-client-params.dynamodb",
                           lambda model=None, **kw: calls.append(model.name))
    h.client.cancel([ids[1]])
    calls.clear()
    t0 = time.monotonic()
    while not any(t.is_cancelled(c) for c in running):
        assert time.monotonic() - t0 < CANCEL_NOTICE_S + 1, "the cancel was not learnt in time"
        time.sleep(0.25)
    assert [c.key for c in running if t.is_cancelled(c)] == [ids[1]]
    assert calls == ["BatchGetItem"], calls  # one read for the worker's 3 jobs
    short = transport(h, "w-s", lease=15.0)
    assert short.beat_every <= CANCEL_NOTICE_S
    calls.clear()
    short._running = {c.key: c for c in running}
    for _ in range(8):
        short.is_cancelled(running[0])
    assert calls == []  # between heartbeats nothing is read
    t.close()
    short.close()


def test_cancelled_queued_job_is_never_run(aws_host: AwsHost) -> None:
    h = aws_host
    ids = submit(h, 3, "true")
    h.client.cancel([ids[1]])
    t = transport(h, "w-q")
    claims = take(t, 10)
    assert sorted(c.key for c in claims) == sorted([ids[0], ids[2]])
    for c in claims:
        t.report(Result(c, "exit", 0, time.time(), time.time()))
    t.close()
    assert queue_depth(h) == 0


def test_long_job_hands_the_rest_of_its_message_back(aws_host: AwsHost) -> None:
    h = aws_host
    ids = submit(h, 5, "true")  # one message of five ids
    a = transport(h, "w-long", handback_after=0.2)
    [first] = take(a, 1)
    time.sleep(0.3)
    a._last_beat = 0
    a.heartbeat([first])  # the job runs long: the 4 others go back, one per message
    b = transport(h, "w-other")
    got = wait_for(lambda: take(b, 10), timeout=10)
    got += take(b, 10)
    assert sorted(c.key for c in got) == sorted(set(ids) - {first.key})
    assert all(c.attempt == 1 for c in got)


def test_timeout_and_bad_message(aws_host: AwsHost) -> None:
    h = aws_host
    [jid] = submit(h, 1, "sleep 5", timeout=0.5)
    h.res.session.client("sqs").send_message(QueueUrl=h.res.work_urls[("q1", "d1")],
                                             MessageBody="not json")
    t = transport(h, "w-t")
    Agent(t, AgentOptions(idle_timeout=0.5, heartbeat_every=0.5)).run()
    t.close()
    it = items(h, [jid])[jid]
    assert it["state"] == "FAILED" and it["reason"] == "timeout"
    assert queue_depth(h) == 0


def test_worker_environment_settings(aws_host: AwsHost, monkeypatch) -> None:
    h = aws_host
    env = {"HYPER_HOST": h.name, "HYPER_MAIN_REGION": "us-east-1", "HYPER_QUEUE": "q1",
           "HYPER_DEFINITION": "d1", "HYPER_ENABLE_QLOG": "false", "HYPER_LEASE_SECONDS": "9",
           "HYPER_RETRY_EXIT_CODES": "3,4", "HYPER_JOB_ENV": '{"A": "1"}'}
    t = AwsTransport.from_environment(worker_id="w-env", env=env, session=h.res.session)
    assert t.queue_url.endswith(schema.work_queue_name(h.name, "q1", "d1"))
    assert t.keep_output is False and t.lease == 9.0 and t.retry_exit_codes == (3, 4)
    assert t.table == schema.jobs_table_name(h.name) and t.def_env == {"A": "1"}
    from hyper_tui.core.errors import UsageError

    try:
        AwsTransport.from_environment(worker_id="w", env={}, session=h.res.session)
    except UsageError as err:
        assert "HYPER_HOST" in str(err)
    else:
        raise AssertionError("missing HYPER_* variables must be a clear error")


def test_a_batch_worker_gets_the_hosts_settings(aws_host: AwsHost) -> None:
    """A Batch worker's environment is its job definition's (``plan.worker_environment``) with
    the scaler's overrides (``launcher.worker_environment``): the transport it builds from them
    has the host's lease, retention and log cap, the definition's retry codes, and passes the
    definition's environment to jobs. (It once ran on the transport's defaults.)"""
    from hyper_tui.aws.infra import plan
    from hyper_tui.aws.launcher import worker_environment
    from hyper_tui.aws.scaler_config import build_scaler_config

    h = aws_host
    cfg = h.cfg
    cfg.host.settings.lease_seconds, cfg.host.settings.job_retention_days = 45.0, 7
    cfg.host.settings.log_cap_bytes = 123_456
    d = cfg.definitions["d1"]
    d.retry_exit_codes, d.environment = [3, 75], {"MODE": "fast", "SEED": "7"}
    sc = build_scaler_config(cfg)
    [pair] = [p for p in sc.pairs if (p.queue, p.definition) == ("q1", "d1")]
    pair.work_queue_url = h.res.work_urls[("q1", "d1")]
    env = {**plan.worker_environment(cfg, d, "us-east-1"),
           **worker_environment(sc, pair, "us-east-1")}
    t = AwsTransport.from_environment(worker_id="w-batch", env=env, session=h.res.session)
    assert (t.lease, t.retention_s, t.log_cap) == (45.0, 7 * 86400, 123_456)
    assert t.retry_exit_codes == (3, 75) and t.def_env == {"MODE": "fast", "SEED": "7"}
    t.close()


def test_hyper_tui_worker_command_runs_jobs_of_an_aws_host(aws_host: AwsHost) -> None:
    """``hyper-tui worker --host NAME --queue Q``: the same agent on any machine with
    credentials (a subprocess: the agent adopts and kills its children between jobs)."""
    h = aws_host
    ids = submit(h, 3, "echo on-prem $HYPER_QUEUE")
    proc = subprocess.run([sys.executable, "-m", "hyper_tui.cli.main", "--host", h.name, "worker",
                           "--queue", "q1", "--definition", "d1", "--idle-timeout", "1"],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HYPER_POLL_WAIT="1"))
    assert proc.returncode == 0, proc.stderr
    assert "ran 3 job(s)" in proc.stdout
    assert all(it["state"] == "SUCCEEDED" for it in items(h, ids).values())
    recs = h.client.logs(ids[0]).records
    assert ("STDOUT", "on-prem q1") in [(r.type, r.data) for r in recs]


def test_dead_letter_requeue_killed_before_sending_is_sent_again(home, monkeypatch) -> None:
    """The dead-letter sweep requeues the job of a lost worker; killed after the table write
    and before the send, its outbox entry makes the next pass send it again."""
    import pytest

    from hyper_tui.aws import dead_letters, outbox

    h = make_aws_host(lease=1.0, max_receives=1)
    [jid] = submit(h, 1, "true")
    dead = transport(h, "w-dead")
    assert [c.job_id for c in take(dead, 1)] == [jid]  # then it dies: no heartbeat, no report
    time.sleep(1.3)
    sqs = h.res.session.client("sqs")
    assert not sqs.receive_message(QueueUrl=h.res.work_urls[("q1", "d1")],
                                   WaitTimeSeconds=1).get("Messages")  # redriven to the DLQ

    kill_at(monkeypatch, dead_letters, "send_ids")
    with pytest.raises(Killed):
        h.client.sweep_dead_letters()
    monkeypatch.undo()
    assert items(h, [jid])[jid]["state"] == "QUEUED" and queue_depth(h) == 0
    resent = outbox.sweep_outbox(h.res.session.client("dynamodb"), sqs, h.res.table,
                                 lambda q, d: h.res.work_urls[(q, d)], stale_s=0)
    assert resent == 1 and queue_depth(h) == 1
    live = transport(h, "w-live")
    n = Agent(live, AgentOptions(idle_timeout=0.5, heartbeat_every=0.2)).run()
    assert n == 1 and items(h, [jid])[jid]["state"] == "SUCCEEDED"
