"""The aws host client through the q-commands and the HostClient interface, against moto."""

from __future__ import annotations

import importlib
import io
import json
import time

import pytest

from hyper_tui.agent.loop import Agent, AgentOptions
from hyper_tui.agent.transports.aws import AwsTransport
from hyper_tui.aws import schema
from hyper_tui.aws.table import batch_get, from_item
from hyper_tui.core.errors import NotFoundError, UnavailableError, UsageError
from hyper_tui.core.jobs import ArraySpec, Submission
from tests.aws.conftest import AwsHost


def q(capsys, cmd: str, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        import sys

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = importlib.import_module(f"hyper_tui.qcmd.{cmd}").main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_worker(h: AwsHost, wid: str = "w-1", *, jobs: int | None = None) -> int:
    """A worker until idle for half a second, or, given ``jobs``, until it has run that many
    (idle for 30 s at most: a loaded machine must not end it early)."""
    t = AwsTransport.for_host(h.cfg, worker_id=wid, queue="q1", definition="d1",
                              session=h.res.session, poll_wait=0)
    opts = AgentOptions(idle_timeout=0.5, heartbeat_every=0.5) if jobs is None else \
        AgentOptions(idle_timeout=30.0, heartbeat_every=0.5, max_jobs=jobs)
    n = Agent(t, opts).run()
    t.close()
    return n


def test_qsub_qstat_qdel_qlog(aws_host: AwsHost, capsys, monkeypatch, tmp_path) -> None:
    h = aws_host
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n#PBS -N hello\necho hello from $HYPER_JOB_NAME\n")
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", str(script))
    assert code == 0, err
    jid = out.strip()
    assert len(jid) == 20
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "-J", "1-4", "-c", "echo $HYPER_ARRAY_INDEX")
    assert code == 0, err
    arr = out.strip()
    assert arr.endswith("[]")
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "--stdin", "-j", "many",
                       stdin="echo a\necho b\nexit 4\n", monkeypatch=monkeypatch)
    assert code == 0, err
    batch = out.split()
    assert len(batch) == 3

    code, out, err = q(capsys, "qstat", "--host", "acme")
    assert code == 0, err
    assert out.splitlines()[1].split()[:3] == ["q1", "0", "8"]
    code, out, _ = q(capsys, "qstat", "--host", "acme", "-q", "q1")
    assert "Total: 8" in out and "QUEUED" in out and arr.replace("[]", "[4]") in out
    code, out, _ = q(capsys, "qstat", "--host", "acme", "-j", "many", "--only-job-id-out")
    assert sorted(out.split()) == sorted(batch)

    code, out, err = q(capsys, "qdel", "--host", "acme", batch[0])
    assert code == 0 and "cancelled (was QUEUED)" in out, err
    assert run_worker(h) == 7

    code, out, _ = q(capsys, "qstat", "--host", "acme", "-i", jid)
    assert "SUCCEEDED" in out and "hello" in out and "attempts:" in out
    code, out, _ = q(capsys, "qstat", "--host", "acme", "-i", batch[2], "-o", "json")
    d = json.loads(out)
    assert d["state"] == "FAILED" and d["exit_code"] == 4 and d["reason"] == "exit code 4"
    code, out, _ = q(capsys, "qstat", "--host", "acme", "-q", "q1", "-s", "SUCCEEDED", "--limit", "2")
    assert "(showing 2 of 6" in out  # of the 6 SUCCEEDED (the hint honours -s; issue 11)

    code, out, err = q(capsys, "qlog", "--host", "acme", jid)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("SYSTEM |") and "submitted to queue q1" in lines[0]
    assert any(line.startswith("STDOUT |") and line.endswith("hello from hello") for line in lines)
    code, out, _ = q(capsys, "qlog", "--host", "acme", arr.replace("[]", "[3]"), "-t", "STDOUT")
    assert out.strip().endswith("| 3")
    code, out, _ = q(capsys, "qlog", "--host", "acme", batch[0])
    assert "cancelled: cancelled by qdel" in out
    code, out, err = q(capsys, "qlog", "--host", "acme", arr)
    assert code == 2 and "array of 4 tasks" in err

    code, out, _ = q(capsys, "qdel", "--host", "acme", "-q", "q1", "--all")
    assert out == "no jobs matched\n"  # --all takes the active jobs; these are all done
    code, out, err = q(capsys, "qstat", "--host", "acme", "-i", "nosuchjob")
    assert code == 4 and "no job nosuchjob" in err


def test_qlog_follow_waits_for_the_end(aws_host: AwsHost, capsys) -> None:
    import threading

    h = aws_host
    [jid] = h.client.submit([Submission(queue="q1", definition="d1", name="f",
                                        command="echo one; sleep 1; echo two")])
    th = threading.Thread(target=run_worker, args=(h,))
    th.start()
    try:
        from hyper_tui.qcmd import qlog

        assert qlog.main(["--host", h.name, jid, "-f"]) == 0
    finally:
        th.join()
    out = capsys.readouterr().out
    assert out.index("| one") < out.index("| two") < out.index("exit code 0")


def test_array_tasks_and_job_views(aws_host: AwsHost) -> None:
    h = aws_host
    [arr] = h.client.submit([Submission(queue="q1", definition="d1", name="sweep",
                                        command="echo N", array_params=[{"N": "x"}, {"N": "y"}])])
    base = arr[:-2]
    job = h.client.get_job(arr)
    assert job.array_size == 2 and job.array_states == {"QUEUED": 2}
    assert job.command == "echo N" and job.params == {"N": "x"}
    assert h.client.get_job(f"{base}[1]").params == {"N": "y"}
    assert len(h.client.find(base)) == 2
    # One spec item for the script, one small item per task.
    raw = batch_get(h.res.session.client("dynamodb"), h.res.table, [schema.array_spec_id(base)])
    assert raw[schema.array_spec_id(base)]["command"] == "echo N"
    run_worker(h)
    recs = h.client.logs(f"{base}[1]").records
    assert ("STDOUT", "y") in [(r.type, r.data) for r in recs]
    assert h.client.job_finished(arr)
    assert [j.job_id for j in h.client.list_jobs(queue="q1", limit=1, offset=1)] == [f"{base}[0]"]


def test_submit_errors_are_one_line(aws_host: AwsHost, monkeypatch) -> None:
    h = aws_host
    with pytest.raises(NotFoundError, match="no queue named 'nope'"):
        h.client.submit([Submission(queue="nope", definition="d1", name="x", command="true")])
    with pytest.raises(UsageError, match="max-running"):
        h.client.submit([Submission(queue="q1", definition="d1", name="x", command="true",
                                    array=ArraySpec(0, 3, 1, 2))])

    # Enqueueing fails for some ids: those jobs FAIL with the reason, the caller is told.
    import hyper_tui.aws.outbox as mod

    real = mod.send_ids

    def flaky(sqs, url, ids, **kw):
        sent = real(sqs, url, ids[:2], **kw)
        return sent | set(ids[2:])

    monkeypatch.setattr(mod, "send_ids", flaky)
    with pytest.raises(UnavailableError, match="could not be queued") as e:
        h.client.submit([Submission(queue="q1", definition="d1", name=f"n{i}", command="true")
                         for i in range(4)])
    assert "submitted:" in str(e.value)
    counts = h.client.count_jobs(queue="q1")
    assert counts["QUEUED"] == 2 and counts["FAILED"] == 2
    failed = h.client.list_jobs(queue="q1", state="FAILED")
    assert all(j.reason.startswith("could not be queued") for j in failed)


def test_missing_table_is_a_clear_error(home, capsys) -> None:
    from tests.aws import moto_env

    moto_env.make_host()  # declared but never deployed
    code, out, err = q(capsys, "qstat", "--host", "acme", "-q", "q1")
    assert code == 4 and err.count("\n") == 1 and "Traceback" not in err
    assert "is the host deployed" in err


def test_metrics_read_back(aws_host: AwsHost) -> None:
    from hyper_tui.aws.counters import totals_since
    from hyper_tui.aws.scaler import PairObservation, publish_metrics
    from hyper_tui.aws.scaler_config import build_scaler_config

    h = aws_host
    t0 = time.time()
    ddb = h.res.session.client("dynamodb")
    totals_since(ddb, h.res.table, ["q1"])  # the first pass: where Submitted starts
    h.client.submit([Submission(queue="q1", definition="d1", name="m", command="true")
                     for _ in range(3)])
    sc = build_scaler_config(h.cfg)
    obs = {("q1", "d1"): PairObservation(queued=7, running=2, workers={"us-east-1": 3})}
    totals = totals_since(ddb, h.res.table, ["q1"])  # a pass: what came since, from the counters
    assert publish_metrics(h.res.session.client("cloudwatch"), sc, sc.pairs, obs, {"q1": 1},
                           totals) >= 7
    m = h.client.metrics(t0 - 120)
    # The scaler's published gauges, then the live counts (the counter items) as the last point.
    assert m["jobs_queued"]["q1"][-2][1] == 7 and m["jobs_queued"]["q1"][-1][1] == 3
    assert m["jobs_running"]["q1"][-2][1] == 2 and m["jobs_running"]["q1"][-1][1] == 0
    assert m["workers"]["us-east-1"][-1][1] == 3
    assert m["vcpus"]["us-east-1"][-1][1] == 3
    assert m["backlog"]["d1"][-1][1] == 7
    assert m["submitted_per_s"][""][-1][1] == pytest.approx(3 / 60)


def test_status_and_resources(aws_host: AwsHost) -> None:
    h = aws_host
    cf = h.res.session.client("cloudformation")
    cf.create_stack(StackName=schema.control_stack_name(h.name, "us-east-1"), TemplateBody=json.dumps(
        {"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}))
    st = h.client.status()
    assert st.kind == "aws" and st.details["stacks"][0]["status"] == "CREATE_COMPLETE"
    # one stack of two: the host is partly deployed, not "not deployed" (nor healthy)
    assert st.details["stacks"][1]["status"] == "NOT_DEPLOYED" and st.state == "PARTIAL"
    assert not st.healthy and st.summary.startswith("partly deployed")
    assert h.client.stack_events()[0]["status"]
    status = h.client.resource_status("queues")
    assert status[("queues", "q1")][0] in ("CREATING", "ACTIVE")
    assert h.client.workers() == []


def test_submit_through_the_api(aws_host: AwsHost, monkeypatch) -> None:
    """qsub via the submit API: SigV4-signed POST /jobs with the API key, served here by the
    API's own handler (infra/components/api) on a local HTTP server backed by moto."""
    import http.server
    import threading

    from hyper_tui.aws.infra.components.api import handler as api

    h = aws_host
    s = h.res.session
    key = s.client("apigateway").create_api_key(name="k", enabled=True, value="secret-key-123456789")
    conf = api.ApiConfig(host=h.name, table=h.res.table, queues=frozenset({"q1"}),
                         definitions={"d1": {"retries": 2, "timeout": None}})
    backend = api.Backend(conf)
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            auth = self.headers.get("Authorization", "")
            seen.append({"auth": auth, "key": self.headers.get("x-api-key")})
            identity = {"userArn": "arn:aws:iam::123456789012:user/t"} \
                if auth.startswith("AWS4-HMAC-SHA256") and "execute-api" in auth \
                and self.headers.get("x-api-key") == "secret-key-123456789" else {}
            event = {"httpMethod": "POST", "resource": "/jobs", "body": body,
                     "requestContext": {"identity": identity}}
            out = api.handle(event, backend, conf)
            data = out["body"].encode()
            self.send_response(out["statusCode"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from hyper_tui.local.apply import open_store

        store = open_store(h.name)
        store.set_meta("aws_outputs", json.dumps({
            "ApiUrl": f"http://127.0.0.1:{server.server_address[1]}/prod/", "ApiKeyId": key["id"]}))
        store.close()
        from hyper_tui.aws.client import AwsHostClient

        c = AwsHostClient(h.cfg, session=s, submit_via="api")
        ids = c.submit([Submission(queue="q1", definition="d1", name="via-api", command="echo api"),
                        Submission(queue="q1", definition="d1", name="batch",
                                   commands=["echo b0", "echo b1"])])
        assert len(ids) == 3
        assert seen and seen[0]["key"] == "secret-key-123456789"
        from hyper_tui.aws.outbox import OUTBOX_SHARD

        assert s.client("dynamodb").query(  # the API's outbox entry was closed after the send
            TableName=h.res.table, IndexName="by_active", KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": schema.ACTIVE_KEY},
            ExpressionAttributeValues={":k": {"S": OUTBOX_SHARD}})["Items"] == []
        assert c.get_job(ids[0]).name == "via-api"
        assert run_worker(h) == 3
        recs = c.logs(ids[2]).records
        assert ("STDOUT", "b1") in [(r.type, r.data) for r in recs]
        with pytest.raises(NotFoundError):
            c.submit([Submission(queue="q9", definition="d1", name="x", command="true")])
        with pytest.raises(UsageError, match="not arrays"):
            c.submit([Submission(queue="q1", definition="d1", name="a", command="true",
                                 array=ArraySpec(0, 1))])
    finally:
        server.shutdown()


def test_a_job_the_api_could_not_queue_ends_failed_with_its_ttl(aws_host: AwsHost) -> None:
    """The submit API stores a job, then its work message cannot be sent: the job ends FAILED
    with its end time and the host's TTL (it once kept neither, and stayed for ever)."""
    from hyper_tui.aws.infra.components.api import handler as api

    h = aws_host
    conf = api.ApiConfig(host=h.name, table=h.res.table, queues=frozenset({"q1"}),
                         definitions={"d1": {"retries": 2, "timeout": None}}, retention_days=2)
    backend = api.Backend(conf)
    backend.send = lambda queue, definition, bodies: list(bodies)  # SQS refuses every message
    event = {"httpMethod": "POST", "resource": "/jobs", "requestContext": {"identity": {
        "userArn": "arn:aws:iam::123456789012:user/t"}},
        "body": json.dumps({"jobs": [{"queue": "q1", "definition": "d1", "command": "true"}]})}
    before = time.time()
    out = api.handle(event, backend, conf)
    assert out["statusCode"] >= 400 and "could not" in out["body"], out
    items = [from_item(i) for i in h.res.session.client("dynamodb").scan(
        TableName=h.res.table)["Items"] if "queue" in from_item(i)]
    [job] = [i for i in items if i.get("state")]
    assert job["state"] == "FAILED" and job["reason"] == "could not be queued; submit it again"
    assert before <= float(job["ended"]) <= time.time()
    assert abs(int(job[schema.TTL_ATTRIBUTE]) - (float(job["ended"]) + 2 * 86400)) < 2
    assert schema.ACTIVE_KEY not in job


def _active_index(h: AwsHost) -> set[str]:
    ddb = h.res.session.client("dynamodb")
    found: set[str] = set()
    for part in schema.active_partitions("q1"):
        resp = ddb.query(TableName=h.res.table, IndexName="by_active",
                         KeyConditionExpression="#k = :k",
                         ExpressionAttributeNames={"#k": schema.ACTIVE_KEY},
                         ExpressionAttributeValues={":k": {"S": part}})
        found |= {it["id"]["S"] for it in resp.get("Items", [])}
    return found


def test_only_active_jobs_are_in_the_sparse_index(aws_host: AwsHost) -> None:
    """Finished jobs leave by_active (every final state removes its key), so the scaler's
    backlog count and `qstat -s QUEUED` never read the finished jobs a table keeps."""
    from hyper_tui.aws.counters import backlog

    h = aws_host
    done = h.client.submit([Submission(queue="q1", definition="d1", name="done", argv=["true"],
                                       array=ArraySpec(1, 6))])[0][:-2]
    run_worker(h)
    assert h.client.job_finished(f"{done}[]")
    assert _active_index(h) == set()
    queued = h.client.submit([Submission(queue="q1", definition="d1", name="later",
                                         argv=["true"], array=ArraySpec(1, 3))])[0][:-2]
    gone = h.client.submit([Submission(queue="q1", definition="d1", name="gone", argv=["true"])])[0]
    [cancel] = h.client.cancel([gone])
    assert cancel.outcome == "cancelled"
    active = _active_index(h)
    assert active == {schema.array_task_id(queued, i) for i in (1, 2, 3)}
    counts, complete = backlog(h.res.session.client("dynamodb"), h.res.table, "q1")
    assert complete and counts == {("d1", "QUEUED"): 3}
    assert {j.job_id for j in h.client.list_jobs(queue="q1", state="QUEUED")} == {
        f"{queued}[{i}]" for i in (1, 2, 3)}
    assert len(h.client.list_jobs(queue="q1", state="SUCCEEDED")) == 6
    assert h.client.count_jobs(queue="q1")["SUCCEEDED"] == 6


def test_listings_from_the_indexes_show_what_the_table_holds(aws_host: AwsHost) -> None:
    """The indexes project schema.INDEX_ATTRIBUTES only (no heartbeat, no script): a listing
    read from them must still show every field of the job's view, and a heartbeat must not
    be among what they hold."""
    h = aws_host
    h.client.submit([Submission(queue="q1", definition="d1", name="done", argv=["true"],
                                array=ArraySpec(1, 2))])
    run_worker(h)
    [held] = h.client.submit([Submission(queue="q1", definition="d1", name="held", argv=["true"],
                                         hold=True)])
    listed = {j.job_id: j for j in h.client.list_jobs(queue="q1")}
    assert len(listed) == 3
    for job_id, row in listed.items():
        full = h.client.get_job(job_id)
        assert {k: getattr(full, k) for k in row._fields} == row.to_dict(), job_id
    assert listed[held].held == 1 and listed[held].reason == "held; release with qrls"
    ddb = h.res.session.client("dynamodb")
    for index, *_ in schema.INDEXES:
        for it in ddb.scan(TableName=h.res.table, IndexName=index).get("Items", []):
            assert "heartbeat" not in it and "command" not in it and "argv" not in it, index
