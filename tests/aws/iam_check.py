"""Evaluate recorded AWS calls against the IAM policies of the synthesized templates with a
real IAM evaluator: the npm package ``@cloud-copilot/iam-simulate``, run with Node.

``CallRecorder`` hooks a session (botocore ``provide-client-params``) and keeps each call as
IAM sees it: action, resource ARN and condition keys (:func:`iam_requests`). ``role_policies``
takes the policy documents attached to a role in a template and resolves what they reference
(pseudo parameters, Joins). ``simulate`` runs every request in one Node process.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIMULATOR = "@cloud-copilot/iam-simulate"
NODE_SCRIPT = """
const sim = require(require.resolve('@cloud-copilot/iam-simulate', {paths: [process.argv[1]]}));
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const out = [];
  for (const r of input.requests) {
    const response = await sim.runSimulation({
      identityPolicies: input.policies.map((p, i) => ({name: 'p' + i, policy: p})),
      serviceControlPolicies: [], resourceControlPolicies: [],
      resourcePolicy: input.resourcePolicy || undefined,
      request: {action: r.action, principal: input.principal,
                resource: {accountId: input.account, resource: r.resource},
                contextVariables: r.context}}, {});
    out.push({action: r.action, resource: r.resource,
              result: response.resultType === 'error' ? 'error: ' + JSON.stringify(response.errors)
                                                      : response.overallResult});
  }
  console.log(JSON.stringify(out));
})();
"""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class CallRecorder:
    calls: list[tuple[str, str, str, dict]] = field(default_factory=list)  # region, svc, op, params

    def attach(self, session: Any) -> None:
        session.register("provide-client-params", self._record)

    def _record(self, params: dict | None = None, model: Any = None, context: Any = None,
                **kw: Any) -> None:
        region = (context or {}).get("client_region") or ""
        self.calls.append((region, model.service_model.signing_name, model.name,
                           dict(params or {})))


SQS_BATCH = {"DeleteMessageBatch": "DeleteMessage", "SendMessageBatch": "SendMessage",
             "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def _sqs_arn(url: str, region: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def iam_requests(calls: list[tuple[str, str, str, dict]], *, account: str,
                 default_region: str) -> tuple[set[Request], set[str]]:
    """The IAM requests the calls make, and the calls this mapping does not know."""
    out: set[Request] = set()
    unknown: set[str] = set()
    for region, service, op, p in calls:
        region = region or default_region
        base = f"arn:aws:{service}:{region}:{account}"
        if service == "dynamodb":
            if op == "TransactWriteItems":
                for item in p["TransactItems"]:
                    (kind, body), = item.items()
                    action = {"Update": "UpdateItem", "Put": "PutItem", "Delete": "DeleteItem",
                              "ConditionCheck": "ConditionCheckItem"}[kind]
                    out.add(Request(f"dynamodb:{action}", f"{base}:table/{body['TableName']}"))
                continue
            tables = list(p.get("RequestItems") or []) or [p["TableName"]]
            for t in tables:
                arn = f"{base}:table/{t}" + (f"/index/{p['IndexName']}" if p.get("IndexName")
                                             else "")
                out.add(Request(f"dynamodb:{op}", arn))
        elif service == "sqs" and op == "ListQueues":
            out.add(Request("sqs:ListQueues", "*"))  # no resource ARN
        elif service == "sqs":
            arn = _sqs_arn(p["QueueUrl"], region) if "QueueUrl" in p \
                else f"{base}:{p['QueueName']}"
            # batch calls are authorized as their single-message action
            out.add(Request(f"sqs:{SQS_BATCH.get(op, op)}", arn))
        elif service == "logs" and "logGroupName" in p:
            arn = f"{base}:log-group:{p['logGroupName']}"
            if p.get("logStreamName"):
                arn += f":log-stream:{p['logStreamName']}"
            out.add(Request(f"logs:{op}", arn))
        elif service == "batch" and op == "SubmitJob":
            for key, kind in (("jobQueue", "job-queue"), ("jobDefinition", "job-definition")):
                name = p[key]
                arn = name if name.startswith("arn:") else f"{base}:{kind}/{name}"
                out.add(Request("batch:SubmitJob", arn))
            if p.get("tags"):  # tag-on-create: TagResource on the new job
                out.add(Request("batch:TagResource", f"{base}:job/00000000-new-job"))
        elif service == "batch" and op in ("ListJobs", "DescribeJobs", "DescribeJobQueues",
                                           "DescribeComputeEnvironments"):
            out.add(Request(f"batch:{op}", "*"))
        elif service == "monitoring" and op == "PutMetricData":
            out.add(Request("cloudwatch:PutMetricData", "*",
                            (("cloudwatch:namespace", p["Namespace"]),)))
        elif service == "monitoring" and op == "GetMetricData":
            out.add(Request("cloudwatch:GetMetricData", "*"))
        elif service == "sts" and op == "AssumeRole":
            out.add(Request("sts:AssumeRole", p["RoleArn"]))
        elif service == "sts" and op == "GetCallerIdentity":
            continue  # needs no permission
        elif service == "s3" and op in ("GetObject", "PutObject"):
            out.add(Request(f"s3:{op}", f"arn:aws:s3:::{p['Bucket']}/{p['Key']}"))
        elif service == "s3" and op == "ListObjectsV2":
            out.add(Request("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}"))
        elif service == "ssm" and op == "GetParameter":
            out.add(Request("ssm:GetParameter", f"{base}:parameter{p['Name']}"))
        elif service == "apigateway" and op == "GetApiKey":
            out.add(Request("apigateway:GET", f"arn:aws:apigateway:{region}::/apikeys/"
                                              f"{p['apiKey']}"))
        else:
            unknown.add(f"{service}:{op}")
    return out, unknown


def arn_of(kind: str, physical: str, *, account: str, region: str) -> str:
    """The ``Arn`` attribute of a deployed resource from its physical id (its Ref)."""
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{region}:{account}:table/{physical}"
    if kind == "AWS::SQS::Queue":
        return _sqs_arn(physical, region)
    if kind == "AWS::Logs::LogGroup":
        return f"arn:aws:logs:{region}:{account}:log-group:{physical}:*"
    if kind == "AWS::IAM::Role":
        return physical if physical.startswith("arn:") else f"arn:aws:iam::{account}:role/{physical}"
    return physical if physical.startswith("arn:") else f"unresolved:{kind}:{physical}"


def resolve(node: Any, *, partition: str = "aws", account: str, region: str,
            deployed: dict[str, tuple[str, str]] | None = None) -> Any:
    """A policy with CloudFormation's pseudo parameters, Joins and the Ref/GetAtt Arn of
    ``deployed`` resources (logical id -> (type, physical id)) resolved; anything else is left
    as is, and fails the simulation visibly."""
    pseudo = {"AWS::Partition": partition, "AWS::AccountId": account, "AWS::Region": region,
              "AWS::URLSuffix": "amazonaws.com"}
    deployed = deployed or {}

    def again(x: Any) -> Any:
        return resolve(x, partition=partition, account=account, region=region,
                       deployed=deployed)

    if isinstance(node, dict):
        if list(node) == ["Ref"] and node["Ref"] in pseudo:
            return pseudo[node["Ref"]]
        if list(node) == ["Ref"] and node["Ref"] in deployed:
            return deployed[node["Ref"]][1]
        if list(node) == ["Fn::GetAtt"] and node["Fn::GetAtt"][0] in deployed \
                and node["Fn::GetAtt"][1] == "Arn":
            kind, physical = deployed[node["Fn::GetAtt"][0]]
            return arn_of(kind, physical, account=account, region=region)
        if list(node) == ["Fn::Join"]:
            sep, parts = node["Fn::Join"]
            return sep.join(str(again(x)) for x in parts)
        return {k: again(v) for k, v in node.items()}
    if isinstance(node, list):
        return [again(v) for v in node]
    return node


def role_policies(template: dict, role: str, *, account: str, region: str,
                  deployed: dict[str, tuple[str, str]] | None = None) -> list[dict]:
    """Every policy document attached to the role ``role`` (logical id) in ``template``."""
    docs = []
    res = template["Resources"]
    for r in res.values():
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                {"Ref": role} in (r["Properties"].get("Roles") or []):
            docs.append(r["Properties"]["PolicyDocument"])
    docs += [p["PolicyDocument"] for p in res[role]["Properties"].get("Policies") or []]
    return [resolve(d, account=account, region=region, deployed=deployed) for d in docs]


def simulate(node_modules: Path, principal: str, account: str, policies: list[dict],
             requests: set[Request], *, resource_policy: dict | None = None) -> list[dict]:
    """Each request by ``principal`` with identity ``policies`` (and the resource's own
    ``resource_policy``, such as a role's trust policy)."""
    payload = {"principal": principal, "account": account, "policies": policies,
               "resourcePolicy": resource_policy,
               "requests": [{"action": r.action, "resource": r.resource,
                             "context": dict(r.context)} for r in sorted(requests, key=str)]}
    out = subprocess.run(["node", "-e", NODE_SCRIPT, str(node_modules)],
                         input=json.dumps(payload), capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout)
