"""The templates deploy in moto's CloudFormation through the real deploy path, and the system
runs on what they created.

The moto server of ``tests/aws/cfn_env`` (one per xdist worker, shared by the modules that
deploy, each with hosts of its own names) gets ``cdk bootstrap`` (unless a module before this
one bootstrapped the account) and ``cdk deploy`` from the npm ``aws-cdk`` CLI, run by
``hyper_tui.aws.deploy.deploy`` (the code behind ``hyper-tui deploy``, with its progress events
and outputs). The host is synthesized once; ``tests/aws/cfn_adapter`` rewrites only moto's own
gaps, each named. Then jobs run against the stack-created table, work queue and log group
(found through the stack's outputs and resources), and emergency-stop stops the stack-created
compute environments.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.aws.session import AwsSession
from tests.aws.cfn_env import (
    ACCOUNT,
    HUB,
    REGION,
    XDIST_GROUP,
    deploy_approved,
    host_yaml,
    iam_simulator,
    lookups_for,
    register,
    synth_adapted,
)
from tests.aws.iam_check import CallRecorder, iam_requests, role_policies, simulate

pytestmark = pytest.mark.xdist_group(XDIST_GROUP)  # the worker's moto server (cfn_env)

HOST = "cfn"
CONFIG = host_yaml(HOST, hub=HUB, compute_envs=2, lease_seconds=15)
LOOKUPS = lookups_for(REGION, HUB)


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
def deployed(cloud, cdk_cli, host_home, tmp_path_factory) -> Deployed:
    cfg = register(CONFIG, HOST)
    out = tmp_path_factory.mktemp("cdk.out")
    rewrites = synth_adapted(cfg, out, LOOKUPS)

    def run() -> tuple[d.DeployResult, list[d.DeployEvent]]:
        events: list[d.DeployEvent] = []
        return deploy_approved(cfg, out / "adapted", cdk_cli, events.append), events

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


def test_an_update_of_the_deployed_stacks_deploys(deployed, cloud, cdk_cli, tmp_path):
    """A second deploy of changed templates updates the existing stacks through the CLI's
    UPDATE change sets (moto's gaps there: tests/aws/cfn_adapter.py, items 5 and 6). Last in
    this module: it changes what the tests above read."""
    from hyper_tui import config
    from hyper_tui.hosts.registry import apply_config

    cfg = config.parse_config(CONFIG + "  d2: {image_uri: public.ecr.aws/docker/library/"
                              "python:3.12-slim, has_agent: true}\n", f"{HOST}.yaml")
    assert sorted(cfg.definitions) == ["d1", "d2"]
    config.save(cfg)
    apply_config(cfg)
    synth_adapted(cfg, tmp_path, LOOKUPS)
    events: list[d.DeployEvent] = []
    start = time.monotonic()
    result = d.deploy(cfg, assembly_dir=tmp_path / "adapted", on_event=events.append,
                      which=lambda name: cdk_cli if name == "cdk" else None,
                      approval=d.APPROVED, bootstrap=False)
    took = time.monotonic() - start
    assert result.status == d.ACTIVE, (result.failure, [e.line for e in events][-30:])
    stacks = d.stack_order(tmp_path / "adapted")
    assert result.stacks == {s: d.ACTIVE for s in stacks}
    statuses = {}
    for stack in stacks:
        region = HUB if stack.endswith(HUB) else REGION
        cf = cloud.session.client("cloudformation", region)
        statuses[stack] = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        declared = json.loads((tmp_path / "adapted" / f"{stack}.template.json").read_text())
        assert len(stack_resources(cloud.session, stack)) == len(declared["Resources"]), stack
    print(f"\nCFN update (a second definition): {statuses}; {took:.1f} s")
    assert statuses[schema.control_stack_name(HOST, REGION)] == "UPDATE_COMPLETE"
    assert set(statuses.values()) <= {"UPDATE_COMPLETE", "CREATE_COMPLETE"}
    # what the update added is there: d2's work queue, made by the updated control stack
    sqs = cloud.session.client("sqs")
    assert sqs.get_queue_url(QueueName=schema.work_queue_name(HOST, "q1", "d2"))["QueueUrl"]
