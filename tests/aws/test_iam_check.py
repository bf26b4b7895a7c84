"""The IAM check itself: calls map to what IAM authorizes, and the evaluator denies what the
policies do not grant (so the allow in test_cfn_deploy means something)."""

from __future__ import annotations

from tests.aws.cfn_env import iam_simulator
from tests.aws.iam_check import Request, iam_requests, resolve, simulate

ACCOUNT = "123456789012"


def test_calls_map_to_iam_requests():
    calls = [("us-east-1", "sqs", "DeleteMessageBatch",
              {"QueueUrl": "http://localhost:1/123456789012/q"}),
             ("", "dynamodb", "Query", {"TableName": "t", "IndexName": "by_queue"}),
             ("", "dynamodb", "TransactWriteItems", {"TransactItems": [
                 {"Update": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]}),
             ("", "s3", "GetObject", {"Bucket": "b", "Key": "k"}),
             ("", "sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/j",
                                        "RoleSessionName": "w"}),
             ("", "ssm", "GetParameter", {"Name": "/hyper/h/ApiUrl"}),
             ("", "s3", "DeleteBucket", {"Bucket": "b"})]
    requests, unknown = iam_requests(calls, account=ACCOUNT, default_region="eu-west-1")
    assert requests == {
        Request("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q"),
        Request("dynamodb:Query", "arn:aws:dynamodb:eu-west-1:123456789012:table/t/index/by_queue"),
        Request("dynamodb:UpdateItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/t"),
        Request("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/t"),
        Request("s3:GetObject", "arn:aws:s3:::b/k"),
        Request("sts:AssumeRole", "arn:aws:iam::123456789012:role/j"),
        Request("ssm:GetParameter", "arn:aws:ssm:eu-west-1:123456789012:parameter/hyper/h/ApiUrl")}
    assert unknown == {"s3:DeleteBucket"}


def test_the_evaluator_denies_what_is_not_granted():
    policy = resolve({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sqs:ReceiveMessage",
        "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sqs:us-east-1:",
                                       {"Ref": "AWS::AccountId"}, ":q"]]}}]},
        account=ACCOUNT, region="us-east-1")
    results = simulate(iam_simulator(), f"arn:aws:iam::{ACCOUNT}:role/r", ACCOUNT, [policy], {
        Request("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:q"),
        Request("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:other"),
        Request("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q")})
    by = {(r["action"], r["resource"].rsplit(":", 1)[1]): r["result"] for r in results}
    assert by == {("sqs:ReceiveMessage", "q"): "Allowed",
                  ("sqs:ReceiveMessage", "other"): "ImplicitlyDenied",
                  ("sqs:DeleteMessage", "q"): "ImplicitlyDenied"}
