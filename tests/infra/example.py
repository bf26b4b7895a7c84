"""The three-region example host of the infra tests (config + look-ups), as plain data."""

from __future__ import annotations

import copy

from hyper_tui.config import HostConfig, parse_config

ACCOUNT = "123456789012"

CONFIG = """
host: {name: demo, kind: aws, account: "123456789012", main_region: us-east-1,
       settings: {enable_dashboard: true, job_retention_days: 45}}
regions:
  us-east-1: {main: true, vpc_cidr: 10.0.0.0/16, subnet_config: PRIVATE_WITH_NAT,
              nat_gateways: 1, vpc_endpoints: DATA_OPTIMISED}
  eu-west-1: {vpc_cidr: 10.1.0.0/16, subnet_config: PRIVATE_WITH_NAT, nat_gateways: 1,
              vpc_endpoints: FOR_PRIVATE_VPC, peer_with_main: true}
  ap-southeast-1: {vpc_id: vpc-0a1b2c3d4e5f60789}
clusters:
  spot: {type: SPOT, instance_types: [optimal], allocation_strategy: SPOT_CAPACITY_OPTIMIZED,
         bid_percentage: 80, max_vcpus: 1000, compute_envs: 3, tags: {team: research}}
  steady: {type: ON_DEMAND, instance_types: [c6i.large, c6i.xlarge], max_vcpus: 100,
           compute_envs: 2, allocation_strategy: BEST_FIT_PROGRESSIVE, ami_name: hyper-ami}
queues:
  fast: {cluster: spot, weights: {us-east-1: 3, eu-west-1: 1, ap-southeast-1: 1}}
  cheap: {cluster: steady, weights: {us-east-1: auto, eu-west-1: auto, ap-southeast-1: auto}}
definitions:
  sim:
    image_uri: 123456789012.dkr.ecr._REGION_.amazonaws.com/sim:latest
    has_agent: true
    vcpus: 2
    memory_mib: 4096
    jobs_to_workers_ratio: 10
    timeout_minutes: 120
    environment: {MODE: fast}
    host_volumes: [{name: scratch, source_path: /scratch}]
    mount_points: [{container_path: /data, source_volume: scratch, read_only: true}]
    ulimits: [{name: nofile, soft_limit: 4096, hard_limit: 8192}]
    linux_parameters: {init_process_enabled: true, shared_memory_size: 256}
    privileged: true
    user: worker
    iam_policies: [sim-data-read]
    log_driver: json-file
    log_options: {max-size: 10m}
  plain:
    image_uri: public.ecr.aws/docker/library/python:3.11-slim
    has_agent: true
"""

LOOKUPS = {
    "availability_zones": {
        "us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "eu-west-1": ["eu-west-1a", "eu-west-1b"],
    },
    "weights": {"cheap": {"us-east-1": 5, "eu-west-1": 2, "ap-southeast-1": 1}},
    "amis": {"steady": {"us-east-1": "ami-0aaaaaaaaaaaaaaa1", "eu-west-1": "ami-0bbbbbbbbbbbbbbb2",
                        "ap-southeast-1": "ami-0ccccccccccccccc3"}},
    "ami_roots": {"steady": {"us-east-1": {"device": "/dev/sda1", "size_gib": 50},
                             "eu-west-1": {"device": "/dev/xvda", "size_gib": 8},
                             "ap-southeast-1": {"device": "/dev/xvda", "size_gib": 8}}},
    "vpcs": {"ap-southeast-1": {
        "vpc_id": "vpc-0a1b2c3d4e5f60789", "cidr": "172.31.0.0/16",
        "availability_zones": ["ap-southeast-1a", "ap-southeast-1b"],
        "private_subnet_ids": ["subnet-0a1a1a1a1a1a1a1a1", "subnet-0b2b2b2b2b2b2b2b2"],
        "private_route_table_ids": ["rtb-0a1a1a1a1a1a1a1a1", "rtb-0b2b2b2b2b2b2b2b2"],
        "public_subnet_ids": ["subnet-0c3c3c3c3c3c3c3c3", "subnet-0d4d4d4d4d4d4d4d4"],
        "public_route_table_ids": ["rtb-0c3c3c3c3c3c3c3c3", "rtb-0c3c3c3c3c3c3c3c3"],
    }},
}


def config() -> HostConfig:
    return parse_config(CONFIG, "example.yaml")


def lookups() -> dict:
    return copy.deepcopy(LOOKUPS)
