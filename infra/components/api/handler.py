"""Submit and query API of an aws host (API Gateway REST API, Lambda proxy integration).

Routes (each one requires IAM SigV4 auth and an API key, enforced by API Gateway):

* ``POST /jobs``        body ``{"jobs": [{...}, ...]}``, 1 to schema.MAX_BATCH jobs.
  Each job: ``queue``, ``definition`` (required), ``command`` (a /bin/sh script) or ``argv``
  (a list), and optionally ``name``, ``env``, ``cwd``, ``timeout`` (s), ``priority``,
  ``retries``. The whole batch is validated before anything is written; the jobs of a queue
  with several in the request share one by_queue entry, a group item written first
  (hyper_tui.aws.groups: a job is never stored unlisted); jobs are written
  with BatchWriteItem (25 a call, in parallel), their ids sent to the (queue, definition) work
  queue (``{"ids": [...], "t": ...}``, 10 ids a message, 10 messages a call); the scaler
  publishes the Submitted metric from the counters. Items have the layout the aws client
  writes (schema.py).
  Answer: ``{"ids": [...]}``.
* ``GET /jobs/{id}``    one job.
* ``GET /jobs?queue=Q[&state=S]``, ``?name=N`` or ``?array_id=A`` (``&limit=&next=``):
  ``{"jobs": [...], "next": token-or-null}`` (a page may stop inside a batch's group: the
  token carries the position in it).

Authentication and authorisation happen in API Gateway (IAM auth on every method, no proxy
catch-all); the handler still refuses an event that carries no IAM identity, and records the
caller's ARN on each job. Standard library and boto3 only.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hyper_tui.aws import groups, schema
from hyper_tui.core import submit as building
from hyper_tui.core.lifecycle import QUEUED_REASON
from hyper_tui.core.submit import DEFAULT_RETRIES, MAX_RETRIES, Defaults

MAX_COMMAND_BYTES = 64 * 1024
MAX_QUERY_LIMIT = 1000
IDS_PER_MESSAGE = schema.IDS_PER_MESSAGE
ALLOWED_FIELDS = {"queue", "definition", "name", "command", "argv", "env", "cwd", "timeout",
                  "priority", "retries"}


class BadRequest(Exception):
    """A request the caller must fix: answered with 400 and this one-line message."""


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class ApiConfig:
    host: str
    table: str
    queues: frozenset[str]
    # name -> {"retries": int, "timeout": int | None, "retry_exit_codes": [int]}
    definitions: dict[str, dict[str, Any]]
    retention_days: float = 30.0  # the host's job_retention_days: a finished job's TTL

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> ApiConfig:
        env = dict(os.environ if env is None else env)
        conf = json.loads(env.get("HYPER_API_CONFIG") or "{}")
        return cls(host=env["HYPER_HOST"], table=env["HYPER_JOBS_TABLE"],
                   queues=frozenset(conf.get("queues", [])),
                   definitions=dict(conf.get("definitions", {})),
                   retention_days=float(conf.get("retention_days", 30)))


@dataclass
class Job:
    queue: str
    definition: str
    name: str
    retries: int
    command: str | None = None
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    priority: int = 0
    retry_exit_codes: list[int] = field(default_factory=list)


# ---- validation (pure) -------------------------------------------------------------------------


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadRequest(f"{where}: give a whole number from {lo} to {hi}")
    return value


def _str(value: Any, where: str, max_len: int = 1024) -> str:
    if not isinstance(value, str) or not value or len(value.encode()) > max_len:
        raise BadRequest(f"{where}: give a non-empty text of at most {max_len} bytes")
    return value


def validate_job(raw: Any, where: str, config: ApiConfig) -> Job:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: each job is an object with queue, definition and command")
    unknown = sorted(set(raw) - ALLOWED_FIELDS)
    if unknown:
        raise BadRequest(f"{where}.{unknown[0]}: unknown field; known: "
                         f"{', '.join(sorted(ALLOWED_FIELDS))}")
    queue = _str(raw.get("queue"), f"{where}.queue", 63)
    if queue not in config.queues:
        raise BadRequest(f"{where}.queue: no queue named {queue!r}; known: "
                         f"{', '.join(sorted(config.queues)) or 'none'}")
    definition = _str(raw.get("definition"), f"{where}.definition", 63)
    if definition not in config.definitions:
        raise BadRequest(f"{where}.definition: no definition named {definition!r}; known: "
                         f"{', '.join(sorted(config.definitions)) or 'none'}")
    spec = config.definitions[definition]
    defaults = Defaults(spec.get("retries", DEFAULT_RETRIES), spec.get("timeout"))
    command, argv = raw.get("command"), raw.get("argv")
    if (command is None) == (argv is None):
        raise BadRequest(f"{where}: give either command (a script) or argv (a list), not both")
    if command is not None:
        command = _str(command, f"{where}.command", MAX_COMMAND_BYTES)
    else:
        if (not isinstance(argv, list) or not argv
                or not all(isinstance(a, str) for a in argv)
                or len(json.dumps(argv).encode()) > MAX_COMMAND_BYTES):
            raise BadRequest(f"{where}.argv: give a non-empty list of texts "
                             f"(at most {MAX_COMMAND_BYTES} bytes)")
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and k and isinstance(v, str)
                                            for k, v in env.items()):
        raise BadRequest(f"{where}.env: give an object of text names to text values")
    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise BadRequest(f"{where}.timeout: give a number of seconds above 0")
    retries = raw.get("retries")
    sub = building.build(
        queue=queue, definition=definition, defaults=defaults,
        name=_str(raw["name"], f"{where}.name", 256) if "name" in raw else None,
        command=command, argv=argv, env=env,
        cwd=_str(raw["cwd"], f"{where}.cwd") if raw.get("cwd") is not None else None,
        retries=None if retries is None else _int(retries, f"{where}.retries", 0, MAX_RETRIES),
        timeout=timeout,
        priority=_int(raw.get("priority", 0), f"{where}.priority", -1_000_000, 1_000_000))
    return Job(queue=sub.queue, definition=sub.definition, name=sub.name, retries=sub.retries,
               command=sub.command, argv=sub.argv, env=sub.env, cwd=sub.cwd,
               timeout=sub.timeout, priority=sub.priority,
               retry_exit_codes=list(spec.get("retry_exit_codes") or []))


def validate_batch(body: Any, config: ApiConfig) -> list[Job]:
    """Every job of a submit body, validated; the first problem raises BadRequest."""
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise BadRequest('the body is {"jobs": [{"queue": ..., "definition": ..., '
                         '"command": ...}, ...]}')
    jobs = body["jobs"]
    if not jobs:
        raise BadRequest("jobs: empty; give at least one job")
    if len(jobs) > schema.MAX_BATCH:
        raise BadRequest(f"jobs: {len(jobs)} jobs in one request; at most {schema.MAX_BATCH}, "
                         "split the batch")
    extra = sorted(set(body) - {"jobs"})
    if extra:
        raise BadRequest(f"{extra[0]}: unknown field; the body holds only jobs")
    return [validate_job(j, f"jobs[{i}]", config) for i, j in enumerate(jobs)]


def job_item(job: Job, job_id: str, now: float, caller: str) -> dict[str, Any]:
    """The jobs-table item of a new job (schema.py data layout); no None values."""
    item: dict[str, Any] = {
        "id": job_id, "queue": job.queue, "definition": job.definition, "name": job.name,
        "state": "QUEUED", "reason": QUEUED_REASON, "attempt": 0,
        "retries": job.retries, "priority": job.priority,
        "submitted": Decimal(str(round(now, 3))), "queued": Decimal(str(round(now, 3))),
        **schema.shard_keys(job.queue, job_id, name=job.name), "submitted_by": caller,
        "user": building.user_from_arn(caller) or caller,
    }
    if job.command is not None:
        item["command"] = job.command
    if job.argv is not None:
        item["argv"] = job.argv
    if job.env:
        item["env"] = job.env
    if job.cwd is not None:
        item["cwd"] = job.cwd
    if job.timeout is not None:
        item["timeout"] = Decimal(str(job.timeout))
    if job.retry_exit_codes:
        item["retry_exit_codes"] = job.retry_exit_codes
    return item


def work_messages(items: Iterable[dict[str, Any]], now: float
                  ) -> dict[tuple[str, str], list[str]]:
    """Message bodies per (queue, definition): ``{"ids": [...], "t": now}``, up to 10 ids."""
    ids: dict[tuple[str, str], list[str]] = {}
    for item in items:
        ids.setdefault((item["queue"], item["definition"]), []).append(item["id"])
    return {pair: [json.dumps({"ids": group[i:i + IDS_PER_MESSAGE], "t": round(now, 3)})
                   for i in range(0, len(group), IDS_PER_MESSAGE)]
            for pair, group in ids.items()}


def chunks(seq: list[Any], size: int) -> list[list[Any]]:
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def plain(value: Any) -> Any:
    """DynamoDB values as JSON: Decimal to int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def encode_token(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(plain(state)).encode()).decode()


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise BadRequest("next: not a token this API gave; start again without it") from None


# ---- AWS (the I/O boundary) --------------------------------------------------------------------


class Backend:
    """DynamoDB and SQS calls of the API; tests replace it with a fake of the same methods."""

    def __init__(self, config: ApiConfig) -> None:
        import boto3  # noqa: PLC0415 - only in Lambda, never in unit tests

        self.config = config
        self.table = boto3.resource("dynamodb").Table(config.table)
        self.ddb = boto3.client("dynamodb")  # typed attribute values (the outbox's helpers)
        self.sqs = boto3.client("sqs")
        self._urls: dict[tuple[str, str], str] = {}

    def open_outbox(self, items: list[dict[str, Any]], now: float) -> list[str]:
        from hyper_tui.aws.outbox import open_outbox  # noqa: PLC0415 - Lambda only

        return open_outbox(self.ddb, self.config.table, items, now=now)

    def close_outbox(self, outbox_ids: list[str]) -> None:
        from hyper_tui.aws.outbox import close_outbox  # noqa: PLC0415 - Lambda only

        close_outbox(self.ddb, self.config.table, outbox_ids)

    def put_items(self, items: list[dict[str, Any]]) -> None:
        with self.table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)

    def queue_url(self, queue: str, definition: str) -> str:
        key = (queue, definition)
        if key not in self._urls:
            name = schema.work_queue_name(self.config.host, queue, definition)
            self._urls[key] = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[key]

    def send(self, queue: str, definition: str, bodies: list[str]) -> list[str]:
        """Send up to 10 bodies; return the bodies that failed after 3 tries."""
        url = self.queue_url(queue, definition)
        pending = {str(i): b for i, b in enumerate(bodies)}
        for attempt in range(3):
            if not pending:
                break
            if attempt:
                time.sleep(0.05 * 2 ** attempt)
            out = self.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": i, "MessageBody": b} for i, b in pending.items()])
            pending = {f["Id"]: pending[f["Id"]] for f in out.get("Failed", [])}
        return list(pending.values())

    def mark_failed(self, job_id: str, reason: str) -> None:
        """A job that could not be queued ends FAILED, with its end time and the TTL every
        finished job gets (the host's retention), so that it leaves the table like the rest."""
        now = time.time()
        self.table.update_item(
            Key={"id": job_id},
            UpdateExpression="SET #s = :f, reason = :r, ended = :e, #t = :t REMOVE #a",
            ConditionExpression="#s = :q",
            ExpressionAttributeNames={"#s": "state", "#a": schema.ACTIVE_KEY,
                                      "#t": schema.TTL_ATTRIBUTE},
            ExpressionAttributeValues={":f": "FAILED", ":r": reason, ":q": "QUEUED",
                                       ":e": Decimal(repr(round(now, 3))),
                                       ":t": int(now + self.config.retention_days * 86400)})

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"id": job_id}).get("Item")

    def query_ids(self, index: str, key: str, value: str, *, limit: int,
                  start: dict[str, Any] | None) -> tuple[list[str], dict | None]:
        """One page of an index partition's entry ids (the indexes project keys only,
        schema.PROJECTION) and the key to go on from (None at its end)."""
        kw: dict[str, Any] = {"IndexName": index, "Limit": limit,
                              "KeyConditionExpression": "#k = :v",
                              "ExpressionAttributeNames": {"#k": key},
                              "ExpressionAttributeValues": {":v": value}}
        if start:
            kw["ExclusiveStartKey"] = start
        out = self.table.query(**kw)
        return [str(it["id"]) for it in out.get("Items", [])], out.get("LastEvaluatedKey")

    def read_items(self, ids: list[str], *, state: str | None) -> list[dict[str, Any]]:
        """The job items of ``ids`` (BatchGetItem), in that order, in ``state`` if given;
        those gone (TTL) are skipped."""
        from hyper_tui.aws.table import batch_get  # noqa: PLC0415 - Lambda only

        found = batch_get(self.ddb, self.config.table, ids, consistent=False)
        return [found[i] for i in ids if i in found and found[i].get("state")
                and (not state or found[i].get("state") == state)]

    def group_members(self, group_id: str) -> list[str]:
        """The member ids of a by_queue group entry (none when the group is gone)."""
        return groups.members(self.table.get_item(Key={"id": group_id}).get("Item"))


def submit(body: Any, backend: Any, config: ApiConfig, *, caller: str,
           now: float | None = None, new_id: Callable[[float], str] = schema.new_job_id,
           threads: int = 8) -> tuple[int, dict[str, Any]]:
    jobs = validate_batch(body, config)
    now = time.time() if now is None else now
    items = [job_item(j, new_id(now), now, caller) for j in jobs]
    # The jobs of a queue with several in the request share one by_queue entry, a group item
    # written before them (hyper_tui.aws.groups): a job stored is always listed.
    listing = [{k: Decimal(str(v)) if isinstance(v, float) else v for k, v in g.items()}
               for g in groups.group_jobs(items, now=now,
                                          retention_s=config.retention_days * 86400)]
    # A Lambda that dies between storing the jobs and sending them leaves an outbox entry the
    # scaler sends again (hyper_tui.aws.outbox): no job stays QUEUED without a message.
    outbox = backend.open_outbox(items, now)
    failed_ids: set[str] = set()
    errors: list[str] = []
    for gitem, err in zip(listing, map(_try(backend.put_items), ([g] for g in listing)),
                          strict=True):
        if err:  # its members are not stored: they would be in no listing of their queue
            failed_ids.update(groups.members(gitem))
            errors.append(f"could not store the listing of {gitem['count']} jobs: {err}")
    batches = chunks([i for i in items if i["id"] not in failed_ids], 25)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(batches)))) as pool:
        results = list(pool.map(_try(backend.put_items), batches))
    for batch, err in zip(batches, results, strict=True):
        if err:
            failed_ids.update(i["id"] for i in batch)
            errors.append(f"could not store {len(batch)} jobs: {err}")
    stored = [i for i in items if i["id"] not in failed_ids]
    for (queue, definition), bodies in work_messages(stored, now).items():
        for batch in chunks(bodies, 10):
            try:
                lost = backend.send(queue, definition, batch)
                if lost:
                    errors.append(f"could not queue jobs of {queue}/{definition}: SQS refused "
                                  f"{len(lost)} of {len(batch)} messages after retries")
            except Exception as err:  # noqa: BLE001 - reported to the caller, jobs marked
                lost = batch
                errors.append(f"could not queue jobs of {queue}/{definition}: {err}")
            for msg in lost:
                for job_id in json.loads(msg)["ids"]:
                    failed_ids.add(job_id)
                    try:
                        backend.mark_failed(job_id, "could not be queued; submit it again")
                    except Exception:  # noqa: BLE001, S110 - best effort: the answer lists it
                        pass
    backend.close_outbox(outbox)
    # (No Submitted metric here: the scaler publishes it once a pass from the counters.)
    ids = [i["id"] if i["id"] not in failed_ids else None for i in items]
    if failed_ids:
        return 503, {"ids": ids, "failed": len(failed_ids), "error": "; ".join(errors[:3])}
    return 200, {"ids": ids}


def _try(fn: Callable[[Any], Any]) -> Callable[[Any], str | None]:
    def run(arg: Any) -> str | None:
        try:
            fn(arg)
            return None
        except Exception as err:  # noqa: BLE001 - turned into a per-job failure
            return str(err) or type(err).__name__
    return run


def get_job(job_id: str, backend: Any) -> tuple[int, dict[str, Any]]:
    item = backend.get(job_id)
    if item is None:
        raise NotFound(f"no job with id {job_id!r}")
    return 200, plain(item)


def query_jobs(params: dict[str, str], backend: Any) -> tuple[int, dict[str, Any]]:
    params = dict(params or {})
    try:
        limit = int(params.pop("limit", "100"))
    except ValueError:
        raise BadRequest("limit: give a whole number") from None
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise BadRequest(f"limit: give a number from 1 to {MAX_QUERY_LIMIT}")
    token = decode_token(params.pop("next", None))
    state = params.pop("state", None)
    keys = [k for k in ("queue", "name", "array_id") if k in params]
    extra = sorted(set(params) - {"queue", "name", "array_id"})
    if extra or len(keys) != 1:
        raise BadRequest("give exactly one of queue (with optional state), name or array_id")
    key = keys[0]
    if key == "array_id":  # an array's tasks by their ids (schema.array_task_id): no index
        aid = params["array_id"]
        first, stop, step = (int(x) for x in (backend.get(schema.array_spec_id(aid)) or {}
                                              ).get("tasks") or (0, 0, 1))
        indices = list(range(int((token or {}).get("at", first)), stop, step))[:limit]
        items = [it for it in (backend.get(schema.array_task_id(aid, i)) for i in indices)
                 if it and (not state or it.get("state") == state)]
        more = {"at": indices[-1] + step} if indices and indices[-1] + step < stop else None
        return 200, {"jobs": plain(items), "next": encode_token(more)}
    # by_queue and by_name are sharded: walk the shards in order, carrying (shard, key, skip)
    # in the token (a default name is in no index: schema.name_partitions gives none); a
    # by_queue group entry is expanded into its members (hyper_tui.aws.groups).
    index, pk, parts = (("by_name", schema.NAME_KEY, schema.name_partitions(params["name"]))
                        if key == "name" else
                        ("by_queue", "queue_shard", schema.queue_partitions(params["queue"])))
    out, more = groups.walk_partitions(
        parts, lambda part, *, limit, start: backend.query_ids(index, pk, part, limit=limit,
                                                               start=start),
        backend.group_members, lambda ids: backend.read_items(ids, state=state), limit=limit,
        position=token, key_of=lambda part, eid: {"id": eid, pk: part})
    return 200, {"jobs": plain(out), "next": encode_token(more)}


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body, separators=(",", ":"))}


def caller_of(event: dict[str, Any]) -> str | None:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return identity.get("userArn") or None


def handle(event: dict[str, Any], backend: Any, config: ApiConfig) -> dict[str, Any]:
    caller = caller_of(event)
    if caller is None:
        # API Gateway authenticates every route with IAM; an event without an IAM identity
        # did not come through it.
        return respond(403, {"error": "unauthenticated: the API requires IAM (SigV4) auth"})
    method, resource = event.get("httpMethod"), event.get("resource")
    try:
        if method == "POST" and resource == "/jobs":
            raw = event.get("body") or ""
            if event.get("isBase64Encoded"):
                raw = base64.b64decode(raw).decode()
            try:
                body = json.loads(raw)
            except ValueError:
                raise BadRequest("the body is not JSON") from None
            return respond(*submit(body, backend, config, caller=caller))
        if method == "GET" and resource == "/jobs/{id}":
            return respond(*get_job((event.get("pathParameters") or {}).get("id", ""), backend))
        if method == "GET" and resource == "/jobs":
            return respond(*query_jobs(event.get("queryStringParameters") or {}, backend))
        return respond(404, {"error": f"no route {method} {resource}"})
    except BadRequest as err:
        return respond(400, {"error": str(err)})
    except NotFound as err:
        return respond(404, {"error": str(err)})


_BACKEND: Backend | None = None
_CONFIG: ApiConfig | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _BACKEND, _CONFIG
    if _CONFIG is None:
        _CONFIG = ApiConfig.from_environment()
        _BACKEND = Backend(_CONFIG)
    try:
        return handle(event, _BACKEND, _CONFIG)
    except Exception as err:  # noqa: BLE001 - logged; the caller gets a short answer
        print(json.dumps({"level": "ERROR", "error": repr(err)}))
        return respond(500, {"error": "internal error; see the API function's log"})
