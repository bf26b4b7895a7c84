"""Emergency stop, import-deployment and one-line AWS errors, against moto."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from hyper_tui.aws import schema
from hyper_tui.aws.client import AwsHostClient
from hyper_tui.aws.discovery import import_deployment
from hyper_tui.aws.emergency import emergency_stop_aws
from hyper_tui.aws.scaler_config import build_scaler_config
from hyper_tui.aws.session import AwsSession, friendly_error
from hyper_tui.core.jobs import Submission
from hyper_tui.errors import ConflictError, NotFoundError, UnavailableError
from hyper_tui.hosts import registry
from tests.aws import moto_env
from tests.aws.conftest import AwsHost, make_aws_host


def test_emergency_stop_cancels_jobs_and_scales_to_zero(home, capsys) -> None:
    h = make_aws_host()
    s = h.res.session
    names = moto_env.batch_setup(s, h.name, "c1", ["d1"])
    ids = h.client.submit([Submission(queue="q1", definition="d1", name=f"e{i}", command="true")
                           for i in range(5)])
    from hyper_tui.agent.transports.aws import AwsTransport

    t = AwsTransport.for_host(h.cfg, worker_id="w-e", queue="q1", definition="d1", session=s,
                              poll_wait=0)
    running = [c for c in t.reserve(2) if t.start(c)]
    assert len(running) == 2
    s.client("batch").submit_job(jobName="hyper-q1--d1", jobQueue=names["job_queue"],
                                 jobDefinition=schema.batch_job_definition_name(h.name, "d1"))
    from hyper_tui.cli.main import main

    code = main(["--host", "acme", "-o", "json", "emergency-stop", "--yes"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["jobs_cancelled"] == 5 and report["queues_purged"] == 1
    assert report["compute_environments_stopped"] == 1 and report["errors"] == []
    counts = h.client.count_jobs(queue="q1")
    assert counts["CANCELLED"] == 5, counts
    t._last_beat -= t.beat_every  # the next heartbeat is due (a cancel is learnt within 5 s)
    assert all(t.is_cancelled(c) for c in running)  # the workers kill their jobs
    attrs = s.client("sqs").get_queue_attributes(QueueUrl=h.res.work_urls[("q1", "d1")],
                                                 AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    # moto accepts but ignores compute-resource updates: check what was asked for.
    calls: list[dict] = []
    s.register("provide-client-params.batch.UpdateComputeEnvironment",
               lambda params=None, **kw: calls.append(dict(params)))
    result = emergency_stop_aws(AwsHostClient(h.cfg, session=s))  # again: idempotent, nothing left to do
    assert calls == [{"computeEnvironment": names["compute_environment"], "computeResources": {
        "minvCpus": 0, "maxvCpus": 0, "desiredvCpus": 0}}]
    assert result["jobs_cancelled"] == 0 and result["compute_environments_stopped"] == 1
    assert result["errors"] == [], result["errors"]
    assert ids


def _lambda_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return e\n")
    return buf.getvalue()


def test_import_deployment_rebuilds_the_host(home) -> None:
    h = make_aws_host(queues=("q1", "q2"), definitions={"d1": {"vcpus": 2}},
                      regions=("us-east-1", "us-west-2"), weights={"us-east-1": 1, "us-west-2": 2})
    s = h.res.session
    outputs = {"ApiUrl": "https://api.example/prod/", "JobsTableName": h.res.table,
               "LogGroupName": h.res.log_group, "ApiKeyId": "k1",
               "MetricsNamespace": schema.metrics_namespace("acme")}
    s.client("cloudformation").create_stack(
        StackName=schema.control_stack_name("prod", "us-east-1"),
        TemplateBody=json.dumps({"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                                 "Outputs": {k: {"Value": v} for k, v in outputs.items()}}))
    role = s.client("iam").create_role(RoleName="scaler", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sc = build_scaler_config(h.cfg)
    sc.host = "prod"
    s.client("lambda").create_function(
        FunctionName="prod-scaler", Runtime="python3.12", Role=role, Handler="index.handler",
        Code={"ZipFile": _lambda_zip()}, Environment={"Variables": {
            schema.SCALER_CONFIG_ENV: sc.to_json()}})
    info = import_deployment("prod", moto_env.ACCOUNT, "us-east-1", session=s)
    assert info["outputs"] == outputs and info["config_from"] == "scaler function"
    assert info["queues"] == ["q1", "q2"] and info["regions"] == ["us-east-1", "us-west-2"]
    assert registry.resolve("prod").kind == "aws" and registry.selected_name() == "prod"
    from hyper_tui import config

    cfg = config.load("prod")
    assert cfg.queues["q2"].weights == {"us-east-1": 1, "us-west-2": 2}
    assert cfg.definitions["d1"].vcpus == 2 and cfg.regions["us-east-1"].main
    from hyper_tui.aws.client import AwsHostClient

    status = AwsHostClient(cfg, session=s).resource_status("queues")
    assert status[("queues", "q1")][0] == "ACTIVE"
    with pytest.raises(ConflictError):
        import_deployment("prod", moto_env.ACCOUNT, "us-east-1", session=s)


def test_import_deployment_from_ssm_and_errors(home) -> None:
    s = AwsSession("us-east-1")
    with pytest.raises(NotFoundError, match="no deployment of host 'ghost'"):
        import_deployment("ghost", moto_env.ACCOUNT, "us-east-1", session=s)
    with pytest.raises(UnavailableError, match="credentials are for account 123456789012"):
        import_deployment("ghost", "999999999999", "us-east-1", session=s)
    ssm = s.client("ssm")
    for key in schema.OUTPUTS:
        ssm.put_parameter(Name=schema.ssm_parameter_name("side", key), Value=f"v-{key}", Type="String")
    info = import_deployment("side", moto_env.ACCOUNT, "us-east-1", session=s, select=False)
    assert info["source"].startswith("SSM parameters") and info["outputs"]["ApiUrl"] == "v-ApiUrl"
    assert info["config_from"] == "main region only" and info["regions"] == ["us-east-1"]


# ---- errors for people ------------------------------------------------------------------------


def test_friendly_errors_name_the_fix() -> None:
    e = friendly_error(NoCredentialsError(), "qstat")
    assert "no AWS credentials" in e.line() and "aws configure" in e.line()
    e = friendly_error(EndpointConnectionError(endpoint_url="https://sqs.us-east-9.amazonaws.com/"),
                       "qsub")
    assert "cannot reach" in e.line() and "region" in e.line()
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                            "Query")
    e = friendly_error(throttled, "qstat")
    assert "throttling Query" in e.line() and "try again" in e.line()
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Query")
    assert "access denied" in friendly_error(denied, "qstat").line()
    expired = ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "x"}}, "Query")
    assert "expired" in friendly_error(expired, "qstat").line()
    for err in (throttled, denied, expired):
        assert "\n" not in friendly_error(err, "x").line()


def test_missing_credentials_in_qstat(home, capsys, monkeypatch) -> None:
    moto_env.make_host()
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    from hyper_tui.qcmd import qstat

    code = qstat.main(["--host", "acme", "-q", "q1"])
    err = capsys.readouterr().err
    assert code == 6 and err.startswith("qstat: ") and "no AWS credentials" in err
    assert err.count("\n") == 1 and "Traceback" not in err


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kw):
        yield self.body


def test_throttled_calls_are_retried_with_backoff(aws_host: AwsHost) -> None:
    """Two throttled answers, then the real one from moto: the caller never sees the throttle."""
    from botocore.awsrequest import AWSResponse

    s = AwsSession("us-east-1")
    assert s.config.retries == {"mode": "adaptive", "max_attempts": 8}
    sent: list[str] = []

    def throttle(request=None, **kw):
        sent.append(request.url)
        if len(sent) <= 2:
            body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                               "message": "Rate of requests exceeds the allowed throughput."})
            return AWSResponse(request.url, 400, {"x-amzn-RequestId": "r"}, _Raw(body.encode()))
        return None

    s.register("before-send.dynamodb.DescribeTable", throttle)
    table = s.client("dynamodb").describe_table(TableName=aws_host.res.table)["Table"]
    assert table["TableName"] == aws_host.res.table and len(sent) == 3
    assert all(u.startswith("http://127.0.0.1:") for u in sent)  # never real AWS


def test_hosts_import_deployment_dispatches_by_kind(home, capsys) -> None:
    """``hosts import-deployment`` goes through ``registry.import_host`` to the kind's client."""
    from hyper_tui.cli.main import main
    from hyper_tui.errors import UsageError

    ssm = AwsSession("us-east-1").client("ssm")
    for key in schema.OUTPUTS:
        ssm.put_parameter(Name=schema.ssm_parameter_name("side", key), Value=f"v-{key}", Type="String")
    assert main(["-o", "json", "hosts", "import-deployment", "--name", "side", "--account",
                 moto_env.ACCOUNT, "--region", "us-east-1"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["ApiUrl"] == "v-ApiUrl"
    assert registry.resolve("side").kind == "aws" and registry.selected_name() == "side"
    with pytest.raises(UsageError, match="is a local host; it needs no deployment"):
        registry.import_host("local", "here")
