"""Register an aws host deployed elsewhere (``hosts import-deployment``).

The control stack publishes the discovery values of ``schema.OUTPUTS`` both as stack outputs
and as SSM parameters under ``schema.ssm_prefix(host)``; either is enough. The host's
resources are rebuilt from the scaler function's config (queues, definitions, clusters,
regions and weights: the file ``scaler_config.CONFIG_FILE`` in the function's code, or the
``HYPER_SCALER_CONFIG`` variable of older deployments) when it can be read, else only the main
region is declared. The host is written like any other (config YAML + registry), its resources marked
ACTIVE (they are deployed), and the discovery values kept in its state (meta ``aws_outputs``).
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from typing import Any

from hyper_tui import config
from hyper_tui.aws import schema
from hyper_tui.aws.scaler_config import CONFIG_FILE, CONFIG_FILE_ENV, ScalerConfig
from hyper_tui.aws.session import AwsSession, aws_errors, error_code
from hyper_tui.errors import ConflictError, NotFoundError, UnavailableError
from hyper_tui.hosts import registry

OUTPUTS_META_KEY = "aws_outputs"


def read_outputs(session: AwsSession, host: str, region: str) -> tuple[dict[str, str], str]:
    """The discovery values and where they came from (``stack outputs`` or ``ssm``)."""
    stack = schema.control_stack_name(host, region)
    cf = session.client("cloudformation", region)
    try:
        desc = cf.describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs") or []
                   if o.get("OutputKey") in schema.OUTPUTS}
        if outputs:
            return outputs, f"stack outputs of {stack} ({desc.get('StackStatus')})"
    except Exception as err:
        if not (error_code(err) == "ValidationError" and "does not exist" in str(err)):
            raise
    ssm = session.client("ssm", region)
    values: dict[str, str] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path=schema.ssm_prefix(host).rstrip("/"), Recursive=False):
        for p in page.get("Parameters") or []:
            key = p["Name"].rsplit("/", 1)[-1]
            if key in schema.OUTPUTS:
                values[key] = p["Value"]
    if values:
        return values, f"SSM parameters under {schema.ssm_prefix(host)}"
    raise NotFoundError(f"no deployment of host {host!r} in {region}: no stack {stack} and no "
                        f"SSM parameters under {schema.ssm_prefix(host)}",
                        fix="check --name, --region and that the credentials are for --account")


def config_from_code(archive: bytes, path: str = CONFIG_FILE) -> str | None:
    """The text of ``path`` in a Lambda function's code archive (None when absent)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            return z.read(path).decode("utf-8")
    except (KeyError, zipfile.BadZipFile):
        return None


def _code_of(lam: Any, name: str) -> bytes:
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=30) as response:  # a presigned S3 URL
        return response.read()


def find_scaler_config(session: AwsSession, host: str, region: str) -> ScalerConfig | None:
    """The host's scaler config, from its Lambda function's code (or environment, for older
    deployments); None if unreadable."""
    lam = session.client("lambda", region)
    try:
        for page in lam.get_paginator("list_functions").paginate():
            for fn in page.get("Functions") or []:
                env = ((fn.get("Environment") or {}).get("Variables") or {})
                text = env.get(schema.SCALER_CONFIG_ENV)
                if not text and env.get(CONFIG_FILE_ENV) and env.get("HYPER_HOST") == host:
                    try:
                        text = config_from_code(_code_of(lam, fn["FunctionName"]),
                                                env[CONFIG_FILE_ENV])
                    except OSError:
                        text = None
                if not text:
                    continue
                try:
                    cfg = ScalerConfig.from_json(text)
                except (ValueError, TypeError, KeyError):
                    continue
                if cfg.host == host:
                    return cfg
    except Exception as err:  # no lambda:ListFunctions: fall back to a minimal config
        if error_code(err) in ("AccessDenied", "AccessDeniedException"):
            return None
        raise
    return None


def config_from_scaler(host: str, account: str, region: str,
                       sc: ScalerConfig | None) -> config.HostConfig:
    from hyper_tui.model import Host, HostKind

    cfg = config.HostConfig(host=Host(name=host, kind=HostKind.AWS, account=account,
                                      main_region=region))
    regions = {region}
    for p in (sc.pairs if sc else []):
        regions.update(p.weights)
        regions.update(p.batch_job_queue)
    for r in sorted(regions):
        cfg.regions[r] = config.validate_resource("regions", {"name": r, "main": r == region},
                                                  source="import-deployment")
    for p in (sc.pairs if sc else []):
        if p.cluster not in cfg.clusters:
            cfg.clusters[p.cluster] = config.validate_resource(
                "clusters", {"name": p.cluster, "max_vcpus": p.max_vcpus,
                             "compute_envs": min(3, max(1, p.max_vcpus))}, source="import-deployment")
        if p.queue not in cfg.queues:
            cfg.queues[p.queue] = config.validate_resource(
                "queues", {"name": p.queue, "cluster": p.cluster,
                           "weights": {r: int(w) for r, w in p.weights.items()}},
                source="import-deployment")
        if p.definition not in cfg.definitions:
            ratio = p.ratio if p.ratio != int(p.ratio) else int(p.ratio)
            cfg.definitions[p.definition] = config.validate_resource(
                "definitions", {"name": p.definition, "vcpus": p.vcpus,
                                "jobs_to_workers_ratio": ratio}, source="import-deployment")
    return cfg


def import_deployment(name: str, account: str, region: str, *,
                      session: AwsSession | None = None, select: bool = True) -> dict[str, Any]:
    """Register the aws host ``name`` deployed in ``account``/``region``; return what was found."""
    from hyper_tui.hosts.registry import apply_config
    from hyper_tui.local.apply import open_store

    if any(h.name == name for h in registry.list_hosts()):
        raise ConflictError(f"a host named {name!r} exists already",
                            fix="pick another name, or delete it with hosts delete-host")
    session = session or AwsSession(region)
    with aws_errors(f"import-deployment {name}", region=region):
        who = session.client("sts", region).get_caller_identity()
        if who.get("Account") and who["Account"] != account:
            raise UnavailableError(f"import-deployment: the credentials are for account "
                                   f"{who['Account']}, not {account}",
                                   fix="use a profile of that account (AWS_PROFILE)")
        outputs, source = read_outputs(session, name, region)
        sc = find_scaler_config(session, name, region)
    cfg = config_from_scaler(name, account, region, sc)
    config.save(cfg)
    registry.register(name, "aws", select=select)
    apply_config(cfg)
    store = open_store(name)
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        store.write(lambda db: db.execute(
            "UPDATE resources SET status='ACTIVE', log=log || ?", (f"{stamp} imported from the "
                                                                  f"deployment ({source})\n",)))
        store.set_meta(OUTPUTS_META_KEY, json.dumps({**outputs, "source": source,
                                                     "imported_at": round(time.time(), 3)},
                                                    sort_keys=True))
    finally:
        store.close()
    return {"host": name, "account": account, "region": region, "source": source,
            "outputs": outputs, "config_from": "scaler function" if sc else "main region only",
            "regions": sorted(cfg.regions), "queues": sorted(cfg.queues),
            "definitions": sorted(cfg.definitions), "selected": select}
