"""Look-ups before synth, against the moto server: zones, AMIs by name, imported VPCs."""

import pytest

from hyper_tui.aws.lookups_refresh import LOOKUPS_META_KEY, refresh_lookups
from hyper_tui.aws.session import AwsSession
from hyper_tui.errors import NotFoundError
from tests.aws import moto_env


def _host(vpc_id=None, ami_name=None):
    cfg = moto_env.make_host()
    region = next(iter(cfg.regions))
    if vpc_id:
        cfg.regions[region] = cfg.regions[region].model_copy(update={"vpc_id": vpc_id, "vpc_cidr": None})
    if ami_name:
        name = next(iter(cfg.clusters))
        cfg.clusters[name] = cfg.clusters[name].model_copy(update={"ami_name": ami_name})
    return cfg, region


def test_zones_amis_and_imported_vpc_are_stored(home):
    session = AwsSession(moto_env.REGION)
    ec2 = session.client("ec2", moto_env.REGION)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24",
                            AvailabilityZone=f"{moto_env.REGION}a")["Subnet"]["SubnetId"]
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=inst, Name="my-golden-ami")["ImageId"]
    cfg, region = _host(vpc_id=vpc, ami_name="my-golden-ami")
    data = refresh_lookups(cfg, session=session)
    zones = data["availability_zones"][region]
    assert zones and all(z.startswith(region) for z in zones) and len(zones) <= 3
    assert data["amis"][next(iter(cfg.clusters))][region] == ami
    root = data["ami_roots"][next(iter(cfg.clusters))][region]
    described = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert root["device"] == described["RootDeviceName"] and root["size_gib"] >= 0
    imported = data["vpcs"][region]
    assert imported["vpc_id"] == vpc and imported["cidr"] == "10.42.0.0/16"
    assert sub in sum((imported.get(f"{k}_subnet_ids", []) for k in ("public", "private", "isolated")), [])
    from hyper_tui.local.apply import open_store

    store = open_store(cfg.host.name)
    assert LOOKUPS_META_KEY in dict(store.read("SELECT key, value FROM meta"))
    store.close()


def test_missing_ami_names_the_fix(home):
    cfg, region = _host(ami_name="no-such-ami")
    with pytest.raises(NotFoundError, match="no AMI named 'no-such-ami'"):
        refresh_lookups(cfg, session=AwsSession(moto_env.REGION))


def test_missing_vpc_names_the_fix(home):
    cfg, region = _host(vpc_id="vpc-0123456789abcdef0")
    with pytest.raises(NotFoundError, match="does not exist"):
        refresh_lookups(cfg, session=AwsSession(moto_env.REGION))
