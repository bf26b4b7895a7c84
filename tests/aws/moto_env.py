"""A moto server for the aws tests and what an aws host's stacks would provision in it.

Never real AWS: one ``moto_server`` on 127.0.0.1 with a random free port serves every test of
the session (started on first use, stopped at exit); fake credentials and the endpoint
override are put in the environment, so any stray call goes to moto or nowhere.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.session import ENDPOINT_ENV, READ_TIMEOUT_ENV, AwsSession

ACCOUNT = "123456789012"
REGION = "us-east-1"
_server: dict[str, Any] = {}
_SERVER = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
           "from moto.server import main; sys.argv[0] = 'moto_server'; main(sys.argv[1:])")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_server() -> str:
    """The session's moto server URL (started on first use) with the environment set."""
    if "url" in _server:
        return _server["url"]
    last = ""
    log = Path(os.environ.get("HYPER_MOTO_LOG") or os.devnull)
    for _ in range(3):
        port = _free_port()
        # SIGUSR1 dumps the server's threads to HYPER_MOTO_LOG (to debug a stuck request).
        proc = subprocess.Popen([sys.executable, "-c", _SERVER, "-H", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(url + "/moto-api/data.json", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            _server.update(url=url, proc=proc)
            atexit.register(_stop)
            set_environment(url)
            configure(url, {"batch": {"use_docker": False}})
            return url
        last = f"exit code {proc.poll()}"
    raise RuntimeError(f"moto_server did not start: {last} (set HYPER_MOTO_LOG=FILE to see why)")


def _stop() -> None:
    proc = _server.get("proc")
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def set_environment(url: str) -> None:
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE":
        "/nonexistent/aws-credentials", "AWS_EC2_METADATA_DISABLED": "true",
        ENDPOINT_ENV: url, "AWS_ENDPOINT_URL": url,
        READ_TIMEOUT_ENV: "21",  # a request moto drops is retried soon, not after 70 s
    })
    os.environ.pop("AWS_PROFILE", None)


def reset(url: str) -> None:
    """moto's state emptied: every table goes, and with it every stream pump of the process."""
    with _PUMPS_LOCK:
        _PUMPS.clear()
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", data=b"",
                                                  method="POST"), timeout=30).read()


def configure(url: str, conf: dict[str, Any]) -> None:
    req = urllib.request.Request(url + "/moto-api/config", data=json.dumps(conf).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


# --------------------------------------------------------------------------------------------
# What the stacks would create (names from schema.py)


@dataclass
class Provisioned:
    host: str
    session: AwsSession
    table: str
    log_group: str
    work_urls: dict[tuple[str, str], str] = field(default_factory=dict)
    dlq_urls: dict[tuple[str, str], str] = field(default_factory=dict)
    stream: StreamPump | None = None


_PUMPS: dict[str, StreamPump] = {}  # table -> its one pump in this process (the current host's)
_PUMPS_LOCK = threading.Lock()


def _dispatch(params: dict[str, Any] | None = None, **kw: Any) -> None:
    """Before a BatchGetItem of counter items: the table's pump catches the counters up."""
    from hyper_tui.aws.counters import COUNTER_PREFIX

    for table, spec in (params or {}).get("RequestItems", {}).items():
        pump = _PUMPS.get(table)
        if pump is not None and pump.auto and any(
                k.get("id", {}).get("S", "").startswith(COUNTER_PREFIX) for k in spec.get("Keys", [])):
            pump.pump()


class StreamPump:
    """What the counters Lambda does on AWS (infra/components/counters): the jobs table's
    stream records, in batches of ``batch``, into the counter items
    (``hyper_tui.aws.counters.handler``). moto keeps the stream but runs no Lambda, so the
    tests run the same handler here: :meth:`attach` makes every read of counter items first
    catch the counters up with the stream (as if the Lambda had kept up), :meth:`pump` does it
    on demand and returns the handler's answers (one per batch: an invocation).

    Every record is applied once, whichever session, thread or test reads: there is one pump
    per table in a process (:func:`pump_for`), all reading goes through its lock, and the
    pump reads the shard by position, not by moto's iterators. moto numbers a record
    ``len(records) + start`` without a lock, so two writes served at once by its threaded
    server can get the same sequence number, and its ``NextShardIterator`` starts after the
    highest number returned: after such a pair it re-reads a record (a job counted twice),
    and when that record is the last one it returns it again forever (a pump that never
    ends). The pump instead asks for ``AT_SEQUENCE_NUMBER`` start + records taken (moto
    serves that by list position), skips any ``eventID`` it has seen (a guard; moto gives
    each record a random one), and gives up with an error (never a hang) when the lock or
    the stream takes longer than ``timeout`` seconds."""

    def __init__(self, session: AwsSession, table: str, *, batch: int = 100,
                 timeout: float = 120.0) -> None:
        self.session = session
        self.table = table
        self.batch = batch
        self.timeout = timeout
        self.auto = True
        self._lock = threading.RLock()
        self._taken: dict[str, int] = {}  # shard id -> records taken from its start
        self._starts: dict[str, int] = {}  # shard id -> its first sequence number
        self._seen: set[str] = set()  # eventIDs taken
        self._arn: str | None = None

    def attach(self) -> None:
        """Every AwsSession made from now on (a CLI command's, the TUI's) catches the
        counters up before it reads them."""
        if not getattr(AwsSession, "_stream_pumps", False):
            orig = AwsSession.__init__

            def init(self: AwsSession, *args: Any, **kwargs: Any) -> None:
                orig(self, *args, **kwargs)
                self.register("provide-client-params.dynamodb.BatchGetItem", _dispatch)

            AwsSession.__init__ = init  # type: ignore[method-assign]
            AwsSession._stream_pumps = True  # type: ignore[attr-defined]

    def _acquire(self) -> None:
        if not self._lock.acquire(timeout=self.timeout):
            raise TimeoutError(f"the stream pump of {self.table} stayed busy {self.timeout:g}s")

    def records(self) -> list[dict[str, Any]]:
        """The records not taken yet (each once), in stream order."""
        self._acquire()
        try:
            return self._read()
        finally:
            self._lock.release()

    def _read(self) -> list[dict[str, Any]]:
        streams = self.session.client("dynamodbstreams")
        if self._arn is None:
            desc = self.session.client("dynamodb").describe_table(TableName=self.table)
            self._arn = desc["Table"]["LatestStreamArn"]
        shards = streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        deadline = time.monotonic() + self.timeout
        out: list[dict[str, Any]] = []
        for sh in shards:
            sid = sh["ShardId"]
            self._starts.setdefault(sid, int(sh["SequenceNumberRange"]["StartingSequenceNumber"]))
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading the stream of {self.table} took over "
                                       f"{self.timeout:g}s")
                taken = self._taken.get(sid, 0)
                it = streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=sid, ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=str(self._starts[sid] + taken))["ShardIterator"]
                got = streams.get_records(ShardIterator=it, Limit=100).get("Records") or []
                self._taken[sid] = taken + len(got)
                for r in got:
                    if r["eventID"] not in self._seen:
                        self._seen.add(r["eventID"])
                        out.append(r)
                if len(got) < 100:
                    break
        return out

    def pump(self) -> list[dict[str, int]]:
        from hyper_tui.aws import counters

        self._acquire()
        try:
            records = self._read()
            ddb = self.session.client("dynamodb")
            out = []
            for i in range(0, len(records), self.batch):
                out.append(counters.handler({"Records": records[i:i + self.batch]}, ddb=ddb,
                                            table=self.table))
            return out
        finally:
            self._lock.release()


def pump_for(session: AwsSession, table: str) -> StreamPump:
    """The process's one pump of ``table``'s stream, made for a table just created (a table
    of that name made earlier, before a moto reset, had another stream: its pump goes)."""
    with _PUMPS_LOCK:
        pump = StreamPump(session, table)
        pump.attach()
        _PUMPS.clear()
        _PUMPS[table] = pump
        return pump


def provision(host: str, pairs: list[tuple[str, str]], *, lease: float = schema.LEASE_SECONDS,
              max_receives: int = schema.MAX_RECEIVES, session: AwsSession | None = None
              ) -> Provisioned:
    session = session or AwsSession(REGION)
    ddb = session.client("dynamodb")
    table = schema.jobs_table_name(host)
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in sorted(
            {("id", "S")} | {(k, t) for _, pk, pt, sk, st in schema.INDEXES
                             for k, t in ((pk, pt), (sk, st))})],
        GlobalSecondaryIndexes=[
            {"IndexName": n, "Projection": {"ProjectionType": schema.PROJECTION},
             "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"},
                           {"AttributeName": sk, "KeyType": "RANGE"}]}
            for n, pk, _, sk, _ in schema.INDEXES],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    sqs = session.client("sqs")
    out = Provisioned(host, session, table, schema.log_group_name(host))
    out.stream = pump_for(session, table)
    session.register("provide-client-params.dynamodb.BatchGetItem", _dispatch)
    for q, d in pairs:
        dlq = sqs.create_queue(QueueName=schema.dead_letter_queue_name(host, q, d))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=schema.work_queue_name(host, q, d), Attributes={
            "VisibilityTimeout": str(int(lease)),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn,
                                         "maxReceiveCount": str(max_receives)})})["QueueUrl"]
        out.work_urls[(q, d)] = url
        out.dlq_urls[(q, d)] = dlq
    session.client("logs").create_log_group(logGroupName=out.log_group)
    return out


def make_host(name: str = "acme", *, queues: tuple[str, ...] = ("q1",),
              definitions: dict[str, dict[str, Any]] | None = None,
              regions: tuple[str, ...] = (REGION,), max_vcpus: int = 64,
              lease: float = 15.0, weights: dict[str, int] | None = None) -> Any:
    """An aws host registered in the current HYPER_HOME with a cluster, queues, definitions."""
    from hyper_tui import config
    from hyper_tui.hosts import registry
    from hyper_tui.hosts.registry import apply_config

    cfg = registry.create_aws_host(name, ACCOUNT, regions[0], select=True)
    for r in regions[1:]:
        cfg.add("regions", config.validate_resource("regions", {"name": r}))
    cfg.add("clusters", config.validate_resource("clusters", {
        "name": "c1", "max_vcpus": max_vcpus, "compute_envs": 1, "instance_types": ["c5.large"]}))
    for q in queues:
        body: dict[str, Any] = {"name": q, "cluster": "c1"}
        if weights:
            body["weights"] = weights
        cfg.add("queues", config.validate_resource("queues", body))
    for d, extra in (definitions or {"d1": {}}).items():
        cfg.add("definitions", config.validate_resource("definitions", {
            "name": d, "image_uri": "public.ecr.aws/docker/library/python:3.12", **extra}))
    cfg.host.settings.lease_seconds = lease
    config.save(cfg)
    apply_config(cfg)
    return cfg


def batch_setup(session: AwsSession, host: str, cluster: str, definitions: list[str],
                region: str = REGION, max_vcpus: int = 64) -> dict[str, str]:
    """A compute environment, job queue and job definitions in moto Batch (as the compute
    stack would create them)."""
    iam = session.client("iam")
    ec2 = session.client("ec2", region)
    try:
        role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="batch-service")["Role"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"batch-{region}", Description="x", VpcId=vpc)["GroupId"]
    try:
        profile = iam.create_instance_profile(InstanceProfileName="batch-instance")["InstanceProfile"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        profile = iam.get_instance_profile(InstanceProfileName="batch-instance")["InstanceProfile"]["Arn"]
    batch = session.client("batch", region)
    ce_name = schema.compute_environment_name(host, cluster, 1)  # the stacks count from 1
    ce = batch.create_compute_environment(
        computeEnvironmentName=ce_name, type="MANAGED", state="ENABLED", serviceRole=role,
        computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": max_vcpus, "desiredvCpus": 0,
                          "instanceTypes": ["c5.large"], "subnets": [subnet],
                          "securityGroupIds": [sg], "instanceRole": profile})["computeEnvironmentArn"]
    jq = schema.batch_job_queue_name(host, cluster)
    batch.create_job_queue(jobQueueName=jq, state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
    for d in definitions:
        batch.register_job_definition(
            jobDefinitionName=schema.batch_job_definition_name(host, d), type="container",
            containerProperties={"image": "python:3.12", "vcpus": 1, "memory": 512,
                                 "command": ["/start.sh"]})
    return {"job_queue": jq, "compute_environment": ce_name}
