"""Each rewrite of the moto adapter (tests/aws/cfn_adapter.py) does its one thing, and
nothing to a template that does not need it."""

from __future__ import annotations

import copy
import json

import pytest

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


# ---- the server patches for change sets (MOTO_SERVER items 5 and 6) ---------------------------


@pytest.fixture(scope="module")
def patched_moto(tmp_path_factory):
    """moto's server with the adapter's patches, on a port of its own."""
    from tests.aws.cfn_adapter import start_moto_server

    proc, url = start_moto_server(tmp_path_factory.mktemp("moto") / "moto.log", host="127.0.0.1")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


TEMPLATE = {"Parameters": {"Version": {"Type": "AWS::SSM::Parameter::Value<String>",
                                       "Default": "/cdk-bootstrap/test/version"}},
            "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {
                "VisibilityTimeout": 30}}}}


def test_change_sets_belong_to_their_stack_and_updates_keep_ssm_parameters(patched_moto):
    import boto3
    from botocore.exceptions import ClientError

    kw = dict(region_name="us-east-1", endpoint_url=patched_moto, aws_access_key_id="t",
              aws_secret_access_key="t")
    cf, ssm = boto3.client("cloudformation", **kw), boto3.client("ssm", **kw)
    ssm.put_parameter(Name="/cdk-bootstrap/test/version", Value="30", Type="String")
    for stack in ("A", "B"):  # the same change-set name on two stacks, as the CDK CLI does
        cf.create_change_set(StackName=stack, ChangeSetName="cs", ChangeSetType="CREATE",
                             TemplateBody=json.dumps(TEMPLATE))
        cf.execute_change_set(StackName=stack, ChangeSetName="cs")
    assert cf.describe_change_set(StackName="A", ChangeSetName="cs")["StackName"] == "A"
    assert cf.describe_change_set(StackName="B", ChangeSetName="cs")["StackName"] == "B"
    # the CLI's "delete it if it exists", then its wait until it is gone
    cf.delete_change_set(StackName="A", ChangeSetName="cs")
    cf.delete_change_set(StackName="A", ChangeSetName="cs")  # not there: no error
    with pytest.raises(ClientError) as err:
        cf.describe_change_set(StackName="A", ChangeSetName="cs")
    # the wire code of ChangeSetNotFoundException (the JS SDK names it so)
    assert err.value.response["Error"]["Code"] == "ChangeSetNotFound"
    assert cf.describe_change_set(StackName="B", ChangeSetName="cs")["StackName"] == "B"
    # an update with the bootstrap version's UsePreviousValue, as the CLI sends it
    changed = json.loads(json.dumps(TEMPLATE))
    changed["Resources"]["Q"]["Properties"]["VisibilityTimeout"] = 45
    cf.create_change_set(StackName="A", ChangeSetName="cs", ChangeSetType="UPDATE",
                         TemplateBody=json.dumps(changed),
                         Parameters=[{"ParameterKey": "Version", "UsePreviousValue": True}])
    cf.execute_change_set(StackName="A", ChangeSetName="cs")
    stack = cf.describe_stacks(StackName="A")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    # a stack deleted and created again does not see its namesake's change set
    cf.delete_stack(StackName="B")
    cf.create_change_set(StackName="B", ChangeSetName="cs", ChangeSetType="CREATE",
                         TemplateBody=json.dumps(TEMPLATE))
    cf.execute_change_set(StackName="B", ChangeSetName="cs")
    cf.delete_change_set(StackName="B", ChangeSetName="cs")
    with pytest.raises(ClientError) as err:
        cf.describe_change_set(StackName="B", ChangeSetName="cs")
    assert err.value.response["Error"]["Code"] == "ChangeSetNotFound"
