"""Each rewrite of the moto adapter (tests/aws/cfn_adapter.py) does its one thing, and
nothing to a template that does not need it."""

from __future__ import annotations

import copy
import json

from tests.aws import cfn_adapter as a


def template(**resources) -> dict:
    return {"Resources": resources}


CE = {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {"Type": "MANAGED"}}
QUEUE = {"Type": "AWS::Batch::JobQueue", "Properties": {"ComputeEnvironmentOrder": [
    {"Order": 1, "ComputeEnvironment": {"Fn::GetAtt": ["Env", "ComputeEnvironmentArn"]}}]}}


def test_batch_service_role_is_added_once_and_named():
    t = template(Env=copy.deepcopy(CE), Env2=copy.deepcopy(CE))
    assert a.batch_service_role(t) == ["Env", "Env2"]
    assert t["Resources"]["Env"]["Properties"]["ServiceRole"] == {
        "Fn::GetAtt": [a.MOTO_BATCH_ROLE, "Arn"]}
    assert t["Resources"][a.MOTO_BATCH_ROLE]["Type"] == "AWS::IAM::Role"
    assert a.batch_service_role(t) == []  # nothing left to do


def test_batch_arn_attributes_become_refs_and_nothing_else():
    t = template(Env=copy.deepcopy(CE), Queue=copy.deepcopy(QUEUE),
                 Other={"Type": "AWS::IAM::Role", "Properties": {
                     "X": {"Fn::GetAtt": ["Queue", "Priority"]}}})
    assert a.batch_arns_by_ref(t) == ["Env"]
    order = t["Resources"]["Queue"]["Properties"]["ComputeEnvironmentOrder"][0]
    assert order["ComputeEnvironment"] == {"Ref": "Env"}
    assert t["Resources"]["Other"]["Properties"]["X"] == {"Fn::GetAtt": ["Queue", "Priority"]}


def test_ssm_tags_become_a_list():
    t = template(P={"Type": "AWS::SSM::Parameter", "Properties": {"Tags": {"b": "2", "a": "1"}}},
                 Q={"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "a", "Value": "1"}]}})
    assert a.ssm_tags_as_list(t) == ["P"]
    assert t["Resources"]["P"]["Properties"]["Tags"] == [{"Key": "a", "Value": "1"},
                                                         {"Key": "b", "Value": "2"}]


def test_refs_to_skipped_types_get_a_value():
    t = template(
        Stage={"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "v1"}},
        Key={"Type": "AWS::ApiGateway::ApiKey", "Properties": {}},
        P={"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "Key"}}},
        U={"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Fn::Join": [
            "", ["https://x/", {"Ref": "Stage"}]]}}})
    t["Outputs"] = {"K": {"Value": {"Ref": "Key"}}}
    assert a.refs_to_skipped_types(t) == ["Key", "Stage"]
    assert t["Resources"]["P"]["Properties"]["Value"] == "moto-skipped-Key"
    assert t["Resources"]["U"]["Properties"]["Value"]["Fn::Join"][1][1] == "v1"
    assert t["Outputs"]["K"]["Value"] == "moto-skipped-Key"


def test_dependencies_come_first_and_every_resource_stays():
    t = template(
        Deployment={"Type": "AWS::ApiGateway::Deployment", "DependsOn": ["Method"],
                    "Properties": {"RestApiId": {"Ref": "Api"}}},
        Method={"Type": "AWS::ApiGateway::Method", "Properties": {
            "RestApiId": {"Ref": "Api"}, "Uri": {"Fn::Sub": "arn:${Fn.Arn}"}}},
        Api={"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        Fn={"Type": "AWS::Lambda::Function", "Properties": {}})
    before = copy.deepcopy(t)
    assert a.dependencies_first(t)
    order = list(t["Resources"])
    assert order.index("Api") < order.index("Method") < order.index("Deployment")
    assert order.index("Fn") < order.index("Method")
    assert t["Resources"] == before["Resources"]  # same resources, same content


def test_adapt_assembly_copies_and_reports(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "s.template.json").write_text(json.dumps(template(Env=copy.deepcopy(CE))))
    (src / "manifest.json").write_text("{}")
    done = a.adapt_assembly(src, tmp_path / "out")
    assert done["s.template.json"]["batch_service_role"] == ["Env"]
    assert "ServiceRole" not in json.loads((src / "s.template.json").read_text())["Resources"][
        "Env"]["Properties"]  # the original is untouched
    assert (tmp_path / "out" / "manifest.json").exists()
