"""The aws host client: the ``HostClient`` contract (``hyper_tui.hosts.contract``) over boto3.

Jobs are items of the host's DynamoDB jobs table and ids on its SQS work queues (layout in
``schema``); logs are CloudWatch Logs records; the dashboard's series are CloudWatch metrics
(published by the scaler and the workers). Every AWS error reaches the caller as one line
(``hyper_tui.aws.session.friendly_error``), never as a traceback. It returns the typed rows of
``hyper_tui.core.jobs`` and prints nothing.

Submitting (``qsub``) is best-effort all-or-nothing per submission: the items are written
first (BatchWriteItem, 25 a call, in parallel); a submission with an item that could not be
written is removed again; then the ids are enqueued (10 ids a message, 10 messages a call)
and any job that could not be enqueued is marked FAILED with the reason. Arrays write their
script once (a spec item) and one small item per task (``A-7``, shown as ``A[7]``).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from functools import wraps
from pathlib import Path
from typing import Any

from hyper_tui import config
from hyper_tui.aws import groups, schema
from hyper_tui.aws.control import send_notices
from hyper_tui.aws.counters import read_counts
from hyper_tui.aws.dead_letters import SweepResult, sweep_dead_letters
from hyper_tui.aws.dependencies import deps_reason, release_holds
from hyper_tui.aws.outbox import close_outbox, enqueue_or_fail, open_outbox
from hyper_tui.aws.session import AwsSession, aws_errors, error_code
from hyper_tui.aws.table import (
    Update,
    array_tasks,
    batch_get,
    from_item,
    hydrate,
    query_items,
    to_attr,
    to_item,
)
from hyper_tui.core import job_query
from hyper_tui.core.errors import (
    NotFoundError,
    UnavailableError,
    UsageError,
    ValidationError,
)
from hyper_tui.core.host import Capabilities, HostStatus, Metrics
from hyper_tui.core.jobs import (
    ACTIVE_STATES,
    FINAL_STATES,
    Attempt,
    CancelResult,
    Counts,
    Dependency,
    JobDetail,
    JobRow,
    LogChunk,
    LogRecord,
    ReleaseResult,
    Submission,
    WorkerRow,
)
from hyper_tui.core.lifecycle import HELD_REASON
from hyper_tui.core.submit import submitting_user

LOG = logging.getLogger(__name__)  # warnings only (stderr); results are returned, never printed
JOB_REF = re.compile(r"^([A-Za-z0-9_.:#-]+?)(\[(\d*)\])?$")
MAX_ITEM_BYTES = 350_000    # DynamoDB allows 400 KB an item; keep room for the other fields
SUMMARY_CACHE_S = 10.0      # the dashboard asks every 2 s; the counts are the counter items
METRICS_CACHE_S = 30.0      # CloudWatch metrics have one point a minute
THREADS = 8
AWS_MAX_TASKS = 200_000     # one submission is held in memory while it is written
SUBMIT_VIA_ENV = "HYPER_SUBMIT_VIA"  # direct (default) or api: POST /jobs of the submit API


def _aws(what: str) -> Callable:
    """Run the method with AWS errors turned into one-line HyperErrors."""
    def deco(fn: Callable) -> Callable:
        @wraps(fn)
        def run(self: AwsHostClient, *args: Any, **kwargs: Any) -> Any:
            with aws_errors(what, region=self.region):
                return fn(self, *args, **kwargs)
        return run
    return deco


def deployment_state(statuses: list[str]) -> str:
    """One word for a host's stacks (pure): DEPLOYED (all complete), NOT_DEPLOYED (none
    exists), FAILED (one failed or rolled back), else the first status in progress."""
    if not statuses or all(s == "NOT_DEPLOYED" for s in statuses):
        return "NOT_DEPLOYED"
    if any("FAILED" in s or "ROLLBACK" in s for s in statuses):
        return "FAILED"
    if all(s.endswith("_COMPLETE") and "DELETE" not in s for s in statuses):
        return "DEPLOYED"
    if all(s.endswith("_COMPLETE") or s == "NOT_DEPLOYED" for s in statuses):
        return "PARTIAL"  # some stacks deployed, some not yet
    return next((s for s in statuses if not s.endswith("_COMPLETE")), "PARTIAL")


class AwsHostClient:
    kind = "aws"
    capabilities = Capabilities(daemon=False, deploy=True, local_workers=False, log_poll_s=1.0,
                                log_poll_max_s=5.0)

    def __init__(self, cfg: config.HostConfig, *, session: AwsSession | None = None,
                 submit_via: str | None = None) -> None:
        self.cfg = cfg
        self.submit_via = (submit_via or os.environ.get(SUBMIT_VIA_ENV) or "direct").lower()
        if self.submit_via not in ("direct", "api"):
            raise UsageError(f"{SUBMIT_VIA_ENV}={self.submit_via!r}: submit 'direct' (DynamoDB + "
                             "SQS) or through the 'api'")
        self._api: tuple[str, str] | None = None
        self.name = cfg.host.name
        self.region = cfg.host.main_region
        self._session = session  # made on first use: saving a config needs no boto3
        self.table = schema.jobs_table_name(self.name)
        self.log_group = schema.log_group_name(self.name)
        self.namespace = schema.metrics_namespace(self.name)
        self.retention_s = cfg.host.settings.job_retention_days * 86400
        self._urls: dict[tuple[str, str], str] = {}
        self._summary: tuple[float, dict[str, dict[str, int]]] | None = None
        self._metrics: tuple[float, float, dict] | None = None

    @classmethod
    def for_host(cls, name: str, *, session: AwsSession | None = None) -> AwsHostClient:
        return cls(config.load(name), session=session)

    @classmethod
    def open(cls, name: str, **options: Any) -> AwsHostClient:
        return cls(config.load(name), **options)

    @classmethod
    def kind_capabilities(cls) -> Capabilities:
        return cls.capabilities

    @classmethod
    def brief_status(cls, name: str) -> str:
        """For a list of hosts: no AWS call (the deployments screen reads the stacks)."""
        return "aws"

    @classmethod
    def shutdown(cls, name: str) -> None:
        """Nothing of an aws host runs on this machine."""

    @property
    def session(self) -> AwsSession:
        if self._session is None:
            self._session = AwsSession(self.region)
        return self._session

    @property
    def ddb(self) -> Any:
        return self.session.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.session.client("sqs")

    # ---- resources ---------------------------------------------------------------------

    def load_config(self) -> config.HostConfig:
        self.cfg = config.load(self.name)
        return self.cfg

    def save_config(self, cfg: config.HostConfig) -> dict[str, str]:
        """Save the YAML; the changed resources are CREATING/UPDATING/DELETING until the
        next ``hyper-tui deploy``."""
        from hyper_tui.local.apply import apply_config

        config.save(cfg)
        self.cfg = cfg
        return apply_config(cfg, deployed=self.capabilities.deploy)

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """The declared resources of ``kind`` as plain dicts (what qsub reads)."""
        return {n: r.model_dump(mode="json") for n, r in self.cfg.of_kind(kind).items()}

    def resource_status(self, kind: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
        from hyper_tui.local.apply import open_store

        store = open_store(self.name)
        try:
            return {(r["kind"], r["name"]): (r["status"], r["log"]) for r in store.resources(kind)}
        finally:
            store.close()

    def require(self, kind: str, name: str, flag: str) -> None:
        items = self.cfg.of_kind(kind)
        if name not in items:
            import difflib

            hint = difflib.get_close_matches(name, list(items), n=1)
            fix = (f"did you mean {hint[0]!r}?" if hint else
                   f"known: {', '.join(sorted(items)) or 'none'}")
            raise NotFoundError(f"{flag} {name}: no {kind[:-1]} named {name!r} on host {self.name!r}",
                                fix=fix)

    def stacks(self) -> list[dict[str, Any]]:
        """The host's CloudFormation stacks in every region: status and reason."""
        out = []
        names = [(self.region, schema.control_stack_name(self.name, self.region))]
        names += [(r, schema.compute_stack_name(self.name, r)) for r in sorted(self.cfg.regions)]
        for region, stack in names:
            try:
                with aws_errors(f"stack {stack}", region=region):
                    desc = self.session.client("cloudformation", region).describe_stacks(
                        StackName=stack)["Stacks"][0]
                out.append({"region": region, "stack": stack, "status": desc["StackStatus"],
                            "reason": desc.get("StackStatusReason") or "",
                            "updated": str(desc.get("LastUpdatedTime") or desc.get("CreationTime"))})
            except NotFoundError:
                out.append({"region": region, "stack": stack, "status": "NOT_DEPLOYED",
                            "reason": "no such stack (run hyper-tui deploy)", "updated": ""})
        return out

    @_aws("reading stack events")
    def stack_events(self, region: str | None = None, stack: str | None = None,
                     limit: int = 50) -> list[dict[str, Any]]:
        """The newest CloudFormation events of a stack (default: the control stack)."""
        region = region or self.region
        stack = stack or schema.control_stack_name(self.name, region)
        cf = self.session.client("cloudformation", region)
        events: list[dict[str, Any]] = []
        for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack):
            for e in page.get("StackEvents", []):
                events.append({"time": str(e.get("Timestamp")), "resource": e.get("LogicalResourceId"),
                               "type": e.get("ResourceType"), "status": e.get("ResourceStatus"),
                               "reason": e.get("ResourceStatusReason") or ""})
                if len(events) >= limit:
                    return events
        return events

    # ---- submit ------------------------------------------------------------------------

    @_aws("submitting jobs")
    def submit(self, subs: list[Submission]) -> list[str]:
        if not subs:
            return []
        now = time.time()
        plans = [self._plan(sub, now) for sub in subs]
        if self.submit_via == "api":
            if any(it.get("state") == "PENDING" for _, items in plans for it in items):
                raise UsageError("qsub --hold/--depend: this host submits through its API, which "
                                 "takes runnable jobs only",
                                 fix="submit held or dependent jobs with access to the jobs table")
            return self._submit_api(plans)
        runnable = [it for _, items in plans for it in items if it.get("state") == "QUEUED"]
        # Recorded first: a crash after the items are written and before they are sent leaves
        # an outbox entry the scaler sends again (hyper_tui.aws.outbox).
        outbox = open_outbox(self.ddb, self.table, runnable, retention_s=self.retention_s,
                             now=now) if runnable else []
        written = self._write_items([it for _, items in plans for it in items])
        errors: list[str] = []
        ok_plans: list[tuple[list[str], list[dict[str, Any]]]] = []
        undo: list[str] = []
        for displays, items in plans:
            missing = [it["id"] for it in items if it["id"] not in written]
            if missing:
                errors.append(f"{displays[0]}: {len(missing)} item(s) could not be written")
                undo.extend(it["id"] for it in items if it["id"] in written)
            else:
                ok_plans.append((displays, items))
        if undo:
            self._delete_items(undo)
        failed = self._enqueue([it for _, items in ok_plans for it in items
                                if it.get("state") == "QUEUED"], now)
        close_outbox(self.ddb, self.table, outbox)
        if failed:
            errors.append(f"{len(failed)} job(s) could not be queued and were marked FAILED")
        ids = [d for displays, _ in ok_plans for d in displays]
        if errors:
            raise UnavailableError(
                "submit: " + "; ".join(errors[:3]),
                fix=("submitted: " + ", ".join(ids[:20]) + ("..." if len(ids) > 20 else "")
                     if ids else "nothing was submitted; try again"))
        self._summary = None
        return ids

    def _plan(self, sub: Submission, now: float) -> tuple[list[str], list[dict[str, Any]]]:
        """The display ids and items of one submission (written and queued as a unit)."""
        cfg = self.cfg
        cfg.get("queues", sub.queue)
        d = cfg.get("definitions", sub.definition)
        deps = self._resolve_deps(sub.depends)
        if sub.array is not None and sub.array.max_running is not None:
            raise UsageError("qsub --array ...%N: a max-running limit is a local-host feature for now",
                             fix="drop %N")
        # The submitting machine's PATH means nothing in a worker container.
        env = {**d.environment, **{k: v for k, v in (sub.env or {}).items() if k != "PATH"}}
        spec = {"command": sub.command, "argv": sub.argv, "env": env or None, "cwd": sub.cwd}
        size = len(json.dumps(spec, default=str).encode())
        if size > MAX_ITEM_BYTES:
            raise ValidationError(f"qsub: the job's script and environment are {size:,} bytes; an "
                                  f"aws job holds at most {MAX_ITEM_BYTES:,}",
                                  fix="put large inputs in the image or in S3 and fetch them")
        state, reason = "QUEUED", "waiting for a worker"
        if sub.hold:
            state, reason = "PENDING", HELD_REASON
        elif deps:
            state, reason = "PENDING", deps_reason(deps)
        common: dict[str, Any] = {
            "queue": sub.queue, "definition": sub.definition, "name": sub.name,
            "state": state, "reason": reason, "attempt": 0,
            "retries": int(sub.retries), "priority": int(sub.priority),
            "submitted": round(now, 3), "queued": round(now, 3),
            "timeout": float(sub.timeout) if sub.timeout else None,
            "retry_exit_codes": list(d.retry_exit_codes) or None,
            "user": sub.user or submitting_user(),
        }
        if sub.hold:
            common["held"] = True
        if deps:
            common["deps"] = deps
        commands = getattr(sub, "commands", None)
        if commands is not None:  # qsub --stdin: one job per command, all else shared
            if sub.array is not None or sub.array_params is not None:
                raise UsageError("qsub: --stdin makes one job per line; it does not combine "
                                 "with arrays")
            if deps:
                raise UsageError("qsub: --stdin batches cannot have --depend",
                                 fix="submit the dependent job separately")
            ids = [schema.new_job_id(now) for _ in commands]
            jobs = [{"id": jid, **common, **schema.shard_keys(sub.queue, jid, state=state,
                                                              name=sub.name),
                     **spec, "command": cmd} for jid, cmd in zip(ids, commands, strict=True)]
            # One by_queue entry for the batch, not one a job (hyper_tui.aws.groups).
            return ids, jobs + groups.group_jobs(jobs, now=now, retention_s=self.retention_s)
        if sub.array is None and sub.array_params is None:
            jid = schema.new_job_id(now)
            return [jid], [{"id": jid, **common, **spec,
                            **schema.shard_keys(sub.queue, jid, state=state, name=sub.name)}]
        aid = schema.new_job_id(now)
        spec_id = schema.array_spec_id(aid)
        if sub.array_params is not None:
            pairs: list[tuple[int, dict[str, Any] | None]] = list(enumerate(sub.array_params))
        else:
            assert sub.array is not None
            pairs = [(i, None) for i in sub.array.indices]
        if not pairs:
            raise ValidationError("qsub: the array is empty", fix="check the range or the array file")
        if len(pairs) > AWS_MAX_TASKS:
            raise ValidationError(f"qsub: {len(pairs):,} tasks in one array; an aws host takes up to "
                                  f"{AWS_MAX_TASKS:,} in one submission", fix="split the range")
        keep = int(self.retention_s * 2 + 30 * 86400)
        tasks = range(len(pairs)) if sub.array_params is not None else sub.array.indices
        items: list[dict[str, Any]] = [{"id": spec_id, "kind": "spec", **spec,
                                        "tasks": [tasks.start, tasks.stop, tasks.step],
                                        schema.TTL_ATTRIBUTE: int(now) + keep}]
        for idx, params in pairs:
            tid = schema.array_task_id(aid, idx)
            items.append({"id": tid, **common,
                          **schema.shard_keys(sub.queue, tid, state=state, name=sub.name),
                          "array_id": aid, "idx": idx, "spec": spec_id,
                          "params": {str(k): str(v) for k, v in params.items()} if params else None})
        # The tasks share by_queue entries too: group items of their ids (``A-i``: about 6
        # bytes a task), listed in the same id order as entries of their own were.
        return [f"{aid}[]"], items + groups.group_jobs(items, now=now,
                                                       retention_s=self.retention_s)

    def _write_items(self, items: list[dict[str, Any]]) -> set[str]:
        """BatchWriteItem in groups of 25, in parallel; return the ids written."""
        groups = [items[i:i + 25] for i in range(0, len(items), 25)]

        def write(group: list[dict[str, Any]]) -> list[str]:
            req = {self.table: [{"PutRequest": {"Item": to_item(it)}} for it in group]}
            delay = 0.05
            for _ in range(10):
                resp = self.ddb.batch_write_item(RequestItems=req)
                req = resp.get("UnprocessedItems") or {}
                if not req:
                    return [it["id"] for it in group]
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            left = {r["PutRequest"]["Item"]["id"]["S"] for r in req.get(self.table, [])}
            return [it["id"] for it in group if it["id"] not in left]

        done: set[str] = set()
        for ids in self._map(write, groups):
            done.update(ids)
        return done

    def _delete_items(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 25):
            try:
                self.ddb.batch_write_item(RequestItems={self.table: [
                    {"DeleteRequest": {"Key": {"id": {"S": k}}}} for k in ids[i:i + 25]]})
            except Exception as err:  # best effort: they stay QUEUED without a message
                LOG.warning("submit: could not remove half-written jobs: %s", err)

    def _enqueue(self, items: list[dict[str, Any]], now: float) -> set[str]:
        """Send the ids to their work queues; mark those that could not be sent FAILED."""
        return enqueue_or_fail(self.ddb, self.sqs, self.table, self.queue_url, items, now,
                               self.retention_s, map_fn=self._map)

    def _resolve_deps(self, depends: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """``--depend`` refs as item deps (see hyper_tui.aws.dependencies); each must exist."""
        out = []
        for kind, ref in depends:
            base, _, rest = ref.partition("[")
            try:
                items = self.find(ref)
            except NotFoundError:
                raise NotFoundError(f"--depend: no job {ref} on host {self.name!r}",
                                    fix="check the id with qstat") from None
            whole = rest == "]" or (not rest and (len(items) > 1
                                                  or items[0].get("array_id") == base))
            out.append({"kind": kind, "on": base if whole else items[0]["id"], "whole": whole,
                        "ref": f"{base}[]" if whole else ref})
        return out

    # ---- submitting through the submit API (SigV4 + API key) ---------------------------

    def _submit_api(self, plans: list[tuple[list[str], list[dict[str, Any]]]]) -> list[str]:
        """POST /jobs of the host's submit API, up to schema.MAX_BATCH jobs a request."""
        if any(it.get("kind") == "spec" for _, items in plans for it in items):
            raise UsageError("qsub: the submit API takes jobs, not arrays",
                             fix=f"submit arrays directly ({SUBMIT_VIA_ENV}=direct)")
        jobs: list[dict[str, Any]] = []
        owner: list[int] = []
        for n, (_, items) in enumerate(plans):
            for it in items:
                if "state" not in it:
                    continue
                spec = it
                job: dict[str, Any] = {"queue": it["queue"], "definition": it["definition"],
                                       "name": it["name"], "retries": it["retries"],
                                       "priority": it["priority"]}
                if spec.get("command") is not None:
                    job["command"] = spec["command"]
                else:
                    job["argv"] = spec.get("argv")
                if spec.get("env"):
                    job["env"] = spec["env"]
                if spec.get("cwd"):
                    job["cwd"] = spec["cwd"]
                if it.get("timeout"):
                    job["timeout"] = it["timeout"]
                jobs.append(job)
                owner.append(n)
        got: list[str | None] = []
        errors: list[str] = []
        for i in range(0, len(jobs), schema.MAX_BATCH):
            status, body = self._api_post("/jobs", {"jobs": jobs[i:i + schema.MAX_BATCH]})
            ids = body.get("ids") or [None] * len(jobs[i:i + schema.MAX_BATCH])
            got.extend(ids)
            if status != 200:
                errors.append(body.get("error") or f"HTTP {status}")
        failed_plans = {owner[k] for k, jid in enumerate(got) if jid is None}
        out: list[str] = []
        for n in range(len(plans)):
            if n not in failed_plans:
                out.extend(str(got[k]) for k in range(len(got)) if owner[k] == n)
        if errors or failed_plans:
            raise UnavailableError("submit API: " + "; ".join(errors[:3] or ["some jobs failed"]),
                                   fix=("submitted: " + ", ".join(out[:20])) if out
                                   else "nothing was submitted; try again")
        self._summary = None
        return out

    def _api_target(self) -> tuple[str, str]:
        """(API URL, API key value) of the host's submit API, from its discovery values."""
        if self._api is None:
            from hyper_tui.local.apply import open_store

            store = open_store(self.name)
            try:
                raw = store.get_meta("aws_outputs")
            finally:
                store.close()
            outputs = json.loads(raw) if raw else {}
            if not outputs.get("ApiUrl") or not outputs.get("ApiKeyId"):
                ssm = self.session.client("ssm")
                for key in ("ApiUrl", "ApiKeyId"):
                    if not outputs.get(key):
                        outputs[key] = ssm.get_parameter(
                            Name=schema.ssm_parameter_name(self.name, key))["Parameter"]["Value"]
            key = self.session.client("apigateway").get_api_key(
                apiKey=outputs["ApiKeyId"], includeValue=True)["value"]
            self._api = (str(outputs["ApiUrl"]).rstrip("/"), key)
        return self._api

    def _api_post(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import urllib.error
        import urllib.request

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        url, key = self._api_target()
        body = json.dumps(payload, separators=(",", ":")).encode()
        req = AWSRequest(method="POST", url=url + path, data=body,
                         headers={"Content-Type": "application/json", "x-api-key": key})
        creds = self.session.boto.get_credentials()
        if creds is None:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        SigV4Auth(creds.get_frozen_credentials(), "execute-api", self.region).add_auth(req)
        prepared = urllib.request.Request(url + path, data=body, method="POST",
                                          headers=dict(req.headers.items()))
        delay = 0.2
        for attempt in range(5):
            try:
                with urllib.request.urlopen(prepared, timeout=60) as resp:
                    return resp.status, json.loads(resp.read() or b"{}")
            except urllib.error.HTTPError as err:
                data = _json_or_empty(err.read())
                if err.code == 400:
                    raise ValidationError(f"submit API: {data.get('error') or err.reason}") from None
                if err.code in (401, 403):
                    raise UnavailableError(f"submit API refused the request ({err.code}: "
                                           f"{data.get('message') or data.get('error') or err.reason})",
                                           fix="check the credentials and the API key") from None
                if err.code == 503 and data.get("ids"):
                    return err.code, data
                if err.code not in (429, 500, 502, 503, 504) or attempt == 4:
                    raise UnavailableError(f"submit API: HTTP {err.code}: "
                                           f"{data.get('error') or err.reason}") from None
            except urllib.error.URLError as err:
                if attempt == 4:
                    raise UnavailableError(f"submit API: cannot reach {url} ({err.reason})",
                                           fix="check the network, or submit directly "
                                               f"({SUBMIT_VIA_ENV}=direct)") from None
            time.sleep(delay)
            delay *= 2
        raise UnavailableError("submit API: no answer")  # pragma: no cover

    def queue_url(self, queue: str, definition: str) -> str:
        key = (queue, definition)
        if key not in self._urls:
            self._urls[key] = self._url(schema.work_queue_name(self.name, queue, definition))
        return self._urls[key]

    def dead_letter_url(self, queue: str, definition: str) -> str:
        return self._url(schema.dead_letter_queue_name(self.name, queue, definition))

    def _url(self, name: str) -> str:
        """A queue's URL: known from account, region and name in the standard partition
        (saves a GetQueueUrl per qsub), asked for elsewhere."""
        from hyper_tui.aws.scaler_config import queue_url

        if self.cfg.host.account and not self.region.startswith(("cn-", "us-gov-", "us-iso")):
            return queue_url(self.cfg.host.account, self.region, name)
        with aws_errors(f"queue {name}", region=self.region):
            return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    # ---- reading jobs ------------------------------------------------------------------

    def _get(self, jid: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(TableName=self.table, Key={"id": {"S": jid}}, ConsistentRead=True)
        item = from_item(resp.get("Item") or {})
        return item if item.get("state") else None

    def _keys(self, index: str, key: str, value: Any, *, newest_first: bool = True,
              page: int = 1000) -> Iterator[dict[str, Any]]:
        """The entries (``id`` and the index's keys) of one index partition, page by page,
        newest first. The indexes project keys only: :meth:`_rows` reads the items."""
        kw: dict[str, Any] = {"TableName": self.table, "IndexName": index,
                              "KeyConditionExpression": "#k = :k",
                              "ExpressionAttributeNames": {"#k": key},
                              "ExpressionAttributeValues": {":k": to_attr(value)},
                              "ScanIndexForward": not newest_first, "Limit": page}
        yield from query_items(self.ddb, **kw)

    def _entries(self, index: str, key: str, value: Any, *, page: int = 1000
                 ) -> Iterator[dict[str, Any]]:
        """The job entries of one index partition, newest first: :meth:`_keys`, with
        by_queue's group entries expanded into their members in id order
        (``groups.newest_first``)."""
        keys = self._keys(index, key, value, page=page)
        return groups.newest_first(keys, self._group_members) if index == "by_queue" else keys

    def _group_members(self, gid: str) -> list[str]:
        return groups.members(batch_get(self.ddb, self.table, [gid]).get(gid))

    def _rows(self, keys: Iterator[dict[str, Any]], *,
              state: str | tuple[str, ...] | None = None,
              queue: str | None = None) -> Iterator[dict[str, Any]]:
        """The items of index entries ``keys`` (in their order) that are in ``state`` and
        ``queue``: read 100 at a time (BatchGetItem, eventually consistent), lazily."""
        states = (state,) if isinstance(state, str) else state

        def keep(it: dict[str, Any]) -> bool:
            return (not states or it.get("state") in states) and (
                not queue or it.get("queue") == queue)

        return hydrate(self.ddb, self.table, keys, keep=keep)

    def _partitions(self, *, queue: str | None, state: str | None, name: str | None
                    ) -> tuple[str, str, list[str]]:
        """(index, key, partitions) a listing of ``queue``/``state``/``name`` reads: by_name
        for a name, by_active for an active state (only active jobs), by_queue otherwise."""
        if name:
            return "by_name", schema.NAME_KEY, schema.name_partitions(name)
        queues = [queue] if queue else sorted(self.cfg.queues)
        if state in ACTIVE_STATES:
            return "by_active", schema.ACTIVE_KEY, [p for q in queues
                                                    for p in schema.active_partitions(q, state)]
        return "by_queue", "queue_shard", [p for q in queues for p in schema.queue_partitions(q)]

    def _array_tasks(self, array_id: str, idx: int | None = None) -> list[dict[str, Any]]:
        return array_tasks(self.ddb, self.table, array_id, idx)  # by their ids: no index

    def find(self, ref: str) -> list[dict[str, Any]]:
        """Items named by ``ref``: a job id, an array task ``A[i]``, or an array ``A`` / ``A[]``."""
        m = JOB_REF.match(ref.strip())
        if not m:
            raise ValidationError(f"{ref!r} is not a job id",
                                  fix="aws job ids look like 0190a1b2c3d4e5k7m9p2, or A[7] for a task")
        base, bracket, idx = m.group(1), m.group(2), m.group(3)
        item = None
        if idx:
            item = self._get(schema.array_task_id(base, int(idx)))
            found = [item] if item else self._array_tasks(base, int(idx))
        elif bracket:
            found = self._array_tasks(base)
        else:
            item = self._get(base)
            found = [item] if item else self._array_tasks(base)
        if item is None and found:
            # The array index projects what listings need; the first task is read whole (its
            # history, params and spec: qstat -i, qlog).
            found[0] = self._get(found[0]["id"]) or found[0]
        found = [f for f in found if f.get("state")]
        if not found:
            raise NotFoundError(f"no job {ref} on host {self.name!r}",
                                fix="list jobs with qstat -q QUEUE")
        return found

    @_aws("listing jobs")
    def list_jobs(self, *, queue: str | None = None, state: str | None = None,
                  name: str | None = None, limit: int = 100, offset: int = 0,
                  match: str | None = None, regex: bool = False, sort: str = "id",
                  descending: bool = True, user: str | None = None) -> list[JobRow]:
        if match or user or sort != "id" or not descending:
            rows = self._matching(queue=queue, state=state, name=name, match=match, regex=regex,
                                  user=user)
            return job_query.sort_rows(rows, sort, descending, time.time())[offset:offset + limit]
        need = offset + limit
        page = max(10, min(1000, need))
        index, key, parts = self._partitions(queue=queue, state=state, name=name)
        gens = [self._entries(index, key, p, page=page) for p in parts]
        heads = self._map(_prefetch, gens)  # the first page of every partition, in parallel
        merged = heapq.merge(*heads, key=lambda it: it["id"], reverse=True)
        rows = self._rows(merged, state=state, queue=queue if name else None)
        return [job_view(it) for it in itertools.islice(rows, offset, need)]

    @_aws("counting jobs")
    def count_jobs(self, *, queue: str | None = None, name: str | None = None,
                   state: str | None = None, match: str | None = None,
                   regex: bool = False, user: str | None = None) -> Counts:
        """Without a filter: the counter items (``hyper_tui.aws.counters``), one BatchGetItem
        whatever the number of jobs the table keeps. With one: the matching jobs, read."""
        if not (match or state or name or user):
            queues = [queue] if queue else sorted(self.cfg.queues)
            by_queue = read_counts(self.ddb, self.table, queues)
            total: dict[str, int] = {}
            for per in by_queue.values():
                for s, n in per.items():
                    total[s] = total.get(s, 0) + n
            return Counts(**total)
        counts: dict[str, int] = {}
        for row in self._matching(queue=queue, state=state, name=name, match=match,
                                  regex=regex, user=user):
            counts[row.state] = counts.get(row.state, 0) + 1
        return Counts(**counts)

    def summary(self) -> dict[str, Counts]:
        """Counts by state per queue from the counter items: one BatchGetItem of
        ``COUNTER_SHARDS`` items a queue, whatever the number of jobs (cached a few seconds)."""
        if self._summary and time.monotonic() - self._summary[0] < SUMMARY_CACHE_S:
            return self._summary[1]
        counted = read_counts(self.ddb, self.table, sorted(self.cfg.queues))
        out = {q: Counts(**per) for q, per in counted.items()}
        self._summary = (time.monotonic(), out)
        return out

    @_aws("reading a job")
    def get_job(self, ref: str) -> JobDetail:
        items = self.find(ref)
        item = items[0]
        spec = item
        if item.get("spec"):
            spec = self._get_spec(item["spec"]) or item
        states: dict[str, int] = {}
        for it in items:
            states[it["state"]] = states.get(it["state"], 0) + 1
        return JobDetail(
            **job_view(item).to_dict(), command=spec.get("command"), argv=spec.get("argv"),
            env=spec.get("env") or {}, cwd=spec.get("cwd"), params=item.get("params"),
            depends=[Dependency(kind=d["kind"], on=d.get("ref") or d["on"])
                     for d in item.get("deps") or []],
            wregion=item.get("wregion"),
            attempt_history=[Attempt(**{k: h.get(k) for k in Attempt._fields})
                             for h in item.get("history") or []],
            array_size=len(items) if len(items) > 1 else None,
            array_states=states if len(items) > 1 else None, why=explain(item))

    def _get_spec(self, spec_id: str) -> dict[str, Any] | None:
        return batch_get(self.ddb, self.table, [spec_id]).get(spec_id)

    def job_finished(self, ref: str) -> bool:
        with aws_errors("reading a job", region=self.region):
            return all(it["state"] in FINAL_STATES for it in self.find(ref))

    # ---- cancel ------------------------------------------------------------------------

    @_aws("cancelling jobs")
    def cancel(self, refs: list[str], *, queue: str | None = None, name: str | None = None,
               everything: bool = False, why: str = "cancelled by qdel") -> list[CancelResult]:
        targets: list[dict[str, Any]] = []
        for ref in refs:
            targets.extend(self.find(ref))
        if queue:
            self.cfg.get("queues", queue)
        if queue and name:
            named = [it for k in schema.name_partitions(name)
                     for it in self._rows(self._keys("by_name", schema.NAME_KEY, k,
                                                     newest_first=False), queue=queue)]
            if not named:
                raise NotFoundError(f"no job named {name!r} in queue {queue!r}")
            targets.extend(named)
        elif queue and everything:
            targets.extend(self._active_in_queue(queue))
        seen: dict[str, dict[str, Any]] = {}
        for t in targets:
            seen.setdefault(t["id"], t)
        now = time.time()
        was_running: list[dict[str, Any]] = []  # their workers get a notice (aws.control)

        def one(item: dict[str, Any]) -> CancelResult:
            display = display_id(item)
            if item["state"] not in ACTIVE_STATES:
                return CancelResult(display, item["state"], "already finished")
            u = Update(self.table, item["id"]).when_in("state", ACTIVE_STATES)
            u.set("state", "CANCELLED").set("reason", why).set("ended", now)
            u.set(schema.TTL_ATTRIBUTE, int(now + self.retention_s))
            try:
                resp = self.ddb.update_item(**u.kwargs(), ReturnValues="ALL_OLD",
                                            ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except Exception as err:
                if error_code(err) != "ConditionalCheckFailedException":
                    raise
                old = from_item(getattr(err, "response", {}).get("Item") or {})
                return CancelResult(display, old.get("state", item["state"]), "already finished")
            old = from_item(resp.get("Attributes") or {})
            if old.get("state") == "RUNNING":
                was_running.append(old)
            return CancelResult(display, old.get("state", item["state"]), "cancelled")

        self._summary = None
        results = list(self._map(one, list(seen.values())))
        if was_running:
            send_notices(self.sqs, self.control_url, was_running)
        return results

    def control_url(self, worker_id: str) -> str:
        """The URL of a worker's control queue (hyper_tui.aws.control)."""
        return self._url(schema.control_queue_name(self.name, worker_id))

    @_aws("releasing held jobs")
    def release(self, refs: list[str]) -> list[ReleaseResult]:
        """``qrls``: release held jobs; those waiting on dependencies stay PENDING (the scaler
        queues them when their dependencies are met)."""
        out = []
        for ref in refs:
            items = self.find(ref)
            done = release_holds(self.ddb, self.sqs, self.table, items, self.queue_url,
                                 retention_s=self.retention_s)
            out.append(ReleaseResult(ref=ref, outcome="released" if "released" in done.values()
                                     else "not held"))
        self._summary = None
        return out

    def _active_in_queue(self, queue: str) -> list[dict[str, Any]]:
        # The sparse by_active index holds active jobs only; the state filter covers the moment
        # an item has ended but the (eventually consistent) index does not know yet.
        gens = [self._rows(self._keys("by_active", schema.ACTIVE_KEY, p, newest_first=False),
                           state=ACTIVE_STATES) for p in schema.active_partitions(queue)]
        out: list[dict[str, Any]] = []
        for part in self._map(list, gens):
            out.extend(part)
        return sorted(out, key=lambda it: it["id"])

    # ---- logs --------------------------------------------------------------------------

    @_aws("reading job logs")
    def logs(self, ref: str, *, offset: int = 0, tail: int | None = None) -> LogChunk:
        """Records of one job (SYSTEM, STDOUT, STDERR, METRICS) after ``offset`` and the offset
        to continue from (0: from the start, with the submit event). A chunk read after the
        job ended carries the end no worker logged (cancelled, dead-lettered, lost)."""
        item = self.find(ref)[0]
        final = item.get("state") in FINAL_STATES  # read first: then the log is whole
        records, new_offset = self._records(item, offset=offset, tail=tail)
        if final and offset:
            records += [r for r in synthetic_records(item) if r.data != _submitted_line(item)]
            records.sort(key=lambda r: r.ts)
        return LogChunk(records=records, offset=max(1, new_offset), final=final)

    def _records(self, item: dict[str, Any], *, offset: int = 0, tail: int | None = None
                 ) -> tuple[list[LogRecord], int]:
        last_ms, skip = divmod(offset, 1000)
        events = self._log_events(item, start_ms=last_ms or None)
        if last_ms:
            events = [e for e in events if e[0] > last_ms] + \
                     [e for e in events if e[0] == last_ms][skip:]
            events.sort(key=lambda e: e[0])
        records = [LogRecord(t / 1000.0, kind, data) for t, kind, data in events]
        if events:
            new_last = events[-1][0]
            at_last = sum(1 for e in events if e[0] == new_last)
            if new_last == last_ms:
                at_last += skip
            new_offset = new_last * 1000 + min(999, at_last)
        else:
            new_offset = offset
        if offset == 0:
            records += synthetic_records(item)
            records.sort(key=lambda r: r.ts)
        if tail is not None:
            records = records[-tail:]
        return records, new_offset

    def _log_events(self, item: dict[str, Any], *, start_ms: int | None = None
                    ) -> list[tuple[int, str, str]]:
        workers = {h.get("worker") for h in item.get("history") or []}
        workers.add(item.get("worker"))
        streams = sorted(schema.worker_log_stream_name(w) for w in workers if w)
        if not streams:
            return []
        key = item["id"]
        kw: dict[str, Any] = {"logGroupName": self.log_group, "logStreamNames": streams[:100],
                              "filterPattern": f'"{key}"',
                              "startTime": start_ms or int(float(item.get("submitted") or 0) * 1000)}
        if item.get("state") in FINAL_STATES and item.get("ended"):
            kw["endTime"] = int(float(item["ended"]) * 1000) + 600_000
        logs = self.session.client("logs")
        out: list[tuple[int, str, str]] = []
        prefix = key + " "
        while True:
            try:
                resp = logs.filter_log_events(**kw)
            except Exception as err:
                if error_code(err) == "ResourceNotFoundException":
                    return out  # no stream yet: the job has not logged anything
                raise
            for e in resp.get("events") or []:
                msg = e.get("message", "")
                if not msg.startswith(prefix):
                    continue
                kind, _, data = msg[len(prefix):].partition(" | ")
                out.append((int(e["timestamp"]), kind, data))
            token = resp.get("nextToken")
            if not token:
                break
            kw["nextToken"] = token
        out.sort(key=lambda e: e[0])
        return out

    # ---- observing ---------------------------------------------------------------------

    @_aws("reading metrics")
    def metrics(self, since: float) -> Metrics:
        """The dashboard's series from CloudWatch (names as the local host's)."""
        now = time.time()
        if self._metrics and now - self._metrics[0] < METRICS_CACHE_S and self._metrics[1] <= since:
            return self._metrics[2]
        queries: list[tuple[str, str, str, dict[str, str], str]] = []  # out name, label, metric, dims, stat
        for q in sorted(self.cfg.queues):
            for st in ACTIVE_STATES:
                queries.append((f"jobs_{st.lower()}", q, schema.METRIC_JOBS,
                                {"Queue": q, "State": st}, "Average"))
            queries.append(("submitted_per_s", "", schema.METRIC_SUBMITTED, {"Queue": q}, "Sum"))
            queries.append(("finished_per_s", q, schema.METRIC_FINISHED, {"Queue": q}, "Sum"))
        for r in sorted(self.cfg.regions):
            queries.append(("workers", r, schema.METRIC_WORKERS, {"Region": r}, "Average"))
            queries.append(("vcpus", r, schema.METRIC_VCPUS, {"Region": r}, "Average"))
        for d in sorted(self.cfg.definitions):
            queries.append(("backlog", d, schema.METRIC_BACKLOG, {"Definition": d}, "Average"))
        out = read_metrics(self.session.client("cloudwatch"), self.namespace, queries,
                           start=since, end=now)
        # The gauges end at this moment, from the counter items (one BatchGetItem of
        # COUNTER_SHARDS items a queue, whatever the number of jobs): the scaler's minutely
        # points alone lag by up to a minute.
        for q, per in read_counts(self.ddb, self.table, sorted(self.cfg.queues)).items():
            for st in ACTIVE_STATES:
                series = out.setdefault(f"jobs_{st.lower()}", {}).setdefault(q, [])
                series.append((now, float(per.get(st, 0))))
        self._metrics = (now, since, out)
        return out

    @_aws("listing workers")
    def workers(self) -> list[WorkerRow]:
        """Worker (Batch) jobs of the host in every region, as the scaler sees them."""
        return self.launcher().live()

    def launcher(self) -> Any:  # hyper_tui.aws.launcher.BatchLauncher
        from hyper_tui.aws.launcher import BatchLauncher
        from hyper_tui.aws.scaler_config import build_scaler_config

        return BatchLauncher(self.session, build_scaler_config(self.cfg))

    def status(self) -> HostStatus:
        """The deployment's state from CloudFormation (DEPLOYED, NOT_DEPLOYED, FAILED or a
        stack's status in progress); when CloudFormation cannot be read, how the last deploy
        from here ended, said as such (never just "unknown")."""
        out: dict[str, Any] = {"account": self.cfg.host.account, "main_region": self.region}
        last = None
        try:
            last = self.last_deploy()
        except Exception:  # noqa: BLE001 - the store is optional here
            pass
        try:
            stacks = self.stacks()
        except Exception as err:
            out["error"] = str(err)
            if last is None:
                state, summary = "NOT_DEPLOYED", "not deployed (cloud unreachable)"
            else:
                state = "DEPLOYED" if last.get("status") == "ACTIVE" else "FAILED"
                summary = f"last deploy {last.get('status', '?')} (cloud unreachable)"
        else:
            out["stacks"] = stacks
            state = deployment_state([s["status"] for s in stacks])
            if state in ("NOT_DEPLOYED", "PARTIAL") and last and last.get("status") != "ACTIVE":
                state = "FAILED"  # a failed creation leaves nothing: say how it ended
            summary = {"DEPLOYED": "deployed", "NOT_DEPLOYED": "not deployed",
                       "FAILED": "deploy FAILED", "PARTIAL": "partly deployed"}.get(
                           state, f"deployment {state}")
        out["deployment"] = state
        return HostStatus(host=self.name, kind=self.kind, healthy=state == "DEPLOYED", state=state,
                          summary=summary, details=out)

    def emergency_stop(self) -> dict[str, Any]:
        from hyper_tui.aws.emergency import emergency_stop_aws

        return emergency_stop_aws(self)

    @_aws("sweeping dead-letter queues")
    def sweep_dead_letters(self) -> dict[str, Any]:
        """Settle the jobs of dead-lettered work messages now (the scaler does it every minute)."""
        total = SweepResult()
        for q in sorted(self.cfg.queues):
            for d in sorted(self.cfg.definitions):
                r = sweep_dead_letters(self.session, table=self.table,
                                       dlq_url=self.dead_letter_url(q, d), work_url=self.queue_url(q, d),
                                       default_lease=self.cfg.host.settings.lease_seconds,
                                       retention_days=self.cfg.host.settings.job_retention_days)
                total.failed += r.failed
                total.requeued += r.requeued
                total.kept += r.kept
                total.messages += r.messages
        return {"messages": total.messages, "failed": total.failed, "requeued": total.requeued,
                "kept": total.kept}

    # ---- deploying (the CDK app of hyper_tui.aws.infra, driven by hyper_tui.aws.synth/deploy) ---

    @classmethod
    def import_host(cls, name: str, *, account: str, region: str, select: bool = True,
                    **options: Any) -> dict[str, Any]:
        """Register an aws deployment made elsewhere, from its CloudFormation outputs."""
        from hyper_tui.aws.discovery import import_deployment

        return import_deployment(name, account, region, select=select, **options)

    def init_image(self, directory: str, *, name: str | None = None, base: str | None = None,
                   force: bool = False) -> list[Path]:
        """``hyper-tui images init DIR``: a host image's build context FROM the worker base
        image (hyper_tui.aws.images)."""
        from hyper_tui.aws.images import init_image_dir

        return init_image_dir(self.cfg, directory, name=name, base=base, force=force)

    def synth(self, out: str | None = None) -> list[Path]:
        """Every CloudFormation template of the host, offline, with its stored look-ups."""
        from hyper_tui.aws.synth import synth_host

        return synth_host(self.cfg, out)

    def import_retained(self, assembly: str | None = None, out: str | None = None) -> Any:
        """Retained resources left outside their stacks and their ``cdk import`` mapping
        files (``hyper_tui.aws.retained.find_retained``; aws hosts only)."""
        from hyper_tui.aws.retained import find_retained

        return find_retained(self.cfg, self.session, assembly=assembly, out=out)

    def deploy(self, out: str | None = None, *, lookups: bool = True,
               on_event: Callable[[Any], None] | None = None,
               cancel: threading.Event | None = None, assembly: str | Path | None = None,
               approved: bool = False, bootstrap: bool = True) -> Any:
        """Refresh the look-ups (unless ``lookups`` is False or ``assembly`` is given: the
        cloud assembly a :meth:`diff` showed), synthesize, bootstrap with the scoped policies
        and deploy every stack, calling ``on_event`` with each ``DeployEvent`` (stack, status,
        line). ``approved``: a person approved the diff (``--yes``, y to the CLI's question,
        the TUI's confirm), so cdk runs with ``--require-approval never``; otherwise cdk
        refuses security-sensitive changes. A failed deploy sends its FAILED event,
        is recorded on the resources, then raises or returns a FAILED result.
        Returns ``hyper_tui.aws.deploy.DeployResult``."""
        from hyper_tui.aws.deploy import APPROVED, BROADENING, deploy

        if lookups and assembly is None:
            self._refresh_lookups_for(on_event)
        return deploy(self.cfg, out_dir=Path(out) if out else None, on_event=on_event,
                      cancel=cancel, assembly_dir=Path(assembly) if assembly else None,
                      approval=APPROVED if approved else BROADENING, bootstrap=bootstrap)

    def diff(self, out: str | None = None, *, lookups: bool = True,
             on_event: Callable[[Any], None] | None = None,
             cancel: threading.Event | None = None,
             assembly: str | Path | None = None) -> Any:
        """``cdk diff`` of every stack against CloudFormation (changes nothing), of a fresh
        synth (or of the ready cloud assembly ``assembly``). Returns
        ``hyper_tui.aws.deploy.DiffResult``, whose ``assembly`` is what :meth:`deploy`
        should deploy."""
        from hyper_tui.aws.deploy import diff

        if lookups and assembly is None:
            self._refresh_lookups_for(on_event)
        return diff(self.cfg, out_dir=Path(out) if out else None, on_event=on_event,
                    cancel=cancel, assembly_dir=Path(assembly) if assembly else None)

    def bootstrap(self, *, on_event: Callable[[Any], None] | None = None,
                  cancel: threading.Event | None = None) -> Any:
        """Create the scoped execution policy and permissions boundary, then ``cdk bootstrap``
        every region with them. Returns ``hyper_tui.aws.deploy.BootstrapPolicies``."""
        from hyper_tui.aws.deploy import bootstrap

        return bootstrap(self.cfg, on_event=on_event, cancel=cancel, session=self._session)

    def last_deploy(self) -> dict[str, Any] | None:
        """How the last deploy from this machine ended (status, at, stacks, failure, log),
        from the host's store; None before the first."""
        from hyper_tui.local.apply import open_store

        store = open_store(self.name)
        try:
            text = store.get_meta("last_deploy")
        finally:
            store.close()
        return json.loads(text) if text else None

    def bootstrap_policies(self) -> dict[str, dict[str, Any]]:
        """The documents ``bootstrap`` creates, by policy name (``infra/bootstrap.py``)."""
        from hyper_tui.aws.infra import bootstrap as policies

        account = self.cfg.host.account
        return {policies.execution_policy_name(): policies.execution_policy(account),
                policies.boundary_name(): policies.permissions_boundary(account)}

    def _refresh_lookups_for(self, on_event: Callable[[Any], None] | None) -> None:
        from hyper_tui.aws.deploy import LOG as LOG_LINE
        from hyper_tui.aws.deploy import DeployEvent

        if on_event is not None:
            on_event(DeployEvent(None, LOG_LINE, "looking up zones, AMIs, VPCs and spot scores"))
        self.refresh_lookups()

    def refresh_lookups(self) -> dict[str, Any]:
        """Look up zones, AMIs, imported VPCs and 'auto' weights; keep them for synth."""
        from hyper_tui.aws.lookups_refresh import refresh_lookups

        return refresh_lookups(self.cfg)

    def refresh_weights(self, queue: str | None = None) -> dict[str, dict[str, int]]:
        """Recompute the 'auto' weights of ``queue`` (or of every auto queue) from spot scores."""
        from hyper_tui.aws.weights_refresh import refresh_weights

        return refresh_weights(self.cfg, queue)

    # ---- the control plane: nothing of an aws host runs on this machine ------------------

    def start(self) -> int | None:
        raise _no_daemon("start-host", self.name)

    def serve(self) -> int:
        raise _no_daemon("start-host", self.name)

    def stop(self) -> bool:
        raise _no_daemon("stop-host", self.name)

    def close(self) -> None:
        """Nothing to release: boto3 clients close their connections when collected."""

    # ---- helpers -----------------------------------------------------------------------

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(THREADS, len(items))) as pool:
            return list(pool.map(fn, items))

    def _matching(self, *, queue: str | None, state: str | None, name: str | None,
                  match: str | None, regex: bool, user: str | None = None) -> list[JobRow]:
        """Every job that passes the filter of ``list_jobs``, read from the index partitions
        and filtered here (name, reason and an inline command; a spec stored apart is not
        read; ``user`` exactly)."""
        try:
            test = job_query.matcher(match, regex)
        except ValueError as err:
            raise ValidationError(f"filter: {err}", fix="escape special characters or turn "
                                  "regex off") from None
        index, key, parts = self._partitions(queue=queue, state=state, name=name)
        gens = [self._rows(self._entries(index, key, p), state=state,
                           queue=queue if name else None) for p in parts]
        out: list[JobRow] = []
        for part in self._map(list, gens):
            out.extend(job_view(it) for it in part if (not user or it.get("user") == user) and (
                test(it.get("name")) or test(it.get("reason")) or test(it.get("command"))))
        return out

    def job_position(self, ref: str, *, queue: str | None = None, state: str | None = None,
                     match: str | None = None, regex: bool = False, sort: str = "id",
                     descending: bool = True, user: str | None = None) -> int | None:
        """``HostClient.job_position``: the matching jobs are read and sorted here."""
        rows = self._matching(queue=queue, state=state, name=None, match=match, regex=regex,
                              user=user)
        job_query.sort_rows(rows, sort, descending, time.time())
        return next((i for i, r in enumerate(rows) if r.job_id == ref), None)

    def cancel_matching(self, *, queue: str | None = None, state: str | None = None,
                        name: str | None = None, match: str | None = None, regex: bool = False,
                        user: str | None = None,
                        progress: Callable[[int, int], None] | None = None,
                        batch: int = 500) -> int:
        """``HostClient.cancel_matching``: the matching active jobs, cancelled ``batch`` at a
        time through ``cancel`` (each a conditional update)."""
        rows = [r for r in self._matching(queue=queue, state=state, name=name, match=match,
                                          regex=regex, user=user) if r.state in ACTIVE_STATES]
        done = 0
        if progress:
            progress(0, len(rows))
        for i in range(0, len(rows), batch):
            results = self.cancel([r.job_id for r in rows[i:i + batch]],
                                  why="cancelled from the TUI")
            done += sum(1 for r in results if r.outcome == "cancelled")
            if progress:
                progress(min(i + batch, len(rows)), len(rows))
        return done


# --------------------------------------------------------------------------------------------
# Pure helpers (tested without AWS)


def _no_daemon(what: str, name: str) -> UsageError:
    return UsageError(f"{what}: host {name!r} is an aws host; it has no local daemon",
                      fix="use hyper-tui deploy / emergency-stop for aws hosts")


def _json_or_empty(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _prefetch(gen: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Read the first item now (in a thread), keep the rest lazy."""
    try:
        first = next(gen)
    except StopIteration:
        return iter(())
    return itertools.chain([first], gen)


def display_id(item: dict[str, Any]) -> str:
    aid, idx = item.get("array_id"), item.get("idx")
    return f"{aid}[{idx}]" if aid is not None and idx is not None else str(item["id"])


def job_view(item: dict[str, Any]) -> JobRow:
    """A jobs-table item as the row every host kind returns."""
    return JobRow(
        id=item["id"], job_id=display_id(item), array_id=item.get("array_id"),
        idx=item.get("idx"), name=item.get("name") or "job", queue=item.get("queue"),
        definition=item.get("definition"), state=item.get("state"),
        reason=item.get("reason"), priority=item.get("priority") or 0,
        retries=int(item.get("retries") or 0), attempts=int(item.get("attempt") or 0),
        timeout=item.get("timeout"), submitted=item.get("submitted"),
        started=item.get("started"), ended=item.get("ended"),
        exit_code=item.get("exit_code"), worker=item.get("worker"), held=bool(item.get("held")),
        user=item.get("user"))


def explain(item: dict[str, Any]) -> str | None:
    state = item.get("state")
    if state == "QUEUED":
        return (f"queued: {item.get('reason') or 'waiting for a worker'} (the scaler starts "
                "workers every minute for the backlog)")
    if state == "RUNNING":
        where = f" in {item['wregion']}" if item.get("wregion") else ""
        return f"running on worker {item.get('worker')}{where} (attempt {item.get('attempt')})"
    return item.get("reason")


def _submitted_line(item: dict[str, Any]) -> str:
    return f"submitted to queue {item.get('queue')} (definition {item.get('definition')})"


def synthetic_records(item: dict[str, Any]) -> list[LogRecord]:
    """SYSTEM records kept in the item rather than in the log: the submission, and an end
    that no worker wrote (cancelled, dead-lettered, lost)."""
    out = [LogRecord(float(item.get("submitted") or 0), "SYSTEM", _submitted_line(item))]
    state, reason = item.get("state"), item.get("reason") or ""
    if state in ("CANCELLED", "FAILED") and reason and not reason.startswith("exit code") \
            and reason != "timeout" and not reason.startswith("killed by signal"):
        out.append(LogRecord(float(item.get("ended") or item.get("submitted") or 0), "SYSTEM",
                             f"{state.lower()}: {reason}"))
    return out


def read_metrics(cw: Any, namespace: str, queries: list[tuple[str, str, str, dict[str, str], str]],
                 *, start: float, end: float, period: int = 60
                 ) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """GetMetricData for ``(out name, label, metric, dimensions, stat)`` queries; sums are
    turned into rates per second. Series of the same (name, label) are added up."""
    out: dict[str, dict[str, dict[float, float]]] = {}
    from datetime import datetime

    t0 = datetime.fromtimestamp(max(start, end - 14 * 86400), tz=UTC)
    t1 = datetime.fromtimestamp(end + period, tz=UTC)
    for base in range(0, len(queries), 500):
        chunk = queries[base:base + 500]
        mq = [{"Id": f"m{base + i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]},
            "Period": period, "Stat": stat}} for i, (_, _, metric, dims, stat) in enumerate(chunk)]
        token = None
        while True:
            kw: dict[str, Any] = {"MetricDataQueries": mq, "StartTime": t0, "EndTime": t1,
                                  "ScanBy": "TimestampAscending"}
            if token:
                kw["NextToken"] = token
            resp = cw.get_metric_data(**kw)
            for r in resp.get("MetricDataResults") or []:
                name, label, _, _, stat = queries[int(r["Id"][1:])]
                series = out.setdefault(name, {}).setdefault(label, {})
                for ts, v in zip(r.get("Timestamps") or [], r.get("Values") or [], strict=False):
                    value = v / period if stat == "Sum" else v
                    key = ts.timestamp()
                    series[key] = series.get(key, 0.0) + value
            token = resp.get("NextToken")
            if not token:
                break
    return {name: {label: sorted(points.items()) for label, points in labels.items()}
            for name, labels in out.items()}
