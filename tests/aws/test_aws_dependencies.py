"""Holds and dependencies on an aws host, against moto: qsub --hold/--depend, qrls, and the
scaler pass that queues (or cancels) dependent jobs."""

from __future__ import annotations

import importlib

from hyper_tui.aws import schema
from hyper_tui.aws.scaler import run_scaler
from hyper_tui.aws.scaler_config import build_scaler_config
from hyper_tui.core.jobs import ArraySpec, Submission
from tests.aws.conftest import AwsHost, Killed, kill_at
from tests.aws.test_aws_client import run_worker


def q(capsys, cmd: str, *args: str) -> tuple[int, str, str]:
    code = importlib.import_module(f"hyper_tui.qcmd.{cmd}").main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def scaler_pass(h: AwsHost) -> dict:
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    out = run_scaler(sc, h.res.session, sweep=False, publish=False, launch=False)
    assert out["errors"] == []
    return out["dependencies"]


def messages(h: AwsHost) -> int:
    sqs = h.res.session.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=h.res.work_urls[("q1", "d1")],
                                     AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def state(h: AwsHost, ref: str) -> str:
    return h.client.get_job(ref).state


def test_dependencies_wait_then_run_or_are_cancelled(aws_host: AwsHost, capsys) -> None:
    h = aws_host
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "--", "true")
    assert code == 0, err
    first = out.strip()
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "-J", "1-3", "--", "false")
    assert code == 0, err
    arr = out.strip()
    subs = {}
    for name, dep in (("ok", f"afterok:{first}"), ("any", f"afterany:{arr}"),
                      ("notok", f"afternotok:{first}"), ("arr-ok", f"afterok:{arr}")):
        code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "-N", name,
                           "--depend", dep, "--", "true")
        assert code == 0, err
        subs[name] = out.strip()
    job = h.client.get_job(subs["ok"])
    assert job.state == "PENDING" and job.why == f"waiting for {first} to succeed"
    assert [d.to_dict() for d in job.depends] == [{"kind": "afterok", "on": first}]
    assert h.client.get_job(subs["any"]).why == f"waiting for {arr} to end"
    assert messages(h) == 1 + 3  # the first job, the array (a burst: a task a message), no dependent

    assert scaler_pass(h) == {"released": 0, "cancelled": 0, "waiting": 4, "held": 0}
    run_worker(h)  # runs the first job and the array (whose tasks fail)
    assert state(h, first) == "SUCCEEDED" and state(h, arr) == "FAILED"
    got = scaler_pass(h)
    assert got == {"released": 2, "cancelled": 2, "waiting": 0, "held": 0}
    assert state(h, subs["notok"]) == "CANCELLED"
    assert h.client.get_job(subs["arr-ok"]).why == f"dependency {arr} can never be satisfied"
    assert [state(h, subs[n]) for n in ("ok", "any")] == ["QUEUED", "QUEUED"]
    run_worker(h)
    assert [state(h, subs[n]) for n in ("ok", "any")] == ["SUCCEEDED", "SUCCEEDED"]
    assert scaler_pass(h) == {"released": 0, "cancelled": 0, "waiting": 0, "held": 0}


def test_hold_and_qrls(aws_host: AwsHost, capsys) -> None:
    h = aws_host
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "--hold", "-J", "0-1", "--",
                       "true")
    assert code == 0, err
    held = out.strip()
    code, out, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "-h", "--depend",
                       f"afterok:{held}", "--", "true")
    assert code == 0, err
    after = out.strip()
    assert h.client.get_job(held).why == "held; release with qrls" and messages(h) == 0
    assert scaler_pass(h)["held"] == 3  # held jobs are never released by the scaler
    code, out, err = q(capsys, "qrls", "--host", "acme", held, after, held)
    assert code == 0, err
    assert out.splitlines() == [f"{held}: released", f"{after}: released", f"{held}: not held"]
    assert state(h, held) == "QUEUED" and messages(h) == 2  # its two tasks, one a message
    job = h.client.get_job(after)
    assert job.state == "PENDING" and job.why == f"waiting for {held} to succeed"
    run_worker(h)
    assert scaler_pass(h)["released"] == 1
    run_worker(h)
    assert state(h, after) == "SUCCEEDED"


def test_cancelled_while_pending_stays_cancelled(aws_host: AwsHost) -> None:
    h = aws_host
    [first] = h.client.submit([Submission("q1", "d1", "a", argv=["true"])])
    [dep] = h.client.submit([Submission("q1", "d1", "b", argv=["true"],
                                        depends=[("afterok", first)], array=ArraySpec(1, 2))])
    assert [r.outcome for r in h.client.cancel([dep])] == ["cancelled"] * 2
    run_worker(h)
    assert scaler_pass(h) == {"released": 0, "cancelled": 0, "waiting": 0, "held": 0}
    assert state(h, dep) == "CANCELLED"
    ddb = h.res.session.client("dynamodb")
    item = ddb.get_item(TableName=h.res.table, Key={"id": {"S": schema.array_task_id(dep[:-2], 1)}})
    assert schema.ACTIVE_KEY not in item["Item"]  # left the active index with its cancel


def test_bad_dependencies_are_refused_and_nothing_is_written(aws_host: AwsHost, capsys) -> None:
    h = aws_host
    code, _, err = q(capsys, "qsub", "--host", "acme", "-q", "q1", "--depend",
                     "afterok:0190a1b2c3d4e5k7m9p2", "--", "true")
    assert code == 4 and "--depend: no job 0190a1b2c3d4e5k7m9p2" in err
    assert h.client.count_jobs(queue="q1").total == 0


def test_a_submit_killed_before_sending_loses_no_job(aws_host: AwsHost, monkeypatch) -> None:
    """kill -9 between writing the job items and sending their ids (simulated: the send never
    happens and the process stops there): the outbox entry makes the scaler send them again,
    and each job runs once."""
    import pytest

    from hyper_tui.aws import outbox

    h = aws_host
    kill_at(monkeypatch, outbox, "send_ids")
    with pytest.raises(Killed):
        h.client.submit([Submission("q1", "d1", "stranded", argv=["true"], array=ArraySpec(1, 3))])
    monkeypatch.undo()
    assert messages(h) == 0
    assert h.client.count_jobs(queue="q1")["QUEUED"] == 3
    sc = build_scaler_config(h.cfg)
    sc.pairs[0].work_queue_url = h.res.work_urls[("q1", "d1")]
    out = run_scaler(sc, h.res.session, sweep=False, publish=False, launch=False)
    assert out["resent_from_outbox"] == 0  # too fresh: its writer may still be sending
    monkeypatch.setattr(outbox, "STALE_S", 0.0)
    out = run_scaler(sc, h.res.session, sweep=False, publish=False, launch=False)
    assert out["errors"] == [] and out["resent_from_outbox"] == 3 and messages(h) > 0
    run_worker(h)
    assert h.client.count_jobs(queue="q1")["SUCCEEDED"] == 3
    again = run_scaler(sc, h.res.session, sweep=False, publish=False, launch=False)
    assert again["resent_from_outbox"] == 0  # the entry is gone


def test_a_clean_submit_leaves_no_outbox_entry(aws_host: AwsHost) -> None:
    from hyper_tui.aws.outbox import OUTBOX_SHARD

    h = aws_host
    h.client.submit([Submission("q1", "d1", "ok", argv=["true"])])
    ddb = h.res.session.client("dynamodb")
    resp = ddb.query(TableName=h.res.table, IndexName="by_active",
                     KeyConditionExpression="#k = :k",
                     ExpressionAttributeNames={"#k": schema.ACTIVE_KEY},
                     ExpressionAttributeValues={":k": {"S": OUTBOX_SHARD}})
    assert resp["Items"] == []
