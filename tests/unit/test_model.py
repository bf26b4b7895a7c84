"""Every field of every resource, with a valid and an invalid value."""

import pytest
from pydantic import ValidationError

from hyper_tui.model import Cluster, Definition, Host, Image, Queue, Region

BASE = {
    Region: {"name": "us-east-1"},
    Cluster: {"name": "c1"},
    Queue: {"name": "q1", "cluster": "c1"},
    Image: {"name": "img", "directory": "/tmp"},
    Definition: {"name": "d1"},
    Host: {"name": "h1"},
}

# (model, field, valid value, expected stored value, invalid value)
CASES = [
    (Host, "name", "prod-1", "prod-1", "1bad name"),
    (Host, "kind", "local", "local", "gcp"),
    (Host, "account", "123456789012", "123456789012", "12345"),
    (Host, "main_region", "local", "local", None),
    (Host, "settings", {"job_retention_days": 60}, None, {"job_retention_days": 0}),
    (Region, "name", "eu-west-1", "eu-west-1", "eu west 1"),
    (Region, "main", "True", True, "maybe"),
    (Region, "vpc_cidr", "10.1.0.0/16", "10.1.0.0/16", "10.1.0.0/33"),
    (Region, "vpc_id", "vpc-0a1b2c3d", "vpc-0a1b2c3d", "vpc-xyz"),
    (Region, "subnet_config", "PRIVATE_ISOLATED", "PRIVATE_ISOLATED", "PRIVATE"),
    (Region, "nat_gateways", "1", 1, -1),
    (Region, "vpc_endpoints", "DATA_OPTIMISED", "DATA_OPTIMISED", "SOME"),
    (Region, "peer_with_main", "False", False, "sometimes"),
    (Region, "worker_slots", 4, 4, 0),
    (Cluster, "name", "gpu-farm", "gpu-farm", ""),
    (Cluster, "instance_types", ["m5.large", "c6i"], ["m5.large", "c6i"], ["M5 LARGE"]),
    (Cluster, "type", "ONDEMAND", "ON_DEMAND", "PREEMPTIBLE"),
    (Cluster, "allocation_strategy", "BEST_FIT", "BEST_FIT", "CHEAPEST"),
    (Cluster, "bid_percentage", 60, 60, 101),
    (Cluster, "max_vcpus", "256", 256, 0),
    (Cluster, "compute_envs", 2, 2, 4),
    (Cluster, "tags", {"team": "hpc"}, {"team": "hpc"}, ["team"]),
    (Cluster, "iam_policies", ["p1"], ["p1"], "p1"),
    (Cluster, "ami_name", "my-ami", "my-ami", 12),
    (Queue, "name", "q-2", "q-2", "q 2"),
    (Queue, "cluster", "other", "other", None),
    (Queue, "weights", {"us-east-1": "2", "eu-west-1": 1}, {"us-east-1": 2, "eu-west-1": 1},
     {"us-east-1": -1}),
    (Queue, "optimise_spot_cost", "True", True, "often"),
    (Queue, "max_running", 10, 10, 0),
    (Queue, "failover_after_s", 600, 600, -1),
    (Image, "name", "worker", "worker", "-x"),
    (Image, "directory", "./img", "./img", None),
    (Image, "build_args", {"A": "1"}, {"A": "1"}, "A=1"),
    (Definition, "name", "def-a", "def-a", "a/b"),
    (Definition, "image", "worker", "worker", 5),
    (Definition, "image_uri", "123.dkr.ecr._REGION_.amazonaws.com/x:1", None, 5),
    (Definition, "vcpus", 4, 4, 0),
    (Definition, "memory_mib", 2048, 2048, 1),
    (Definition, "gpus", 1, 1, -1),
    (Definition, "jobs_to_workers_ratio", 10, 10, 0),
    (Definition, "retries", 3, 3, -1),
    (Definition, "retry_exit_codes", [75], [75], [0]),
    (Definition, "job_timeout_s", 60, 60, 0),
    (Definition, "timeout_minutes", 60, 60, 0),
    (Definition, "enable_qlog", "False", False, "perhaps"),
    (Definition, "environment", {"K": "V"}, {"K": "V"}, ["K"]),
    (Definition, "mount_points", [], [], [{"container_path": "/d"}]),
    (Definition, "host_volumes", [{"name": "v", "source_path": "/x"}], None, [{"name": "v"}]),
    (Definition, "ulimits", [{"UlimitName": "nofile", "soft_limit": 10, "hard_limit": 20}], None,
     [{"name": "nofile", "soft_limit": 30, "hard_limit": 20}]),
    (Definition, "linux_parameters", {"init_process_enabled": "True", "shared_memory_size": 10}, None,
     {"shared_memory_size": 0}),
    (Definition, "privileged", "True", True, "root"),
    (Definition, "has_agent", "yes", True, "perhaps"),
    (Definition, "user", "nobody", "nobody", 12),
    (Definition, "iam_policies", ["p"], ["p"], "p"),
    (Definition, "log_driver", "JSON_FILE", "json-file", "papertrail"),
    (Definition, "log_options", {"max-size": "10m"}, {"max-size": "10m"}, "10m"),
]


def _model_fields_covered():
    covered = {(m, f) for m, f, *_ in CASES}
    return [(m, f) for m in BASE for f in m.model_fields if (m, f) not in covered]


def test_every_field_has_a_case():
    assert _model_fields_covered() == []


@pytest.mark.parametrize("model,name,good,stored,bad", CASES,
                         ids=[f"{m.__name__}.{f}" for m, f, *_ in CASES])
def test_field_valid_and_invalid(model, name, good, stored, bad):
    data = {**BASE[model], name: good}
    obj = model.model_validate(data)
    if stored is not None:
        value = getattr(obj, name)
        value = getattr(value, "value", value)
        assert value == stored
    with pytest.raises(ValidationError):
        model.model_validate({**BASE[model], name: bad})


def test_original_spellings_are_accepted():
    c = Cluster.model_validate({"clusterName": "c", "instance_list": ["optimal"], "max_vCPUs": "8",
                                "compute_resources_tags": {"a": "b"}, "main_region_image_name": ""})
    assert (c.name, c.max_vcpus, c.tags, c.ami_name) == ("c", 8, {"a": "b"}, None)
    q = Queue.model_validate({"queue_name": "q", "computeEnvironment": "c",
                              "region_distribution_weights": {"us-east-1": "auto"}})
    assert q.optimise_spot_cost and q.weights == {"us-east-1": "auto"}
    d = Definition.model_validate({"jobDefinitionName": "d", "cyclone_image_name": "img",
                                   "memory_limit_mib": 512, "gpu_count": "", "privileged": "False",
                                   "timeout_minutes": "", "linux_parameters": ""})
    assert (d.image, d.memory_mib, d.privileged, d.timeout_minutes) == ("img", 512, False, None)


def test_cross_field_rules():
    with pytest.raises(ValidationError, match="not both"):
        Region(name="us-east-1", vpc_cidr="10.0.0.0/16", vpc_id="vpc-0a1b2c3d")
    with pytest.raises(ValidationError, match="cannot peer"):
        Region(name="us-east-1", main=True, peer_with_main=True)
    with pytest.raises(ValidationError, match="not both"):
        Definition(name="d", image="a", image_uri="b")
    with pytest.raises(ValidationError, match="not in host_volumes"):
        Definition(name="d", mount_points=[{"container_path": "/d", "source_volume": "v"}])
    with pytest.raises(ValidationError, match="mix"):
        Queue(name="q", cluster="c", weights={"a": 1, "b": "auto"})
    with pytest.raises(ValidationError, match="above 0"):
        Queue(name="q", cluster="c", weights={"a": 0})
    with pytest.raises(ValidationError, match="exceed"):
        Cluster(name="c", max_vcpus=2, compute_envs=3)
    with pytest.raises(ValidationError, match="account"):
        Host(name="h", kind="aws", main_region="us-east-1")
    with pytest.raises(ValidationError, match="region"):
        Host(name="h", kind="aws", account="123456789012", main_region="local")


def test_on_demand_gets_an_on_demand_strategy():
    c = Cluster(name="c", type="ON_DEMAND")
    assert c.allocation_strategy.value == "BEST_FIT_PROGRESSIVE"


def test_image_for_region():
    d = Definition(name="d", image_uri="1.dkr.ecr._REGION_.amazonaws.com/x:1")
    assert d.image_for_region("eu-west-1", "1", "r") == "1.dkr.ecr.eu-west-1.amazonaws.com/x:1"
    d = Definition(name="d", image="w")
    assert d.image_for_region("us-east-2", "123", "repo") == "123.dkr.ecr.us-east-2.amazonaws.com/repo:w"
