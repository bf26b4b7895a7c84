"""The minimal adapter between a synthesized cloud assembly and moto's CloudFormation.

moto's CloudFormation runs most of what the stacks declare; each rewrite here works around one
of *its* gaps, never a fault of the templates (a real CloudFormation needs none of them). The
rewrites act on a copy of the assembly, one template at a time; ``tests/aws/test_cfn_adapter``
checks each on a small template, and ``test_cfn_deploy`` deploys the result through the CDK CLI.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

Template = dict[str, Any]

MOTO_BATCH_ROLE = "MotoBatchServiceRole"


def batch_service_role(t: Template) -> list[str]:
    """moto: ``AWS::Batch::ComputeEnvironment`` without ``ServiceRole`` fails with
    KeyError('ServiceRole') (real Batch uses its service-linked role). Adds a role and names it."""
    envs = [k for k, r in t["Resources"].items() if r["Type"] == "AWS::Batch::ComputeEnvironment"
            and "ServiceRole" not in r["Properties"]]
    if not envs:
        return []
    t["Resources"][MOTO_BATCH_ROLE] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "batch.amazonaws.com"}}]}}}
    for k in envs:
        t["Resources"][k]["Properties"]["ServiceRole"] = {"Fn::GetAtt": [MOTO_BATCH_ROLE, "Arn"]}
    return envs


# (type, attribute) whose value real CloudFormation also returns as the resource's Ref
REF_EQUALS_ATTRIBUTE = {("AWS::Batch::ComputeEnvironment", "ComputeEnvironmentArn"),
                        ("AWS::Batch::JobQueue", "JobQueueArn")}


def _walk(node: Any, fix: Callable[[Any], Any]) -> Any:
    node = fix(node)
    if isinstance(node, dict):
        return {k: _walk(v, fix) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, fix) for v in node]
    return node


def batch_arns_by_ref(t: Template) -> list[str]:
    """moto: Batch resources have no ``Fn::GetAtt`` (AttributeError get_cfn_attribute); their
    Ref is the same ARN in moto and in CloudFormation, so GetAtt of the ARN becomes a Ref."""
    types = {k: r["Type"] for k, r in t["Resources"].items()}
    hits: list[str] = []

    def fix(node: Any) -> Any:
        if isinstance(node, dict) and list(node) == ["Fn::GetAtt"]:
            target, attribute = node["Fn::GetAtt"]
            if (types.get(target), attribute) in REF_EQUALS_ATTRIBUTE:
                hits.append(target)
                return {"Ref": target}
        return node

    for key in ("Resources", "Outputs"):
        if key in t:
            t[key] = _walk(t[key], fix)
    return sorted(set(hits))


def ssm_tags_as_list(t: Template) -> list[str]:
    """moto: ``AWS::SSM::Parameter`` Tags must be a list of Key/Value (TypeError: string
    indices); CloudFormation's type declares them a map, as CDK writes them."""
    hits = []
    for k, r in t["Resources"].items():
        tags = r.get("Properties", {}).get("Tags")
        if r["Type"] == "AWS::SSM::Parameter" and isinstance(tags, dict):
            r["Properties"]["Tags"] = [{"Key": a, "Value": b} for a, b in sorted(tags.items())]
            hits.append(k)
    return hits


def _refs(node: Any, names: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if "Ref" in node and node["Ref"] in names:
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            target = target[0] if isinstance(target, list) else str(target).split(".")[0]
            if target in names:
                found.add(target)
        if "Fn::Sub" in node:
            text = node["Fn::Sub"][0] if isinstance(node["Fn::Sub"], list) else node["Fn::Sub"]
            found |= {n for n in names if "${" + n in str(text)}
        for v in node.values():
            found |= _refs(v, names)
    elif isinstance(node, list):
        for v in node:
            found |= _refs(v, names)
    return found


def dependencies_first(t: Template) -> list[str]:
    """moto: resources are created in template order, and ``DependsOn`` is not followed (an
    API Gateway deployment listed before its methods fails: "The REST API doesn't contain any
    methods"). Orders the resources so that each comes after what it references or depends on."""
    resources = t["Resources"]
    names = set(resources)
    needs = {}
    for k, r in resources.items():
        depends = r.get("DependsOn") or []
        needs[k] = (_refs(r, names) | set([depends] if isinstance(depends, str) else depends)) - {k}
    order: list[str] = []
    done: set[str] = set()

    def visit(k: str, path: tuple[str, ...] = ()) -> None:
        if k in done or k in path:
            return
        for d in sorted(needs[k]):
            visit(d, (*path, k))
        done.add(k)
        order.append(k)

    for k in resources:
        visit(k)
    moved = [k for i, k in enumerate(order) if list(resources)[i] != k]
    t["Resources"] = {k: resources[k] for k in order}
    return moved


# Types moto's CloudFormation skips ("No Moto CloudFormation support for ..."): it creates
# nothing, and a Ref to them resolves to an empty string.
MOTO_SKIPS = {"AWS::ApiGateway::ApiKey", "AWS::ApiGateway::Stage", "AWS::ApiGateway::UsagePlan",
              "AWS::ApiGateway::UsagePlanKey", "AWS::ApiGateway::Model",
              "AWS::ApiGateway::RequestValidator", "AWS::ApiGateway::Account",
              "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"}


def refs_to_skipped_types(t: Template) -> list[str]:
    """moto: a Ref to a resource of a type it skips is '' (and an SSM parameter of that value
    fails: "Member must have length greater than or equal to 1"). A Stage's Ref becomes its
    StageName (what CloudFormation returns); any other becomes ``moto-skipped-<logical id>``."""
    skipped = {k: r for k, r in t["Resources"].items() if r["Type"] in MOTO_SKIPS}
    hits: set[str] = set()

    def fix(node: Any) -> Any:
        if isinstance(node, dict) and list(node) == ["Ref"] and node["Ref"] in skipped:
            target = skipped[node["Ref"]]
            hits.add(node["Ref"])
            if target["Type"] == "AWS::ApiGateway::Stage":
                return target["Properties"]["StageName"]
            return f"moto-skipped-{node['Ref']}"
        return node

    for key in ("Resources", "Outputs"):
        if key in t:
            t[key] = _walk(t[key], fix)
    return sorted(hits)


REWRITES: list[Callable[[Template], list[str]]] = [batch_service_role, batch_arns_by_ref,
                                                   ssm_tags_as_list, refs_to_skipped_types,
                                                   dependencies_first]


def adapt_assembly(source: Path, target: Path) -> dict[str, dict[str, list[str]]]:
    """Copy the cloud assembly ``source`` to ``target`` and adapt each template there; returns
    {template file: {rewrite: [logical ids it changed]}}."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    done: dict[str, dict[str, list[str]]] = {}
    for path in sorted(target.glob("*.template.json")):
        t = json.loads(path.read_text())
        changes = {f.__name__: hit for f in REWRITES if (hit := f(t))}
        path.write_text(json.dumps(t, indent=1))
        done[path.name] = changes
    return done


# moto's own server, with patches for what the CDK CLI's deploys (change sets) meet:
# 1. a stack created through a change set keeps the outputs of its empty REVIEW_IN_PROGRESS
#    template: apply updates the resources but never rebuilds the output map (update_stack
#    does). Without outputs, ``cdk deploy --outputs-file`` and ``hyper-tui deploy`` find nothing.
# 2. a failed creation is not rolled back ("TODO: handle execution errors and implement
#    rollback" in moto): the stack stays REVIEW_IN_PROGRESS with what it had created, and the
#    next deploy cannot even describe its change set. CloudFormation deletes what the failed
#    creation made (Retain resources excepted: moto's delete keeps "Retain" only, so
#    RetainExceptOnCreate resources go, as in CloudFormation) and marks it ROLLBACK_COMPLETE,
#    which the CDK CLI deletes before it creates the stack again.
# 3. a Lambda-backed custom resource runs only by invoking its function in Docker
#    (moto/cloudformation/custom_model.py); with no Docker nothing ever answers CloudFormation
#    and the stack stays CREATE_IN_PROGRESS. The stacks' only ones are CDK's AwsCustomResource
#    calls of SSM getParameter in another region (a hub reads the main VPC id, the peering stack
#    each hub's peering id): they are answered from moto's SSM backend of the call's region,
#    with the flattened response the function returns (``Parameter.Value``...). Any other
#    custom resource goes to moto as before.
# 4. ``AWS::EC2::VPCPeeringConnection`` looks its ``PeerVpcId`` up in the stack's own region
#    and ignores ``PeerRegion`` (InvalidVpcID.NotFound for a cross-region peering); the peer
#    VPC is looked up in ``PeerRegion``, and the connection is accepted, as CloudFormation
#    does for two VPCs of one account.
# 5. change sets are found by name across every stack of the region, ignoring ``StackName``
#    (``describe_change_set``, ``execute_change_set``, ``delete_change_set`` of
#    CloudFormationBackend), and ``delete_change_set`` of a name that does not exist fails
#    with an UnboundLocalError (HTTP 500). Before every deploy of a stack that exists, the
#    CDK CLI deletes the change set it is about to create "if it exists" (which
#    CloudFormation answers with success), so each update of a stack got a 500, retried by
#    the SDK with backoff for about 50 s, then "Stack with id cdk-deploy-change-set does not
#    exist"; and a stack created again (after a failed creation was rolled back and
#    deleted) still had its deleted namesake's change set, which the CLI, waiting for the
#    one it deleted to go, found forever: a real hang. The three calls find the change set
#    of the request's live stack (its newest of that name); deleting one that is not there
#    succeeds, describing or executing it is ChangeSetNotFoundException (the CLI waits for a
#    deleted change set until it gets that error).
# 6. an UPDATE change set's ``UsePreviousValue`` takes the stack's *resolved* parameter
#    value (``stack_parameters``), and an ``AWS::SSM::Parameter::Value`` parameter is then
#    resolved again as if that value were a parameter name: every CDK stack's
#    ``BootstrapVersion`` (the CLI passes it with ``UsePreviousValue`` on an update) became
#    a lookup of SSM parameter "30", an AttributeError and an HTTP 500. The previous value
#    of an SSM-typed parameter is its parameter name (the stack's input, else the default),
#    as in CloudFormation.
MOTO_SERVER = """
import json
import sys
import traceback
from moto.cloudformation import models
from moto.cloudformation import custom_model
from moto.ec2.models import vpc_peering_connections as pcx

_custom = custom_model.CustomModel.create_from_cloudformation_json.__func__


def custom(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    props = cloudformation_json["Properties"]
    call = props.get("Create")
    call = json.loads(call) if isinstance(call, str) else call
    if kwargs.get("ResourceType") != "Custom::AWS" or not call \
            or (call.get("service"), call.get("action")) not in (("SSM", "getParameter"),
                                                                 ("ssm", "GetParameter")):
        return _custom(cls, resource_name, cloudformation_json, account_id, region_name,
                       **kwargs)
    from moto.ssm.models import ssm_backends

    region = call.get("region") or region_name
    found = ssm_backends[account_id][region].get_parameter(call["parameters"]["Name"])
    if found is None:
        raise ValueError(f"SSM parameter {call['parameters']['Name']} not in {region}")
    resource = custom_model.CustomModel(region_name, "moto", kwargs["LogicalId"],
                                        call.get("physicalResourceId", {}).get("id")
                                        or resource_name)
    resource.set_data({"Parameter.Name": found.name, "Parameter.Value": found.value,
                       "Parameter.Type": getattr(found, "parameter_type", "String"),
                       "Parameter.Version": str(getattr(found, "version", 1))})
    return resource


custom_model.CustomModel.create_from_cloudformation_json = classmethod(custom)


def peering(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    from moto.ec2.models import ec2_backends

    props = cloudformation_json["Properties"]
    backend = ec2_backends[account_id][region_name]
    peer = ec2_backends[props.get("PeerOwnerId") or account_id][
        props.get("PeerRegion") or region_name]
    connection = backend.create_vpc_peering_connection(backend.get_vpc(props["VpcId"]),
                                                       peer.get_vpc(props["PeerVpcId"]))
    connection._status.accept()
    return connection


pcx.VPCPeeringConnection.create_from_cloudformation_json = classmethod(peering)

_apply = models.ChangeSet.apply


def apply(self):
    try:
        _apply(self)
    except Exception:
        traceback.print_exc()  # into the server's log: what failed, for the test's report
        if self.change_set_type == "CREATE":
            self.stack.resource_map.delete()
            self.stack._add_stack_event("ROLLBACK_COMPLETE")
            self.stack.status = "ROLLBACK_COMPLETE"
        raise
    self.stack.template_dict = self.template_dict
    self.stack.output_map = self.stack._create_output_map()


models.ChangeSet.apply = apply

from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import CloudFormationError
from moto.core.responses import ActionResult, EmptyResult


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"

    def __init__(self, name):
        super().__init__(f"ChangeSet [{name}] does not exist")


def change_set_arn(backend, stack, name):
    if name in backend.change_sets:
        return name
    live = {s.stack_id for s in backend.stacks.values() if stack in (s.name, s.stack_id)}
    mine = [cs for cs in backend.change_sets.values() if cs.change_set_name == name
            and (not stack or cs.stack_id in live)]
    return max(mine, key=lambda cs: cs.creation_time).change_set_id if mine else None


def change_set_call(self, op):
    b = self.cloudformation_backend
    stack, name = self._get_param("StackName"), self._get_param("ChangeSetName")
    arn = change_set_arn(b, stack, name)
    if op == "delete":
        if arn is not None:
            b.delete_change_set(change_set_name=arn)
        return EmptyResult()
    if arn is None:
        raise ChangeSetNotFound(name)
    if op == "describe":
        return ActionResult(b.describe_change_set(change_set_name=arn))
    b.execute_change_set(stack_name=stack, change_set_name=arn)
    return EmptyResult()


for _op in ("delete", "describe", "execute"):
    setattr(cfn_responses.CloudFormationResponse, f"{_op}_change_set",
            lambda self, _op=_op: change_set_call(self, _op))

_create_change_set = cfn_responses.CloudFormationResponse.create_change_set


def create_change_set(self):
    if self._get_param("ChangeSetType", "CREATE") != "UPDATE":
        return _create_change_set(self)
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    slots = (getattr(stack, "template_dict", None) or {}).get("Parameters") or {}
    raw = {k: (stack.parameters or {}).get(k, slot.get("Default")) for k, slot in slots.items()
           if str(slot.get("Type", "")).startswith("AWS::SSM::Parameter::")}
    saved = stack.resource_map.resolved_parameters
    stack.resource_map.resolved_parameters = {**saved, **raw}
    try:
        return _create_change_set(self)
    finally:
        stack.resource_map.resolved_parameters = saved


cfn_responses.CloudFormationResponse.create_change_set = create_change_set

from moto.server import main

main(sys.argv[1:])
"""


def start_moto_server(log: Path, *, host: str = "localhost", prelude: str = "",
                      env: dict[str, str] | None = None, timeout: float = 60.0
                      ) -> tuple[subprocess.Popen, str]:
    """moto's server with ``MOTO_SERVER``'s patches (after ``prelude``, more of them) on a free
    port of ``host`` (``localhost``: moto reads S3 template URLs path-style only there),
    its stderr to ``log``; once it answers, the process and its URL. RuntimeError, with the
    log's end, if it has not started within ``timeout`` seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", prelude + MOTO_SERVER, "-H", host,
                             "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), env=env)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"moto did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
