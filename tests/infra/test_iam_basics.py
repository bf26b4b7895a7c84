"""IAM and instance basics: the scaler may tag the Batch jobs it submits (tag-on-create needs
batch:TagResource on job/*), and containers cannot reach the instance metadata (hop limit 1)."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import COMPUTE, CONTROL


def test_scaler_may_tag_the_jobs_it_submits_in_every_region(synthesized):
    t = synthesized.template(CONTROL)
    statements = [s for p in t.find_resources("AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if s.get("Sid") == "TagWorkersOnCreate"]
    assert len(statements) == 1
    s = statements[0]
    assert s["Effect"] == "Allow" and s["Action"] == "batch:TagResource"
    text = str(s["Resource"])
    for region in sorted(COMPUTE):
        assert f"batch:{region}:" in text
    assert text.count(":job/*") == len(COMPUTE)


@pytest.mark.parametrize("region", sorted(COMPUTE))
def test_containers_cannot_reach_instance_metadata(synthesized, region):
    synthesized.template(COMPUTE[region]).has_resource_properties("AWS::EC2::LaunchTemplate", {
        "LaunchTemplateData": Match.object_like({"MetadataOptions": Match.object_like({
            "HttpTokens": "required", "HttpPutResponseHopLimit": 1})})})
