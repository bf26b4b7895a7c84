"""The templates deploy in moto's CloudFormation through the real deploy path, and the system
runs on what they created.

A moto server of this module's own (on ``localhost``: moto reads S3 template URLs path-style
only for localhost) gets ``cdk bootstrap`` and ``cdk deploy`` from the npm ``aws-cdk`` CLI, run
by ``hyper_tui.aws.deploy.deploy`` (the code behind ``hyper-tui deploy``, with its progress
events and outputs). The host is synthesized once; ``tests/aws/cfn_adapter`` rewrites only
moto's own gaps, each named. Then jobs run against the stack-created table, work queue and
log group (found through the stack's outputs and resources), and emergency-stop stops the
stack-created compute environments.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.aws.session import ENDPOINT_ENV, AwsSession
from tests.aws.cfn_adapter import MOTO_SERVER, adapt_assembly
from tests.aws.iam_check import CallRecorder, iam_requests, role_policies, simulate

HOST = "cfn"
REGION = "us-east-1"
HUB = "eu-west-1"
ACCOUNT = "123456789012"
CONFIG = f"""
host: {{name: {HOST}, kind: aws, account: "{ACCOUNT}", main_region: {REGION},
       settings: {{lease_seconds: 15}}}}
regions:
  {REGION}: {{main: true, vpc_cidr: 10.0.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}}
  {HUB}: {{vpc_cidr: 10.1.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}}
clusters:
  c1: {{type: ON_DEMAND, instance_types: [optimal], max_vcpus: 16, compute_envs: 2}}
queues:
  q1: {{cluster: c1}}
definitions:
  d1: {{image_uri: public.ecr.aws/docker/library/python:3.12-slim, has_agent: true}}
"""
LOOKUPS = {"availability_zones": {r: [f"{r}a", f"{r}b"] for r in (REGION, HUB)}}
CLI_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_DISABLE_CLI_TELEMETRY": "true"}
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cloud:
    url: str
    session: AwsSession


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[Cloud]:
    """A moto server of this module on localhost, and the environment pointing at it (fake
    credentials; restored afterwards)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, "-H", "localhost", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"moto did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    urllib.request.urlopen(urllib.request.Request(
        url + "/moto-api/config", data=json.dumps({"batch": {"use_docker": False}}).encode(),
        method="POST", headers={"Content-Type": "application/json"}), timeout=30).read()
    saved = dict(os.environ)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": url, ENDPOINT_ENV: url,
        **CLI_ENV})
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield Cloud(url, AwsSession(REGION))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def cdk_cli(tmp_path_factory) -> str:
    """The npm aws-cdk CLI: scripts/test.sh installs it into .venv/cdk-cli; otherwise the
    deploy path installs it (npm) into a cache folder, as ``hyper-tui deploy`` does."""
    installed = REPO / ".venv" / "cdk-cli"
    cli = d.find_cdk(installed, which=lambda name: None)
    if cli.needs_install:
        return d.ensure_cdk(installed, lambda event: None, which=lambda name: None)[0]
    return cli.argv[0]


@dataclass
class Deployed:
    cfg: Any
    assembly: Path
    adapted: Path
    rewrites: dict[str, dict[str, list[str]]]
    result: d.DeployResult
    events: list[d.DeployEvent]
    seconds: float
    first: d.DeployResult              # the deploy made to fail
    first_events: list[d.DeployEvent]


@pytest.fixture(scope="module")
def host_home(tmp_path_factory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    saved = os.environ.get("HYPER_HOME")
    os.environ["HYPER_HOME"] = str(home)
    yield home
    if saved is None:
        os.environ.pop("HYPER_HOME", None)
    else:
        os.environ["HYPER_HOME"] = saved


def register(text: str, name: str) -> Any:
    from hyper_tui import config
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    cfg = config.parse_config(text, f"{name}.yaml")
    config.save(cfg)
    registry.register(name, "aws", select=False)
    apply_config(cfg)
    return cfg


@pytest.fixture(scope="module")
def deployed(cloud, cdk_cli, host_home, tmp_path_factory) -> Deployed:
    from hyper_tui.aws.synth import synth_app

    cfg = register(CONFIG, HOST)
    out = tmp_path_factory.mktemp("cdk.out")
    synth_app(cfg, out / "synth", lookups=LOOKUPS)
    rewrites = adapt_assembly(out / "synth", out / "adapted")
    def run() -> tuple[d.DeployResult, list[d.DeployEvent]]:
        events: list[d.DeployEvent] = []
        # approved, as by hyper-tui deploy --yes (unapproved, cdk refuses the IAM changes)
        result = d.deploy(cfg, assembly_dir=out / "adapted", on_event=events.append,
                          which=lambda name: cdk_cli if name == "cdk" else None,
                          approval=d.APPROVED)
        return result, events

    # First a deploy that fails: the job log group's name is taken, so the control stack
    # cannot be created. Then, with the name free again, the same deploy must succeed.
    logs = cloud.session.client("logs")
    logs.create_log_group(logGroupName=schema.log_group_name(HOST))
    start = time.monotonic()
    failed, failed_events = run()
    logs.delete_log_group(logGroupName=schema.log_group_name(HOST))
    result, events = run()
    return Deployed(cfg, out / "synth", out / "adapted", rewrites, result, events,
                    time.monotonic() - start, failed, failed_events)


def test_a_failed_deploy_is_followed_by_one_that_succeeds(deployed):
    control = schema.control_stack_name(HOST, REGION)
    compute = schema.compute_stack_name(HOST, REGION)
    first = deployed.first
    print(f"\nCFN first deploy (log group name taken): {first.stacks}; then: "
          f"{deployed.result.stacks}")
    assert first.status == d.FAILED and first.stacks[control] == d.FAILED, first
    assert first.stacks[compute] == d.ACTIVE
    assert deployed.result.status == d.ACTIVE


def stack_resources(session: AwsSession, stack: str) -> list[dict]:
    region = HUB if stack.endswith(HUB) else REGION
    cf = session.client("cloudformation", region)
    return cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]


def test_every_stack_deploys_through_cdk_bootstrap_and_deploy(deployed, cloud):
    r = deployed.result
    assert r.status == d.ACTIVE, (r.failure, [e.line for e in deployed.events][-30:])
    stacks = d.stack_order(deployed.assembly)
    assert r.stacks == {s: d.ACTIVE for s in stacks}
    assert any(e.status == d.IN_PROGRESS for e in deployed.events)  # the CLI's real events
    for stack in stacks:
        declared = json.loads((deployed.adapted / f"{stack}.template.json").read_text())
        resources = stack_resources(cloud.session, stack)
        states = {x["ResourceStatus"] for x in resources}
        changed = {k: len(v) for k, v in deployed.rewrites[f"{stack}.template.json"].items()}
        print(f"\nCFN {stack}: {len(resources)}/{len(declared['Resources'])} resources, "
              f"{sorted(states)}, adapter {changed}")
        assert states == {"CREATE_COMPLETE"}
        assert len(resources) == len(declared["Resources"])
    print(f"CFN bootstrap + deploy of {len(stacks)} stacks: {deployed.seconds:.1f} s")


def test_outputs_name_the_stack_created_resources(deployed, cloud):
    control = schema.control_stack_name(HOST, REGION)
    outputs = deployed.result.outputs[control]
    assert outputs["JobsTableName"] == schema.jobs_table_name(HOST)
    assert outputs["LogGroupName"] == schema.log_group_name(HOST)
    ddb = cloud.session.client("dynamodb")
    table = ddb.describe_table(TableName=outputs["JobsTableName"])["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        name for name, *_ in schema.INDEXES}
    from hyper_tui.local import apply

    store = apply.open_store(HOST)
    try:
        assert json.loads(store.get_meta("aws_outputs"))[control] == outputs
    finally:
        store.close()


def physical_ids(session: AwsSession, stack: str, kind: str) -> list[str]:
    return sorted(r["PhysicalResourceId"] for r in stack_resources(session, stack)
                  if r["ResourceType"] == kind)


def test_jobs_run_on_the_stack_created_resources(deployed, cloud):
    """Submit, cancel, run a worker agent in-process with the aws transport: SUCCEEDED,
    FAILED and CANCELLED, on the table, work queue and log group the stacks made; nothing is
    left QUEUED or RUNNING and no message is left behind (stranded = 0)."""
    from hyper_tui.agent.loop import Agent, AgentOptions
    from hyper_tui.agent.transports.aws import AwsTransport
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.core.jobs import Submission

    assert deployed.result.status == d.ACTIVE
    cfg, session = deployed.cfg, cloud.session
    control = schema.control_stack_name(HOST, REGION)
    client = AwsHostClient(cfg, session=session)
    subs = [Submission(queue="q1", definition="d1", name=f"ok{i}", command="echo ok")
            for i in range(3)]
    subs += [Submission(queue="q1", definition="d1", name="bad", command="exit 3", retries=0),
             Submission(queue="q1", definition="d1", name="dropped", command="echo never")]
    ids = client.submit(subs)
    client.cancel([ids[-1]])
    worker_session = AwsSession(REGION)  # the worker's calls alone, recorded for IAM
    recorder = CallRecorder()
    recorder.attach(worker_session)
    transport = AwsTransport.for_host(cfg, worker_id="w-cfn", queue="q1", definition="d1",
                                      session=worker_session, poll_wait=0)
    # the transport's work queue is the one the control stack created
    def path(url: str) -> str:
        return url.split("/", 3)[3]  # account/name, whichever endpoint the URL names

    assert path(transport.queue_url) in [path(u) for u in physical_ids(session, control,
                                                                         "AWS::SQS::Queue")]
    ran = Agent(transport, AgentOptions(idle_timeout=1.0, heartbeat_every=0.5)).run()
    transport.close()
    states = {s.name: client.get_job(jid).state for s, jid in zip(subs, ids, strict=True)}
    assert states == {"ok0": "SUCCEEDED", "ok1": "SUCCEEDED", "ok2": "SUCCEEDED",
                      "bad": "FAILED", "dropped": "CANCELLED"}, states
    assert ran == 4
    from hyper_tui.aws import counters  # the counters, from the jobs (moto runs no Lambda)

    counters.rebuild(session.client("dynamodb"), schema.jobs_table_name(HOST), ["q1"])
    counts = client.count_jobs(queue="q1")
    assert counts["SUCCEEDED"] >= 3 and counts["CANCELLED"] >= 1, counts
    stranded = sum(counts[s] for s in ("PENDING", "QUEUED", "RUNNING"))
    attrs = session.client("sqs").get_queue_attributes(
        QueueUrl=transport.queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                      "ApproximateNumberOfMessagesNotVisible"])
    left = sum(int(v) for v in attrs["Attributes"].values())
    print(f"\nE2E on stack resources: {len(ids)} jobs, {counts}, stranded {stranded}, "
          f"messages left {left}")
    assert stranded == 0 and left == 0
    WORKER_CALLS.extend(recorder.calls)


WORKER_CALLS: list = []  # the worker agent's calls in the job flow above


def test_every_call_of_the_worker_agent_is_allowed_by_its_job_role(deployed, cloud):
    """The worker agent runs in a Batch container with the job role of its definition: each
    call it made in the job flow, as IAM sees it, is evaluated against that role's policies
    from the synthesized compute template by a real IAM evaluator (iam-simulate)."""
    if not WORKER_CALLS:
        pytest.skip("runs after test_jobs_run_on_the_stack_created_resources")
    requests, unknown = iam_requests(WORKER_CALLS, account=ACCOUNT, default_region=REGION)
    assert unknown == set(), f"calls the IAM mapping does not know: {unknown}"
    template = json.loads((deployed.assembly / f"{schema.compute_stack_name(HOST, REGION)}"
                                               ".template.json").read_text())
    definition = next(r for r in template["Resources"].values()
                      if r["Type"] == "AWS::Batch::JobDefinition")
    role = definition["Properties"]["ContainerProperties"]["JobRoleArn"]["Fn::GetAtt"][0]
    deployed_ids = {r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
                    for r in stack_resources(cloud.session, schema.compute_stack_name(HOST, REGION))}
    policies = role_policies(template, role, account=ACCOUNT, region=REGION,
                             deployed=deployed_ids)  # its jobs' role ARN (sts:AssumeRole)
    results = simulate(iam_simulator(), f"arn:aws:iam::{ACCOUNT}:role/{role}", ACCOUNT,
                       policies, requests)
    denied = [r for r in results if r["result"] != "Allowed"]
    print(f"\nIAM worker agent: {len(WORKER_CALLS)} calls recorded, {len(requests)} distinct "
          f"(action, resource) requests, 1 principal ({role}), denies {len(denied)}")
    print("  " + "\n  ".join(f"{r['result']}: {r['action']} {r['resource']}" for r in results))
    assert {r.action for r in requests} >= {"sqs:ReceiveMessage", "dynamodb:UpdateItem"}
    assert denied == [], denied


def test_every_call_of_a_scaler_pass_is_allowed_by_the_scaler_role(deployed, cloud):
    """A scaler pass over the stack-created resources, with its config read from the
    scaler's Lambda asset: it launches workers into the stack-created Batch job queues, and
    every call it made is allowed by the scaler role's synthesized policies (tag-on-create of
    the Batch jobs included: batch:TagResource on job/*)."""
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.aws.scaler import run_scaler
    from hyper_tui.aws.scaler_config import CONFIG_FILE, CONFIG_FILE_ENV, load_scaler_config
    from hyper_tui.core.jobs import Submission

    control = schema.control_stack_name(HOST, REGION)
    template = json.loads((deployed.assembly / f"{control}.template.json").read_text())
    function = next(r for r in template["Resources"].values()
                    if r["Type"] == "AWS::Lambda::Function"
                    and r["Properties"]["Handler"].endswith("scaler.handler.handler"))
    assets = json.loads((deployed.assembly / f"{control}.assets.json").read_text())
    asset = deployed.assembly / assets["files"][function["Properties"]["Code"]["S3Key"]
                                                .removesuffix(".zip")]["source"]["path"]
    sc = load_scaler_config({CONFIG_FILE_ENV: CONFIG_FILE, "LAMBDA_TASK_ROOT": str(asset)})
    ids = AwsHostClient(deployed.cfg, session=cloud.session).submit(
        [Submission(queue="q1", definition="d1", name=f"s{i}", command="true")
         for i in range(5)])
    # One job RUNNING on a worker that stopped heartbeating an hour ago and whose message is
    # gone: the pass's reconciler requeues it, so its calls are evaluated too.
    from hyper_tui.aws.table import Update

    gone = time.time() - 3600
    u = Update(sc.jobs_table, ids[-1], queue="q1").when("state", "=", "QUEUED")
    for k, v in (("state", "RUNNING"), ("attempt", 1), ("worker", "w-gone"), ("started", gone),
                 ("heartbeat", gone), ("lease", 15.0)):
        u.set(k, v)
    cloud.session.client("dynamodb").update_item(**u.kwargs())
    # The stack's counters Lambda takes the table's stream; moto hands the records to its
    # event source mapping (and drops them: it runs no Lambda here), so the counters are
    # rebuilt from the jobs, as `counters.rebuild` does for a table older than its counters.
    from hyper_tui.aws import counters

    assert counters.rebuild(cloud.session.client("dynamodb"), schema.jobs_table_name(HOST),
                            ["q1"])["q1"]["QUEUED"] >= 4
    session = AwsSession(REGION)
    recorder = CallRecorder()
    recorder.attach(session)
    result = run_scaler(sc, session)
    assert result["errors"] == [], result["errors"]
    assert result["reconciled"]["requeued"] == 1, result["reconciled"]
    launched = len(result["launched"])
    for x in result["launched"]:  # Batch jobs of the stack-created job queue and definition
        job = session.client("batch", x["region"]).describe_jobs(jobs=[x["batch_job_id"]])["jobs"][0]
        assert job["jobQueue"].endswith("job-queue/" + schema.batch_job_queue_name(HOST, "c1"))
        assert job["tags"]["hyper:queue"] == "q1"
    assert launched >= 1, result
    requests, unknown = iam_requests(recorder.calls, account=ACCOUNT, default_region=REGION)
    assert unknown == set(), f"calls the IAM mapping does not know: {unknown}"
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    deployed_ids = {r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
                    for r in stack_resources(cloud.session, control)}
    policies = role_policies(template, role, account=ACCOUNT, region=REGION,
                             deployed=deployed_ids)
    results = simulate(iam_simulator(), f"arn:aws:iam::{ACCOUNT}:role/{role}", ACCOUNT,
                       policies, requests)
    denied = [r for r in results if r["result"] != "Allowed"]
    print(f"\nIAM scaler: {len(recorder.calls)} calls recorded, {len(requests)} distinct "
          f"requests, 1 principal ({role}), {launched} Batch jobs launched, denies "
          f"{len(denied)}")
    print("  " + "\n  ".join(f"{r['result']}: {r['action']} {r['resource']}" for r in results))
    assert {"batch:SubmitJob", "batch:TagResource"} <= {r.action for r in requests}
    assert {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:UpdateItem", "dynamodb:PutItem",
            "dynamodb:DeleteItem", "dynamodb:GetItem", "sqs:SendMessage"} <= {
                r.action for r in requests}  # the reconciler's too
    assert denied == [], denied


def iam_simulator() -> Path:
    """node_modules holding @cloud-copilot/iam-simulate (scripts/test.sh installs it)."""
    folder = REPO / ".venv" / "iam-sim"
    modules = folder / "node_modules"
    if not (modules / "@cloud-copilot" / "iam-simulate").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                        "--loglevel", "error", "@cloud-copilot/iam-simulate"], check=True,
                       capture_output=True, timeout=300)
    return modules


def test_emergency_stop_stops_every_stack_created_compute_environment(deployed, cloud):
    """Every compute environment of every region (their names are generated by
    CloudFormation; emergency-stop finds them through the job queues)."""
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.aws.emergency import emergency_stop_aws

    session = cloud.session
    calls: list[tuple[str, dict]] = []
    for region in (REGION, HUB):
        session.client("batch", region).meta.events.register(
            "provide-client-params.batch.UpdateComputeEnvironment",
            lambda params=None, _r=region, **kw: calls.append((_r, dict(params))))
    report = emergency_stop_aws(AwsHostClient(deployed.cfg, session=session))
    assert report["errors"] == [], report["errors"]
    made: list[str] = []
    for region in (REGION, HUB):
        created = physical_ids(session, schema.compute_stack_name(HOST, region),
                               "AWS::Batch::ComputeEnvironment")
        assert len(created) == deployed.cfg.clusters["c1"].compute_envs == 2
        batch = session.client("batch", region)
        for e in batch.describe_compute_environments()["computeEnvironments"]:
            if e["computeEnvironmentArn"] in created or e["computeEnvironmentName"] in created:
                made.append(f"{region}/{e['computeEnvironmentName']}")
    assert len(made) == 4 and report["compute_environments_stopped"] == 4
    assert sorted(f"{r}/{c['computeEnvironment']}" for r, c in calls) == sorted(made)
    assert sorted(report["stopped"]) == sorted(made)
    assert all(c["computeResources"]["maxvCpus"] == 0 for _, c in calls)
    print(f"\nEMERGENCY-STOP on stack resources: stopped {sorted(made)}")
