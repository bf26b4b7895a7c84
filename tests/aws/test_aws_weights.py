"""'auto' weights from spot placement scores: recorded responses through botocore's Stubber
(moto has no GetSpotPlacementScores)."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from hyper_tui.aws import schema
from hyper_tui.aws.session import AwsSession
from hyper_tui.aws.weights_refresh import placement_scores, refresh_weights
from hyper_tui.core.errors import UnavailableError, UsageError
from tests.aws.conftest import make_aws_host

# Recorded shape of a GetSpotPlacementScores answer (regions scored 1-10, paged).
PAGE_1 = {"SpotPlacementScores": [{"Region": "us-east-1", "Score": 9},
                                  {"Region": "eu-west-1", "Score": 3}], "NextToken": "t1"}
PAGE_2 = {"SpotPlacementScores": [{"Region": "us-east-1", "Score": 7},
                                  {"Region": "ap-southeast-1", "Score": 6}]}
REGIONS = ["ap-southeast-1", "eu-west-1", "us-east-1"]


def stubbed_ec2(session: AwsSession) -> Stubber:
    return Stubber(session.client("ec2"))


def expected(target: int, token: str | None = None) -> dict:
    params = {"InstanceTypes": ["c5.large", "c6i.large", "m5.large"], "TargetCapacity": target,
              "TargetCapacityUnitType": "vcpu", "SingleAvailabilityZone": False,
              "RegionNames": REGIONS, "MaxResults": 10}
    if token:
        params["NextToken"] = token
    return params


def test_scores_paged_best_per_region(moto_url) -> None:
    s = AwsSession("us-east-1")
    with stubbed_ec2(s) as stub:
        stub.add_response("get_spot_placement_scores", PAGE_1, expected(64))
        stub.add_response("get_spot_placement_scores", PAGE_2, expected(64, "t1"))
        scores = placement_scores(s.client("ec2"), ["c5.large", "c6i.large", "m5.large"], REGIONS, 64)
        stub.assert_no_pending_responses()
    assert scores == {"us-east-1": 9, "eu-west-1": 3, "ap-southeast-1": 6}


def test_target_capacity_above_the_limit_is_halved(moto_url) -> None:
    s = AwsSession("us-east-1")
    with stubbed_ec2(s) as stub:
        stub.add_client_error("get_spot_placement_scores", "InvalidParameterValue",
                              "The target capacity 64 exceeds your limit of 40", 400, expected(64))
        stub.add_response("get_spot_placement_scores", PAGE_2, expected(32))
        scores = placement_scores(s.client("ec2"), ["c5.large", "c6i.large", "m5.large"], REGIONS, 64)
    assert scores == {"us-east-1": 7, "ap-southeast-1": 6}


def _auto_host(types: list[str]):
    h = make_aws_host(regions=("us-east-1", "eu-west-1", "ap-southeast-1"),
                      weights={"us-east-1": "auto", "eu-west-1": "auto", "ap-southeast-1": "auto"})
    h.cfg.clusters["c1"] = h.cfg.clusters["c1"].model_copy(update={"instance_types": types})
    return h


def test_refresh_weights_stores_host_state_and_scaler_item(home) -> None:
    h = _auto_host(["c5.large", "c6i.large", "m5.large"])
    s = h.res.session
    with stubbed_ec2(s) as stub:
        stub.add_response("get_spot_placement_scores", PAGE_1, expected(64))
        stub.add_response("get_spot_placement_scores", PAGE_2, expected(64, "t1"))
        result = refresh_weights(h.cfg, "q1", session=s)
    # scores 9, 3, 6 -> squares 81, 9, 36 -> divided by the smallest, rounded
    assert result == {"q1": {"ap-southeast-1": 4, "eu-west-1": 1, "us-east-1": 9}}
    from hyper_tui.aws.synth import stored_lookups

    assert stored_lookups("acme")["weights"]["q1"] == result["q1"]
    from hyper_tui.aws.scaler import read_weights

    assert read_weights(s.client("dynamodb"), h.res.table) == result
    # The next synth resolves 'auto' from the stored look-ups.
    from hyper_tui.aws.scaler_config import build_scaler_config

    sc = build_scaler_config(h.cfg, stored_lookups("acme"))
    assert sc.pairs[0].weights == result["q1"]


def test_optimal_instance_types_use_default_weights(home) -> None:
    h = _auto_host(["optimal"])
    with stubbed_ec2(h.res.session) as stub:  # no call is made
        result = refresh_weights(h.cfg, session=h.res.session)
        stub.assert_no_pending_responses()
    # every listed region is one of the deep spot regions: equal weights
    assert result == {"q1": {"ap-southeast-1": 1, "eu-west-1": 1, "us-east-1": 1}}


def test_integer_weights_are_not_refreshed(home) -> None:
    h = make_aws_host()
    with pytest.raises(UsageError, match="no queue of host 'acme' has 'auto' weights"):
        refresh_weights(h.cfg, session=h.res.session)
    with pytest.raises(UsageError, match="integer weights"):
        refresh_weights(h.cfg, "q1", session=h.res.session)


def test_access_denied_is_one_line(home) -> None:
    h = _auto_host(["c5.large", "c6i.large", "m5.large"])
    with stubbed_ec2(h.res.session) as stub:
        stub.add_client_error("get_spot_placement_scores", "UnauthorizedOperation",
                              "You are not authorized to perform this operation.", 403)
        with pytest.raises(UnavailableError) as e:
            refresh_weights(h.cfg, session=h.res.session)
    assert "access denied" in str(e.value) and "\n" not in str(e.value)
    # Nothing was stored.
    from hyper_tui.aws.synth import stored_lookups

    assert "weights" not in stored_lookups("acme")
    raw = h.res.session.client("dynamodb").get_item(
        TableName=h.res.table, Key={"id": {"S": schema.META_WEIGHTS_ID}})
    assert "Item" not in raw
    json.dumps(stored_lookups("acme"))
