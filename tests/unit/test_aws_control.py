"""The pure parts of the aws control queues (hyper_tui.aws.control): names, notices, ARNs."""

from __future__ import annotations

from hyper_tui.aws import control, schema


def test_control_queue_names_fit_sqs_and_stay_under_the_hosts_prefix() -> None:
    short = schema.control_queue_name("acme", "w-node1-1a2b3c")
    assert short == "acme-ctl-w-node1-1a2b3c"
    batch = schema.control_queue_name("a-rather-long-host-name", "w-" + "f" * 36 + "-9999")
    assert len(batch) <= 80 and batch.startswith(schema.control_queue_prefix("a-rather-long-host-name"))
    other = schema.control_queue_name("a-rather-long-host-name", "w-" + "f" * 36 + "-9998")
    assert other != batch  # the digest keeps two long ids apart
    assert schema.control_queue_name("h", "w:odd id") == "h-ctl-w-odd-id"


def test_notices_round_trip_and_junk_is_ignored() -> None:
    body = control.notice_body([("42", 1), ("A-7", 3)])
    assert control.parse_notice(body) == [("42", 1), ("A-7", 3)]
    for junk in ("", "not json", "[]", '{"ids": ["1"]}', '{"cancel": "42"}',
                 '{"cancel": [["42"], [1, 2], ["x", true], ["y", "1"]]}'):
        assert control.parse_notice(junk) == []


def test_urls_and_arns_of_a_control_queue() -> None:
    work = "https://sqs.us-east-1.amazonaws.com/123456789012/acme-q1-d1"
    url = control.sibling_url(work, "acme-ctl-w1")
    assert url == "https://sqs.us-east-1.amazonaws.com/123456789012/acme-ctl-w1"
    assert control.queue_arn(url, "us-east-1") == "arn:aws:sqs:us-east-1:123456789012:acme-ctl-w1"
    assert control.queue_arn(url, "cn-north-1").startswith("arn:aws-cn:sqs:")
    attrs = control.queue_attributes("arn:aws:sqs:us-east-1:1:acme-ctl-w1")
    assert attrs["SqsManagedSseEnabled"] == "true" and '"aws:SecureTransport":"false"' in attrs["Policy"]
