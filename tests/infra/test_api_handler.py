"""The submit/query API Lambda, with a fake backend in place of DynamoDB and SQS."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from hyper_tui.aws import groups, schema
from hyper_tui.aws.infra.components.api import handler as h

CONFIG = h.ApiConfig(host="demo", table="demo-jobs", queues=frozenset({"fast", "cheap"}),
                     definitions={"sim": {"retries": 3, "timeout": 600,
                                          "retry_exit_codes": [75]},
                                  "plain": {"retries": 2, "timeout": None}})
CALLER = "arn:aws:iam::123456789012:user/alice"


class FakeBackend:
    def __init__(self, *, fail_put: int = 0, fail_send: bool = False,
                 fail_size: int | None = None) -> None:
        self.items: dict[str, dict] = {}
        self.sent: dict[tuple[str, str], list[str]] = {}
        self.put_calls = 0
        self.fail_put = fail_put
        self.fail_send = fail_send
        self.fail_size = fail_size  # a put of exactly this many items fails
        self.failed: list[str] = []
        self.metrics: list[dict[str, int]] = []

    def publish_submitted(self, counts):
        self.metrics.append(counts)

    def open_outbox(self, items, now):
        assert not any(i["id"] in self.items for i in items)  # before any job is stored
        self.opened = [i["id"] for i in items]
        self.outbox = "open"
        return ["outbox#1"]

    def close_outbox(self, outbox_ids):
        assert outbox_ids == ["outbox#1"]
        self.outbox = None

    def put_items(self, items):
        self.put_calls += 1
        assert len(items) <= 25
        if (self.fail_put and self.put_calls <= self.fail_put) or len(items) == self.fail_size:
            raise RuntimeError("throttled")
        for item in items:
            self.items[item["id"]] = item

    def send(self, queue, definition, bodies):
        assert len(bodies) <= 10
        if self.fail_send:
            return bodies
        self.sent.setdefault((queue, definition), []).extend(bodies)
        return []

    def mark_failed(self, job_id, reason):
        self.failed.append(job_id)

    def get(self, job_id):
        return self.items.get(job_id)

    def query_ids(self, index, key, value, *, limit, start):
        rows = sorted(i["id"] for i in self.items.values() if i.get(key) == value)
        if start:
            assert start[key] == value
            rows = [r for r in rows if r > start["id"]]
        page = rows[:limit]
        last = {"id": page[-1], key: value} if len(rows) > limit else None
        return page, last

    def read_items(self, ids, *, state):
        return [self.items[i] for i in ids if i in self.items
                and (state is None or self.items[i]["state"] == state)]

    def group_members(self, group_id):
        return groups.members(self.items.get(group_id))


def event(method, resource, body=None, *, params=None, path=None, caller=CALLER, b64=False):
    raw = json.dumps(body) if body is not None else None
    if b64 and raw is not None:
        raw = base64.b64encode(raw.encode()).decode()
    return {"httpMethod": method, "resource": resource, "body": raw, "isBase64Encoded": b64,
            "queryStringParameters": params, "pathParameters": path,
            "requestContext": {"identity": {"userArn": caller} if caller else {}}}


def call(ev, backend=None):
    backend = backend or FakeBackend()
    out = h.handle(ev, backend, CONFIG)
    return out["statusCode"], json.loads(out["body"]), backend


def job(**kw):
    return {"queue": "fast", "definition": "sim", "command": "echo hi", **kw}


# ---- submit -----------------------------------------------------------------------------------


def test_submit_writes_items_and_enqueues_ids_ten_per_message():
    status, body, backend = call(event("POST", "/jobs", {"jobs": [job(name=f"j{i}")
                                                                  for i in range(23)]}))
    assert status == 200
    ids = body["ids"]
    jobs = {k: v for k, v in backend.items.items() if not groups.is_group_id(k)}
    assert len(ids) == 23 == len(set(ids)) == len(jobs)
    messages = backend.sent[("fast", "sim")]
    assert [len(json.loads(m)["ids"]) for m in messages] == [10, 10, 3]
    assert [i for m in messages for i in json.loads(m)["ids"]] == ids
    assert all(json.loads(m)["t"] > 0 for m in messages)
    assert backend.metrics == []  # the scaler publishes Submitted, from the counters
    assert backend.opened == ids and backend.outbox is None  # outbox opened first, then closed
    item = backend.items[ids[0]]
    assert item["state"] == "QUEUED" and item["reason"] == "waiting for a worker"
    # 23 jobs of one queue: no by_queue entry each, one group item lists them all
    assert "queue_shard" not in item
    (gitem,) = (v for k, v in backend.items.items() if groups.is_group_id(k))
    assert groups.members(gitem) == sorted(ids) and gitem["id"] == max(ids) + "#group"
    assert gitem["queue_shard"] == schema.queue_shard("fast", gitem["id"])
    assert backend.put_calls == 2  # the group first, then the jobs
    assert item["retries"] == 3 and item["timeout"] == Decimal("600")  # definition defaults
    assert item["submitted_by"] == CALLER and item["name"] == "j0"
    assert item["user"] == CALLER.rsplit("/", 1)[-1]  # the caller's name: qstat -u filters by it
    assert isinstance(item["submitted"], Decimal) and item["queued"] == item["submitted"]
    assert item["retry_exit_codes"] == [75]
    assert None not in item.values()


def test_submit_accepts_exactly_the_batch_limit():
    jobs = [job(argv=["true"], command=None) for _ in range(schema.MAX_BATCH)]
    for j in jobs:
        del j["command"]
    status, body, backend = call(event("POST", "/jobs", {"jobs": jobs}))
    assert status == 200 and len(body["ids"]) == schema.MAX_BATCH
    assert backend.put_calls == 1 + schema.MAX_BATCH // 25  # the group, then 25 jobs a call


def test_submit_rejects_one_job_over_the_limit_and_writes_nothing():
    status, body, backend = call(event("POST", "/jobs",
                                       {"jobs": [job()] * (schema.MAX_BATCH + 1)}))
    assert status == 400
    assert f"at most {schema.MAX_BATCH}" in body["error"]
    assert backend.items == {} and backend.sent == {}


@pytest.mark.parametrize("body, fragment", [
    ({"jobs": []}, "empty"),
    ({"job": [job()]}, '{"jobs"'),
    ([job()], '{"jobs"'),
    ({"jobs": [job()], "extra": 1}, "extra: unknown field"),
    ({"jobs": ["echo"]}, "jobs[0]: each job is an object"),
    ({"jobs": [job(queue="nope")]}, "jobs[0].queue: no queue named 'nope'"),
    ({"jobs": [job(definition="x")]}, "jobs[0].definition: no definition named 'x'"),
    ({"jobs": [job(argv=["a"])]}, "either command"),
    ({"jobs": [{"queue": "fast", "definition": "sim"}]}, "either command"),
    ({"jobs": [job(command="")]}, "jobs[0].command"),
    ({"jobs": [job(env={"A": 1})]}, "jobs[0].env"),
    ({"jobs": [job(timeout=0)]}, "jobs[0].timeout"),
    ({"jobs": [job(retries=101)]}, "jobs[0].retries"),
    ({"jobs": [job(priority=True)]}, "jobs[0].priority"),
    ({"jobs": [job(array_id="a", idx=0)]}, "jobs[0].array_id: unknown field"),
    ({"jobs": [job(), job(colour="red")]}, "jobs[1].colour: unknown field"),
    ({"jobs": [job(command="x" * (h.MAX_COMMAND_BYTES + 1))]}, "jobs[0].command"),
])
def test_submit_validation_names_the_field(body, fragment):
    status, answer, backend = call(event("POST", "/jobs", body))
    assert status == 400
    assert fragment in answer["error"]
    assert backend.items == {}


def test_submit_body_not_json_and_base64_bodies():
    ev = event("POST", "/jobs")
    ev["body"] = "{nope"
    assert call(ev)[0] == 400
    status, body, _ = call(event("POST", "/jobs", {"jobs": [job()]}, b64=True))
    assert status == 200 and len(body["ids"]) == 1


def test_failed_writes_are_reported_and_not_enqueued():
    backend = FakeBackend(fail_put=1)
    # one job in each queue besides 30 in fast: those two keep their own by_queue entries, so
    # the first put is fast's group item; it fails, so fast's jobs are not stored at all (they
    # would be in no listing of the queue)
    jobs = [job() for _ in range(30)] + [job(queue="cheap", definition="plain")]
    status, body, _ = call(event("POST", "/jobs", {"jobs": jobs}), backend)
    assert status == 503 and body["failed"] == 30 and "listing of 30 jobs" in body["error"]
    assert body["ids"][:30] == [None] * 30 and body["ids"][30]
    assert set(backend.items) == {body["ids"][30]}
    assert backend.items[body["ids"][30]]["queue_shard"] == schema.queue_shard(
        "cheap", body["ids"][30])
    assert ("fast", "sim") not in backend.sent


def test_failed_job_writes_are_reported_and_not_enqueued():
    backend = FakeBackend(fail_size=25)  # the put of the first 25 jobs fails
    status, body, _ = call(event("POST", "/jobs", {"jobs": [job() for _ in range(30)]}), backend)
    assert status == 503 and body["failed"] == 25
    assert body["ids"].count(None) == 25
    sent = [i for m in backend.sent[("fast", "sim")] for i in json.loads(m)["ids"]]
    assert sorted(sent) == sorted(i for i in body["ids"] if i)
    (gitem,) = (v for k, v in backend.items.items() if groups.is_group_id(k))
    assert len(groups.members(gitem)) == 30  # a reader skips the 25 that were not stored


def test_jobs_that_cannot_be_queued_are_marked_failed():
    backend = FakeBackend(fail_send=True)
    status, body, _ = call(event("POST", "/jobs", {"jobs": [job(), job()]}), backend)
    assert status == 503 and body["ids"] == [None, None]
    assert len(backend.failed) == 2
    assert backend.metrics == []  # nothing was submitted


# ---- auth is API Gateway's; the handler refuses what did not come through it -------------------


def test_events_without_an_iam_identity_are_refused():
    status, body, backend = call(event("POST", "/jobs", {"jobs": [job()]}, caller=None))
    assert status == 403 and "IAM" in body["error"]
    assert backend.items == {}


def test_unknown_route_is_404():
    assert call(event("DELETE", "/jobs"))[0] == 404


# ---- query ------------------------------------------------------------------------------------


@pytest.fixture
def filled():
    backend = FakeBackend()
    jobs = [job(name="a")] * 5 + [job(name="b", queue="cheap", definition="plain")] * 3
    status, body, _ = call(event("POST", "/jobs", {"jobs": jobs}), backend)
    assert status == 200
    return backend, body["ids"]


def test_get_one_job(filled):
    backend, ids = filled
    status, body, _ = call(event("GET", "/jobs/{id}", path={"id": ids[0]}), backend)
    assert status == 200 and body["id"] == ids[0] and body["attempt"] == 0
    status, body, _ = call(event("GET", "/jobs/{id}", path={"id": "missing"}), backend)
    assert status == 404 and "missing" in body["error"]


def test_query_by_name_pages(filled):
    backend, ids = filled
    status, body, _ = call(event("GET", "/jobs", params={"name": "a", "limit": "2"}), backend)
    assert status == 200 and len(body["jobs"]) == 2 and body["next"]
    seen = [j["id"] for j in body["jobs"]]
    while body["next"]:
        _, body, _ = call(event("GET", "/jobs", params={"name": "a", "limit": "2",
                                                        "next": body["next"]}), backend)
        seen += [j["id"] for j in body["jobs"]]
    assert sorted(seen) == sorted(ids[:5])


def test_query_by_queue_walks_every_shard(filled):
    backend, ids = filled
    status, body, _ = call(event("GET", "/jobs", params={"queue": "cheap", "state": "QUEUED"}),
                           backend)
    assert status == 200 and sorted(j["id"] for j in body["jobs"]) == sorted(ids[5:])
    assert body["next"] is None


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_query_by_queue_pages_through_groups_and_singles(filled, limit):
    backend, ids = filled  # fast: a group of 5; now one more fast job, alone, and a 2nd group
    more = [call(event("POST", "/jobs", {"jobs": js}), backend)[1]["ids"]
            for js in ([job()], [job(), job(), job()])]
    assert "queue_shard" in backend.items[more[0][0]]  # a single job keeps its own entry
    want = ids[:5] + more[0] + more[1]
    seen: list[str] = []
    token = None
    for _ in range(20):
        params = {"queue": "fast", "limit": str(limit), **({"next": token} if token else {})}
        status, body, _ = call(event("GET", "/jobs", params=params), backend)
        assert status == 200 and len(body["jobs"]) <= limit
        seen += [j["id"] for j in body["jobs"]]
        token = body["next"]
        if not token:
            break
    assert sorted(seen) == sorted(want) and len(seen) == len(set(seen))
    # a member gone (TTL) is skipped, the rest still listed
    del backend.items[ids[2]]
    _, body, _ = call(event("GET", "/jobs", params={"queue": "fast"}), backend)
    assert sorted(j["id"] for j in body["jobs"]) == sorted(set(want) - {ids[2]})


@pytest.mark.parametrize("params", [{}, {"name": "a", "queue": "fast"}, {"limit": "0", "name": "a"},
                                    {"limit": "x", "name": "a"}, {"name": "a", "next": "%%"},
                                    {"colour": "red"}])
def test_query_validation(params):
    assert call(event("GET", "/jobs", params=params))[0] == 400


def test_handler_turns_crashes_into_500(monkeypatch):
    class Broken(FakeBackend):
        def get(self, job_id):
            raise RuntimeError("boom")

    monkeypatch.setattr(h, "_CONFIG", CONFIG)
    monkeypatch.setattr(h, "_BACKEND", Broken())
    out = h.handler(event("GET", "/jobs/{id}", path={"id": "x"}), None)
    assert out["statusCode"] == 500 and "boom" not in out["body"]


def test_config_from_environment():
    cfg = h.ApiConfig.from_environment({
        "HYPER_HOST": "demo", "HYPER_JOBS_TABLE": "demo-jobs",
        "HYPER_API_CONFIG": json.dumps({"queues": ["q"], "definitions": {"d": {"retries": 1}}})})
    assert cfg.queues == {"q"} and cfg.definitions["d"]["retries"] == 1


def test_job_ids_sort_by_time_and_are_unique():
    a = schema.new_job_id(1_700_000_000.0)
    b = schema.new_job_id(1_700_000_000.5)
    assert a < b and len(a) == 20
    assert len({schema.new_job_id(1.0) for _ in range(1000)}) == 1000
