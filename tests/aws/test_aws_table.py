"""hyper_tui.aws.table against moto: the item codec round trip and the one paginator."""

from __future__ import annotations

from hyper_tui.aws.schema import ACTIVE_KEY
from hyper_tui.aws.table import from_item, pages, query_items, to_item
from tests.aws.conftest import AwsHost


def put_items(h: AwsHost, n: int) -> list[str]:
    ddb = h.res.session.client("dynamodb")
    ids = [f"page-test#{i:03d}" for i in range(n)]
    for jid in ids:
        ddb.put_item(TableName=h.res.table, Item=to_item({"id": jid, ACTIVE_KEY: "#page-test"}))
    return ids


QUERY = {"IndexName": "by_active", "KeyConditionExpression": "#k = :k",
         "ExpressionAttributeNames": {"#k": ACTIVE_KEY},
         "ExpressionAttributeValues": {":k": {"S": "#page-test"}}}


def test_codec_round_trip_keeps_numbers_plain() -> None:
    value: dict = {"id": "x", "n": 3, "f": 0.25, "b": True, "l": [1, "a", None], "m": {"k": -2}}
    back = from_item(to_item(value))
    assert back == value
    assert type(back["n"]) is int and type(back["f"]) is float


def test_query_items_follows_every_page_and_pages_stops_when_told(aws_host: AwsHost) -> None:
    h = aws_host
    ids = put_items(h, 7)
    ddb = h.res.session.client("dynamodb")
    got = [it["id"] for it in query_items(ddb, TableName=h.res.table, Limit=2, **QUERY)]
    assert sorted(got) == ids  # 4 pages of at most 2

    calls: list[dict] = []

    def query(**kw):
        calls.append(kw)
        return ddb.query(**kw)

    first = next(pages(query, TableName=h.res.table, Limit=2, **QUERY))
    assert len(first["Items"]) == 2 and "LastEvaluatedKey" in first
    assert len(calls) == 1 and "ExclusiveStartKey" not in calls[0]  # no page asked ahead
    assert len(list(pages(query, TableName=h.res.table, Limit=2, **QUERY))) == 4
    assert calls[-1]["ExclusiveStartKey"] and "ExclusiveStartKey" not in calls[1]
