"""The two account-wide settings an aws host needs, set by ``hyper-tui bootstrap`` and
``hyper-tui deploy`` instead of by a stack (a stack would make the last host deployed own them,
and deleting its stack would break every other host of the account):

* **API Gateway's CloudWatch Logs role** (one per account and region): kept when one is set
  already (the user's, another tool's, another host's); otherwise the role
  :data:`APIGW_LOGS_ROLE` (trusted by ``apigateway.amazonaws.com``, the AWS managed policy
  ``AmazonAPIGatewayPushToCloudWatchLogs``, the hyper-tui permissions boundary) is created if
  absent and set (:func:`ensure_apigateway_logs_role`, a step of bootstrap).
* **ECR replication** (one configuration per registry, i.e. account and region): this host's
  repository prefix is merged into the main region's configuration, keeping every other rule
  and filter (:func:`merged_rules`, pure; :func:`ensure_replication`, a step of deploy).

Every step says what it did in one :class:`~hyper_tui.aws.deploy.DeployEvent` line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.config import HostConfig

APIGW_LOGS_ROLE = "hyper-tui-apigateway-logs"
APIGW_LOGS_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
MAX_FILTERS_PER_RULE = 100  # ECR's limit of repository filters in one replication rule
ROLE_PROPAGATION_SECONDS = 60.0  # a new role may be refused by API Gateway until IAM has it

Say = Callable[[str], None]


def _trust() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})


def ensure_logs_role(iam: Any, *, boundary_arn: str, partition: str) -> tuple[str, str]:
    """The role :data:`APIGW_LOGS_ROLE` with the managed policy attached: (its ARN, "created"
    or "exists")."""
    try:
        arn = iam.create_role(RoleName=APIGW_LOGS_ROLE, AssumeRolePolicyDocument=_trust(),
                              PermissionsBoundary=boundary_arn,
                              Description="hyper-tui: API Gateway writes its logs to CloudWatch "
                                          "(account setting, kept for every API)")["Role"]["Arn"]
        state = "created"
    except iam.exceptions.EntityAlreadyExistsException:
        arn, state = iam.get_role(RoleName=APIGW_LOGS_ROLE)["Role"]["Arn"], "exists"
    iam.attach_role_policy(RoleName=APIGW_LOGS_ROLE,
                           PolicyArn=f"arn:{partition}:iam::aws:policy/{APIGW_LOGS_POLICY}")
    return arn, state


def ensure_apigateway_logs_role(cfg: HostConfig, session: Any, say: Say, *, boundary_arn: str,
                                sleep: Callable[[float], None] = time.sleep,
                                wait: float = ROLE_PROPAGATION_SECONDS) -> str:
    """The CloudWatch Logs role of API Gateway in the host's account and main region: the one
    set already, else :data:`APIGW_LOGS_ROLE` (created if absent) set now. Returns its ARN."""
    from hyper_tui.aws.session import aws_errors

    region = cfg.host.main_region
    with aws_errors("API Gateway's CloudWatch Logs role", region=region):
        apigw = session.client("apigateway", region)
        held = apigw.get_account().get("cloudwatchRoleArn")
        if held:
            say(f"API Gateway CloudWatch Logs role of {region}: {held} (set already, kept)")
            return held
        arn, state = ensure_logs_role(session.client("iam"), boundary_arn=boundary_arn,
                                      partition=boundary_arn.split(":")[1])
        deadline = time.monotonic() + wait
        while True:
            try:
                apigw.update_account(patchOperations=[
                    {"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])
                break
            except apigw.exceptions.BadRequestException:
                # IAM is eventually consistent: a role just created is refused for a few seconds
                if time.monotonic() > deadline:
                    raise
                sleep(2.0)
    say(f"API Gateway CloudWatch Logs role of {region}: {arn} (role {state}, set)")
    return arn


# ---- ECR replication (pure merge, then the calls) ------------------------------------------------

def _destinations(rule: dict[str, Any]) -> set[tuple[str, str]]:
    return {(d["region"], d["registryId"]) for d in rule.get("destinations", [])}


def merged_rules(rules: list[dict[str, Any]], prefix: str,
                 destinations: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``rules`` (a registry's replication rules) with the repository prefix ``prefix``
    replicated to exactly ``destinations`` ((region, registry id) pairs; none: not replicated).

    Every other filter and rule is kept as it is. ``prefix`` is taken out of the rules that
    hold it (a rule left with no filter goes: with none it would replicate every repository)
    and added to a rule of exactly these destinations that has filters and room for one more,
    else to a new rule at the end; a rule that replicates it to exactly these destinations
    already is left as it is, so a second call returns its input."""
    mine = {"filter": prefix, "filterType": "PREFIX_MATCH"}
    wanted = set(destinations)

    def holds(rule: dict[str, Any]) -> bool:
        return any(f.get("filter") == prefix for f in rule.get("repositoryFilters", []))

    # the rule that replicates the prefix to exactly these destinations already stays as it is
    home = next((i for i, r in enumerate(rules) if wanted and holds(r)
                 and _destinations(r) == wanted), None)
    out: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        filters = rule.get("repositoryFilters", [])
        kept = [f for f in filters if f.get("filter") != prefix]
        if i == home:
            out.append(dict(rule))
        elif not filters or kept:
            out.append({**rule, "repositoryFilters": kept} if filters else dict(rule))
    if home is not None or not wanted:
        return out
    for rule in out:
        filters = rule.get("repositoryFilters", [])
        if filters and _destinations(rule) == wanted and len(filters) < MAX_FILTERS_PER_RULE:
            rule["repositoryFilters"] = [*filters, mine]
            return out
    return [*out, {"destinations": [{"region": r, "registryId": a} for r, a in destinations],
                   "repositoryFilters": [mine]}]


def replication_destinations(cfg: HostConfig) -> list[tuple[str, str]]:
    """Where the host's images go: every hub, when the host builds images."""
    if not cfg.images:
        return []
    return [(r, cfg.host.account) for r in sorted(cfg.regions) if r != cfg.host.main_region]


def ensure_replication(cfg: HostConfig, session: Any, say: Say) -> list[dict[str, Any]] | None:
    """Merge the host's replication rule into its main region's registry configuration (only
    a host with hubs and images has one). Returns the rules put, None when nothing changed."""
    from hyper_tui.aws.session import aws_errors

    destinations = replication_destinations(cfg)
    if not destinations:
        return None
    region = cfg.host.main_region
    prefix = schema.ecr_repository_name(cfg.host.name)
    hubs = ", ".join(r for r, _ in destinations)
    with aws_errors("the ECR replication configuration", region=region):
        ecr = session.client("ecr", region)
        held = ecr.describe_registry().get("replicationConfiguration", {}).get("rules", [])
        rules = merged_rules(held, prefix, destinations)
        if rules == held:
            say(f"ECR replication of {prefix} from {region} to {hubs}: unchanged")
            return None
        ecr.put_replication_configuration(replicationConfiguration={"rules": rules})
    say(f"ECR replication of {prefix} from {region} to {hubs}: set "
        f"({len(rules)} rule(s) in the registry, the others kept)")
    return rules
