"""The outbox splits by bytes: however long the names, no outbox item exceeds DynamoDB's
400 KB item limit (12,000 ids per item did, near 6,600 jobs with long names)."""

from __future__ import annotations

import json

from hyper_tui.aws import outbox
from hyper_tui.aws.table import from_item
from tests.aws.conftest import make_aws_host


def _item_bytes(item: dict) -> int:
    """DynamoDB's size of an item (attribute names + values), for the shapes the outbox uses."""
    def value(v: dict) -> int:
        (kind, x), = v.items()
        if kind == "S":
            return len(x.encode())
        if kind == "N":
            return len(x) // 2 + 2
        if kind == "L":
            return 3 + sum(value(e) + 1 for e in x)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(e) + 1 for k, e in x.items())
        raise AssertionError(kind)
    return sum(len(k.encode()) + value(v) for k, v in item.items())


def test_split_rows_keeps_every_row_in_order_within_the_budget():
    rows = [["q" * 200, "d" * 200, f"{i}"] for i in range(5000)]
    chunks = outbox.split_rows(rows, budget=100_000)
    assert [r for c in chunks for r in c] == rows
    assert all(3 + sum(outbox.row_bytes(r) for r in c) <= 100_000 for c in chunks)
    assert len(chunks) > 1 and outbox.split_rows([]) == []


def test_eight_thousand_jobs_with_long_names_fit_in_outbox_items(home):
    h = make_aws_host()
    ddb = h.res.session.client("dynamodb")
    queue, definition = "q" * 80, "a-realistic-simulation-definition-name-" * 2
    jobs = [{"queue": queue, "definition": definition, "id": f"{1_000_000 + i}.{i % 7}"}
            for i in range(8_000)]
    ids = outbox.open_outbox(ddb, h.res.table, jobs)
    # Compact rows: the long names once per (queue, definition) row, each id's common prefix
    # once: 8,000 ids in one small item (a row per id would be ~1.4 MB, several items).
    assert len(ids) == 1
    back = []
    for oid in ids:
        raw = ddb.get_item(TableName=h.res.table, Key={"id": {"S": oid}})["Item"]
        assert _item_bytes(raw) <= 8_000 * 8, _item_bytes(raw)
        back += from_item(raw)["jobs"]
    assert [i for r in back for i in outbox.row_ids(r)] == [j["id"] for j in jobs]
    outbox.close_outbox(ddb, h.res.table, ids)
    assert json.dumps(ddb.scan(TableName=h.res.table, Select="COUNT")["Count"]) == "0"
