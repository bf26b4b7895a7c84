"""Every principal's AWS calls, evaluated against its policies from the synthesized templates
by a real IAM evaluator (@cloud-copilot/iam-simulate), on a host deployed into moto's
CloudFormation through ``cdk bootstrap``/``cdk deploy`` (tests/aws/cfn_env, as in
test_cfn_deploy), this one with a hub peered with the main VPC, so the peering stack deploys too.

Principals: the worker agent (its Batch job role: work queues, jobs table, its jobs' role), a
job using its own role (temporary credentials the agent assumed and handed it, under a uid of
its own), the submit API's Lambda (its real ``Backend``), the qsub user (the aws host client's
submit/qstat/qdel/qlog paths) against the ``Submitters`` policy output, qstat/qlog against the
``ReadOnly`` output (and its writes: denied), an on-prem worker against ``OnPremWorkers``.
Each call is recorded as IAM sees it (action, resource ARN, condition keys); any implicit deny
of a recorded call fails. Expected denies prove the limits: the job role cannot write the
jobs table or read the work queues; only the agent role may assume the job role.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hyper_tui.aws import deploy as d
from hyper_tui.aws import schema
from hyper_tui.aws.session import AwsSession
from tests.aws import cfn_env
from tests.aws.cfn_env import ACCOUNT, HUB, REGION, iam_simulator
from tests.aws.iam_check import (
    CallRecorder,
    Request,
    arn_of,
    iam_requests,
    resolve,
    role_policies,
    simulate,
)

# The qsub-user test reads a job an earlier test of this module ran: the module stays on one
# xdist worker, in order (scripts/test.sh runs pytest with --dist loadgroup), with the other
# modules that deploy into that worker's moto server (tests/aws/cfn_env).
pytestmark = pytest.mark.xdist_group(cfn_env.XDIST_GROUP)

HOST = "iam"
DATA_BUCKET = "iam-job-data"
DATA_POLICY = "iam-job-data-read"
CONFIG = cfn_env.host_yaml(HOST, hub=HUB, peered=True, lease_seconds=15,
                           iam_policies=(DATA_POLICY,))
LOOKUPS = cfn_env.lookups_for(REGION, HUB)
CONTROL = schema.control_stack_name(HOST, REGION)
COMPUTE = schema.compute_stack_name(HOST, REGION)
PEERING = schema.peering_stack_name(HOST, REGION)


@dataclass
class Host:
    cfg: Any
    assembly: Path
    adapted: Path
    result: d.DeployResult
    seconds: float

    def template(self, stack: str, *, adapted: bool = False) -> dict:
        folder = self.adapted if adapted else self.assembly
        return json.loads((folder / f"{stack}.template.json").read_text())


def resources(session: AwsSession, stack: str) -> dict[str, tuple[str, str]]:
    region = HUB if stack.endswith(HUB) else REGION
    cf = session.client("cloudformation", region)
    return {r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
            for r in cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]}


@pytest.fixture(scope="module")
def host(cloud, cdk_cli, host_home, tmp_path_factory) -> Host:
    # What the definition's iam_policies name: a customer-managed policy of the account, and
    # the data its jobs read.
    iam = cloud.session.client("iam")
    iam.create_policy(PolicyName=DATA_POLICY, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{DATA_BUCKET}/*"}]}))
    s3 = cloud.session.client("s3")
    s3.create_bucket(Bucket=DATA_BUCKET)
    s3.put_object(Bucket=DATA_BUCKET, Key="input.txt", Body=b"42\n")

    cfg = cfn_env.register(CONFIG, HOST)
    out = tmp_path_factory.mktemp("cdk.out")
    cfn_env.synth_adapted(cfg, out, LOOKUPS)
    start = time.monotonic()
    result = cfn_env.deploy_approved(cfg, out / "adapted", cdk_cli)
    return Host(cfg, out / "synth", out / "adapted", result, time.monotonic() - start)


def test_the_peered_host_deploys_every_stack_with_its_peering(host, cloud):
    """Main compute, hub compute (its peering connection, the main VPC id read across
    regions), control and the peering stack (the main VPC's routes back to the hub)."""
    r = host.result
    assert r.status == d.ACTIVE, r.failure
    stacks = d.stack_order(host.assembly)
    assert PEERING in stacks and r.stacks == {s: d.ACTIVE for s in stacks}
    for stack in stacks:
        cf = cloud.session.client("cloudformation", HUB if stack.endswith(HUB) else REGION)
        made = cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        assert {x["ResourceStatus"] for x in made} == {"CREATE_COMPLETE"}, stack
        assert len(made) == len(host.template(stack, adapted=True)["Resources"]), stack
    hub = resources(cloud.session, schema.compute_stack_name(HOST, HUB))
    (pcx,) = [p for t, p in hub.values() if t == "AWS::EC2::VPCPeeringConnection"]
    main_vpc = next(p for t, p in resources(cloud.session, COMPUTE).values()
                    if t == "AWS::EC2::VPC")
    ec2_main = cloud.session.client("ec2", REGION)
    seen = ec2_main.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])
    connection = seen["VpcPeeringConnections"][0]
    assert connection["AccepterVpcInfo"]["VpcId"] == main_vpc
    assert connection["AccepterVpcInfo"]["Region"] == REGION
    assert connection["Status"]["Code"] == "active"
    routes = [route for table in ec2_main.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [main_vpc]}])["RouteTables"]
        for route in table["Routes"] if route.get("VpcPeeringConnectionId") == pcx]
    peering_routes = [p for t, p in resources(cloud.session, PEERING).values()
                      if t == "AWS::EC2::Route"]
    assert routes and len(routes) == len(peering_routes)
    assert {x["DestinationCidrBlock"] for x in routes} == {"10.1.0.0/16"}
    print(f"\nCFN peering: {len(stacks)} stacks ACTIVE in {host.seconds:.1f} s; {pcx} "
          f"{HUB} -> {REGION} active; {len(routes)} main routes to 10.1.0.0/16")


# ---- the principals' calls -------------------------------------------------------------------

CALLS: dict[str, list] = {}     # principal -> recorded calls
EXTRA: dict[str, Any] = {}      # what later tests evaluate

JOB_SCRIPT = r"""
import json, os, sys
import boto3

report, bucket = sys.argv[1], sys.argv[2]
calls = []
session = boto3.Session()
session.events.register("provide-client-params", lambda params=None, model=None, context=None,
    **kw: calls.append([(context or {}).get("client_region") or "",
                        model.service_model.signing_name, model.name, dict(params or {})]))
data = session.client("s3").get_object(Bucket=bucket, Key="input.txt")["Body"].read().decode()
me = session.client("sts").get_caller_identity()["Arn"]
try:
    open(f"/proc/{os.environ['AGENT_PID']}/environ", "rb").read()
    agent_environ = "readable"
except OSError as err:
    agent_environ = type(err).__name__
keys = ("AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "HOME", "USER")
json.dump({"uid": os.getuid(), "gid": os.getgid(), "data": data, "arn": me,
           "agent_environ": agent_environ, "env": {k: os.environ.get(k) for k in keys},
           "calls": calls}, open(report, "w"), default=str)
"""


def run_agent(cfg: Any, worker: str, access: Any = None) -> tuple[int, CallRecorder]:
    from hyper_tui.agent.loop import Agent, AgentOptions
    from hyper_tui.agent.transports.aws import AwsTransport

    session = AwsSession(REGION)
    recorder = CallRecorder()
    recorder.attach(session)
    transport = AwsTransport.for_host(cfg, worker_id=worker, queue="q1", definition="d1",
                                      session=session, poll_wait=0)
    if access is not None and access.credentials is not None:
        access.credentials.sts = session.client("sts", REGION)  # recorded too
    try:
        ran = Agent(transport, AgentOptions(idle_timeout=1.0, heartbeat_every=0.5,
                                            job_access=access)).run()
    finally:
        transport.close()
        if access is not None:
            access.close()
    return ran, recorder


def test_a_job_runs_with_its_own_role_and_uid(host, cloud):
    """The agent assumes the definition's job role and hands the job its credentials and
    region; the job runs as nobody, reads its data with the job role (moto's STS knows the
    assumed role), cannot read the agent's environment, and never sees the agent's
    container-credentials URI (neither the agent's nor one the submission smuggles in)."""
    from hyper_tui.agent.job_credentials import JobAccess, JobCredentials, JobUser
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.core.jobs import Submission

    compute = resources(cloud.session, COMPUTE)
    job_role = next(k for k in compute if k.startswith("JobDefinitionsJobRoled1"))
    job_role_arn = arn_of("AWS::IAM::Role", compute[job_role][1], account=ACCOUNT,
                          region=REGION)
    folder = Path(tempfile.mkdtemp(prefix="hyper-iam-"))
    try:
        folder.chmod(0o777)  # the job's uid writes its report here
        script = folder / "job.py"
        script.write_text(JOB_SCRIPT)
        script.chmod(0o644)
        client = AwsHostClient(host.cfg, session=cloud.session)
        import boto3

        # The job's uid cannot enter /root (where this machine's venv Python lives): the
        # system's Python, with this venv's boto3 on its path.
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        env = {"AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
               "PYTHONPATH": str(Path(boto3.__file__).resolve().parents[1]),
               "AWS_EC2_METADATA_DISABLED": "true", "AGENT_PID": str(os.getpid()),
               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/smuggled"}
        ids = client.submit([
            Submission(queue="q1", definition="d1", name="uses-role", env=env,
                       command=f"{python} {script} {folder / 'report.json'} "
                               f"{DATA_BUCKET}"),
            Submission(queue="q1", definition="d1", name="plain", command="echo ok")])
        access = JobAccess(JobCredentials(None, job_role_arn, REGION, session_name="w-iam"),
                           JobUser.named("nobody"))
        os.environ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/agent-secret"
        try:
            ran, recorder = run_agent(host.cfg, "w-iam", access)
        finally:
            os.environ.pop("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", None)
        states = [client.get_job(j).state for j in ids]
        report = json.loads((folder / "report.json").read_text()) \
            if (folder / "report.json").exists() else {}
        assert ran == 2 and states == ["SUCCEEDED", "SUCCEEDED"], (
            states, client.logs(ids[0]).records)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert report["uid"] == 65534 and report["gid"] == 65534
    assert report["data"] == "42\n"
    assert report["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/"
                                    f"{job_role_arn.rsplit('/', 1)[1]}/")
    assert report["agent_environ"] == "PermissionError"
    env = report["env"]
    assert env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] is None
    # the job role's credentials come from the agent's loopback endpoint, with a job's token
    assert env["AWS_ACCESS_KEY_ID"] is None and env["AWS_SESSION_TOKEN"] is None
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert access.credentials.assumed == 1  # one AssumeRole for both jobs
    print(f"\nJOB ROLE: job ran as uid {report['uid']} with {report['arn']}; agent environ "
          f"{report['agent_environ']}; AssumeRole calls {access.credentials.assumed}")
    CALLS["agent"] = recorder.calls
    CALLS["job"] = [tuple(c) for c in report["calls"]]
    EXTRA["job_role"] = (job_role, job_role_arn)


def managed_policy_documents(session: AwsSession, arns: list[str]) -> list[dict]:
    iam = session.client("iam")
    docs = []
    for arn in arns:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        docs.append(json.loads(doc) if isinstance(doc, str) else doc)
    return docs


def evaluate(principal: str, policies: list[dict], calls: list, *, label: str,
             extra: set[Request] = frozenset(), resource_policy: dict | None = None
             ) -> tuple[set[Request], list[dict]]:
    requests, unknown = iam_requests(calls, account=ACCOUNT, default_region=REGION)
    assert unknown == set(), f"{label}: calls the IAM mapping does not know: {unknown}"
    requests |= set(extra)
    results = simulate(iam_simulator(), principal, ACCOUNT, policies, requests,
                       resource_policy=resource_policy)
    denied = [r for r in results if r["result"] != "Allowed"]
    print(f"\nIAM {label}: {len(calls)} calls recorded, {len(requests)} distinct requests, "
          f"denies {len(denied)}")
    print("  " + "\n  ".join(f"{r['result']}: {r['action']} {r['resource']}" for r in results))
    assert denied == [], denied
    return requests, results


def expect_denied(principal: str, policies: list[dict], requests: set[Request], *,
                  label: str) -> None:
    results = simulate(iam_simulator(), principal, ACCOUNT, policies, requests)
    allowed = [r for r in results if r["result"] != "ImplicitlyDenied"]
    print(f"\nIAM {label}: {len(results)} expected denies, {len(allowed)} not denied")
    assert allowed == [], allowed
    assert len(results) == len(requests) > 0


def compute_policies(host: Host, cloud, role: str) -> list[dict]:
    template = host.template(COMPUTE)
    deployed = resources(cloud.session, COMPUTE)
    docs = role_policies(template, role, account=ACCOUNT, region=REGION, deployed=deployed)
    arns = resolve(template["Resources"][role]["Properties"].get("ManagedPolicyArns") or [],
                   account=ACCOUNT, region=REGION, deployed=deployed)
    return docs + managed_policy_documents(cloud.session, arns)


def needs(key: str) -> None:
    if key not in CALLS:
        pytest.skip("runs after test_a_job_runs_with_its_own_role_and_uid")


def test_the_worker_agents_calls_and_its_assume_role_are_allowed(host, cloud):
    needs("agent")
    template = host.template(COMPUTE)
    definition = next(r for r in template["Resources"].values()
                      if r["Type"] == "AWS::Batch::JobDefinition")
    agent = definition["Properties"]["ContainerProperties"]["JobRoleArn"]["Fn::GetAtt"][0]
    policies = compute_policies(host, cloud, agent)
    requests, _ = evaluate(f"arn:aws:iam::{ACCOUNT}:role/{agent}", policies, CALLS["agent"],
                           label=f"worker agent ({agent})")
    job_role, job_role_arn = EXTRA["job_role"]
    assert Request("sts:AssumeRole", job_role_arn) in requests
    assert {"sqs:ReceiveMessage", "dynamodb:UpdateItem"} <= {r.action for r in requests}
    # The job role's trust policy: the agent role may assume it, no other principal may
    # (here the cluster's instance role, with an identity policy allowing any AssumeRole).
    deployed = resources(cloud.session, COMPUTE)
    trust = resolve(template["Resources"][job_role]["Properties"]["AssumeRolePolicyDocument"],
                    account=ACCOUNT, region=REGION, deployed=deployed)
    agent_arn = arn_of("AWS::IAM::Role", deployed[agent][1], account=ACCOUNT, region=REGION)
    assume = {Request("sts:AssumeRole", job_role_arn)}
    by_agent = simulate(iam_simulator(), agent_arn, ACCOUNT, policies, assume,
                        resource_policy=trust)
    assert [r["result"] for r in by_agent] == ["Allowed"]
    instance = next(k for k, (t, _) in deployed.items()
                    if t == "AWS::IAM::Role" and "InstanceRole" in k)
    other = arn_of("AWS::IAM::Role", deployed[instance][1], account=ACCOUNT, region=REGION)
    anything = [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}]
    by_other = simulate(iam_simulator(), other, ACCOUNT, anything, assume,
                        resource_policy=trust)
    assert [r["result"] for r in by_other] != ["Allowed"], by_other
    print(f"IAM job role trust: agent {by_agent[0]['result']}, instance role "
          f"{by_other[0]['result']}")


def test_a_jobs_calls_are_allowed_by_its_role_and_it_cannot_touch_the_host(host, cloud):
    needs("job")
    job_role, job_role_arn = EXTRA["job_role"]
    policies = compute_policies(host, cloud, job_role)
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{job_role_arn.rsplit('/', 1)[1]}/w-iam"
    requests, _ = evaluate(session_arn, policies, CALLS["job"], label=f"job ({job_role})")
    assert {r.action for r in requests} == {"s3:GetObject"}
    base = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{schema.jobs_table_name(HOST)}"
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{schema.work_queue_name(HOST, 'q1', 'd1')}"
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{schema.log_group_name(HOST)}"
    host_writes = {Request(f"dynamodb:{a}", base) for a in (
        "PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem", "GetItem", "Query")}
    host_writes |= {Request(f"sqs:{a}", queue) for a in (
        "ReceiveMessage", "DeleteMessage", "SendMessage", "ChangeMessageVisibility")}
    ctl = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{schema.control_queue_name(HOST, 'w-iam')}"
    host_writes |= {Request(f"sqs:{a}", ctl) for a in (  # its worker's control queue
        "ReceiveMessage", "DeleteMessage", "SendMessage", "DeleteQueue", "CreateQueue")}
    host_writes |= {Request("logs:PutLogEvents", f"{logs}:log-stream:w-iam"),
                    Request("sts:AssumeRole", job_role_arn)}
    expect_denied(session_arn, policies, host_writes, label="job role on the host's resources")


def test_the_submit_api_lambdas_calls_are_allowed_by_its_role(host, cloud):
    """The API function's own Backend (boto3's default session, as in Lambda), on the
    stack-created table and work queue: POST /jobs, GET /jobs/{id}, GET /jobs?queue=."""
    import boto3

    from hyper_tui.aws.infra.components.api import handler as h

    template = host.template(CONTROL)
    deployed = resources(cloud.session, CONTROL)
    key, function = next((k, r) for k, r in template["Resources"].items()
                         if r["Type"] == "AWS::Lambda::Function"
                         and r["Properties"]["Handler"].endswith("api.handler.handler"))
    env = resolve(function["Properties"]["Environment"]["Variables"], account=ACCOUNT,
                  region=REGION, deployed=deployed)
    recorder = CallRecorder()
    boto3.setup_default_session(region_name=REGION)
    boto3.DEFAULT_SESSION.events.register("provide-client-params", recorder._record)
    try:
        config = h.ApiConfig.from_environment(env)
        backend = h.Backend(config)
        identity = {"requestContext": {"identity": {
            "userArn": f"arn:aws:iam::{ACCOUNT}:user/alice"}}}
        post = h.handle({**identity, "httpMethod": "POST", "resource": "/jobs",
                         "body": json.dumps({"jobs": [
                             {"queue": "q1", "definition": "d1", "name": f"api{i}",
                              "command": "true"} for i in range(3)]})}, backend, config)
        assert post["statusCode"] == 200, post
        first = json.loads(post["body"])["ids"][0]
        one = h.handle({**identity, "httpMethod": "GET", "resource": "/jobs/{id}",
                        "pathParameters": {"id": first}}, backend, config)
        many = h.handle({**identity, "httpMethod": "GET", "resource": "/jobs",
                         "queryStringParameters": {"queue": "q1"}}, backend, config)
        assert one["statusCode"] == 200 and many["statusCode"] == 200, (one, many)
    finally:
        boto3.DEFAULT_SESSION = None
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = role_policies(template, role, account=ACCOUNT, region=REGION, deployed=deployed)
    requests, _ = evaluate(f"arn:aws:iam::{ACCOUNT}:role/{role}", policies, recorder.calls,
                           label=f"submit API ({key})")
    assert {"dynamodb:BatchWriteItem", "sqs:SendMessage", "dynamodb:GetItem",
            "dynamodb:Query"} <= {r.action for r in requests}


def access_policy(host: Host, cloud, kind: str) -> tuple[str, dict]:
    """The managed policy ``kind`` of the control stack (from the adapted template: its API
    key and stage refs as moto's CloudFormation resolved them) and its deployed ARN."""
    template = host.template(CONTROL, adapted=True)
    deployed = resources(cloud.session, CONTROL)
    key = next(k for k, r in template["Resources"].items()
               if r["Type"] == "AWS::IAM::ManagedPolicy" and k.startswith(f"Access{kind}"))
    doc = resolve(template["Resources"][key]["Properties"]["PolicyDocument"], account=ACCOUNT,
                  region=REGION, deployed=deployed)
    outputs = host.result.outputs[CONTROL]
    assert outputs[f"{kind}PolicyArn"] == deployed[key][1]
    return deployed[key][1], doc


def api_route(cloud, method: str, path: str) -> Request:
    deployed = resources(cloud.session, CONTROL)
    api = next(p for t, p in deployed.values() if t == "AWS::ApiGateway::RestApi")
    return Request("execute-api:Invoke", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/v1/"
                                         f"{method}{path}")


def user_session() -> tuple[AwsSession, CallRecorder]:
    session = AwsSession(REGION)
    recorder = CallRecorder()
    recorder.attach(session)
    return session, recorder


def test_the_qsub_users_calls_are_allowed_by_the_submitter_policy(host, cloud):
    """qsub (direct: jobs table + work queue), qstat, qdel and qlog of the aws host client,
    as a user with the Submitters policy output; the submit API's routes too."""
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.core.jobs import Submission

    session, recorder = user_session()
    client = AwsHostClient(host.cfg, session=session)
    ids = client.submit([Submission(queue="q1", definition="d1", name=f"u{i}",
                                    command="true") for i in range(3)])
    client.submit([Submission(queue="q1", definition="d1", name="held", command="true",
                              hold=True)])
    client.list_jobs(queue="q1")
    client.count_jobs(queue="q1")
    client.get_job(ids[0])
    client.cancel([ids[-1]])
    # qdel of a RUNNING job also sends its worker a notice on its control queue.
    running = _a_running_job(host, cloud, "w-told")
    [told] = client.cancel([running])
    assert told.before == "RUNNING"
    ran = client.list_jobs(queue="q1", state="SUCCEEDED")  # qlog of a job a worker ran
    assert ran
    client.logs(ran[0].job_id)
    arn, policy = access_policy(host, cloud, "Submitters")
    routes = {api_route(cloud, "POST", "/jobs"), api_route(cloud, "GET", "/jobs"),
              api_route(cloud, "GET", f"/jobs/{ids[0]}")}
    requests, _ = evaluate(f"arn:aws:iam::{ACCOUNT}:user/submitter", [policy], recorder.calls,
                           label=f"qsub user ({arn.rsplit('/', 1)[1]})", extra=routes)
    assert {"dynamodb:BatchWriteItem", "sqs:SendMessage", "dynamodb:UpdateItem",
            "logs:FilterLogEvents"} <= {r.action for r in requests}
    ctl = schema.control_queue_name(host.cfg.host.name, "w-told")
    assert any(r.action == "sqs:SendMessage" and r.resource.endswith(f":{ctl}")
               for r in requests)  # the notice
    EXTRA["submitter_requests"] = requests - routes


def _a_running_job(host: Host, cloud, worker: str) -> str:
    """A job made RUNNING on ``worker`` (whose control queue is created), as an administrator."""
    from hyper_tui.aws import control
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.aws.table import Update
    from hyper_tui.core.jobs import Submission

    admin = AwsHostClient(host.cfg, session=cloud.session)
    [jid] = admin.submit([Submission(queue="q1", definition="d1", name="told", command="true")])
    sqs = cloud.session.client("sqs", REGION)
    control.create_control_queue(sqs, host.cfg.host.name, worker,
                                 admin.queue_url("q1", "d1"), REGION)
    u = Update(schema.jobs_table_name(host.cfg.host.name), jid).when("state", "=", "QUEUED")
    u.set("state", "RUNNING").set("worker", worker).set("attempt", 1)
    cloud.session.client("dynamodb", REGION).update_item(**u.kwargs())
    return jid


def test_qstat_and_qlog_are_allowed_by_the_read_only_policy_and_writes_are_not(host, cloud):
    from hyper_tui.aws.client import AwsHostClient

    if "submitter_requests" not in EXTRA:
        pytest.skip("runs after the qsub user's test")
    session, recorder = user_session()
    client = AwsHostClient(host.cfg, session=session)
    jobs = client.list_jobs(queue="q1", state="SUCCEEDED")
    client.count_jobs(queue="q1")
    client.get_job(jobs[0].job_id)
    client.logs(jobs[0].job_id)
    arn, policy = access_policy(host, cloud, "ReadOnly")
    user = f"arn:aws:iam::{ACCOUNT}:user/reader"
    reads, _ = evaluate(user, [policy], recorder.calls,
                        label=f"read-only user ({arn.rsplit('/', 1)[1]})",
                        extra={api_route(cloud, "GET", "/jobs"),
                               api_route(cloud, "GET", "/jobs/1")})
    # Everything the submitter needed beyond reading: submit (items, outbox, messages,
    # metric) and qdel (item updates), and the API's POST: each denied to a read-only user.
    writes = EXTRA["submitter_requests"] - reads
    writes.add(api_route(cloud, "POST", "/jobs"))
    assert {"dynamodb:BatchWriteItem", "dynamodb:UpdateItem", "sqs:SendMessage",
            "execute-api:Invoke"} <= {r.action for r in writes}
    expect_denied(user, [policy], writes, label="read-only user submitting and cancelling")


def test_an_on_prem_workers_calls_are_allowed_by_the_on_prem_policy(host, cloud):
    """A worker agent outside AWS (no job role to assume): the same transport calls."""
    from hyper_tui.aws.client import AwsHostClient
    from hyper_tui.core.jobs import Submission

    client = AwsHostClient(host.cfg, session=cloud.session)
    ids = client.submit([Submission(queue="q1", definition="d1", name=f"op{i}",
                                    command="echo on-prem") for i in range(2)])
    ran, recorder = run_agent(host.cfg, "w-onprem")
    assert ran >= 2 and all(client.get_job(j).state == "SUCCEEDED" for j in ids)
    arn, policy = access_policy(host, cloud, "OnPremWorkers")
    requests, _ = evaluate(f"arn:aws:iam::{ACCOUNT}:user/onprem-worker", [policy],
                           recorder.calls, label=f"on-prem worker ({arn.rsplit('/', 1)[1]})")
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "dynamodb:UpdateItem",
            "logs:PutLogEvents"} <= {r.action for r in requests}
