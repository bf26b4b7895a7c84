"""No size cliffs: a host of 10 queues x 10 definitions x 6 regions synthesizes offline (no
look-ups), its scaler config travels in the Lambda asset, and every template stays within
CloudFormation's limits. Prints the synth time and peak memory (the issue's figures)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hyper_tui.aws.scaler_config import CONFIG_FILE, ScalerConfig
from hyper_tui.aws.synth import synth_app
from hyper_tui.config import HostConfig, parse_config

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"]
MAX_RESOURCES = 500                 # per stack
MAX_TEMPLATE_BYTES = 1_000_000      # a template read from S3
MAX_ENVIRONMENT_BYTES = 4096        # a Lambda function's variables


def big_config(queues: int = 10, definitions: int = 10,
               regions: list[str] = REGIONS) -> HostConfig:
    lines = ['host: {name: big, kind: aws, account: "123456789012", main_region: us-east-1}',
             "regions:"]
    for i, r in enumerate(regions):
        lines.append(f"  {r}: {{main: {str(i == 0).lower()}, vpc_cidr: 10.{i}.0.0/16, "
                     "subnet_config: PRIVATE_WITH_NAT, nat_gateways: 1, "
                     "vpc_endpoints: DATA_OPTIMISED}")
    lines += ["clusters:",
              "  spot: {type: SPOT, instance_types: [optimal], max_vcpus: 4000, compute_envs: 3}",
              "  steady: {type: ON_DEMAND, instance_types: [c6i.large], max_vcpus: 500, "
              "compute_envs: 2}",
              "queues:"]
    lines += [f"  research-queue-{q:02d}: {{cluster: {'spot' if q % 2 else 'steady'}, "
              f"weights: {{{', '.join(f'{r}: auto' for r in regions)}}}}}"
              for q in range(queues)]
    lines.append("definitions:")
    lines += [f"  simulation-definition-{d:02d}: {{image_uri: "
              f"public.ecr.aws/docker/library/python:3.12-slim, has_agent: true, vcpus: {1 + d % 4}}}"
              for d in range(definitions)]
    return parse_config("\n".join(lines) + "\n", "big.yaml")


def _peak_rss_mib() -> float:
    """Peak resident memory of this process plus its children still alive (the jsii Node
    process that runs the CDK), from /proc (VmHWM)."""
    def hwm(pid: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    me = str(os.getpid())
    kids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
            and _ppid(p.name) == me]
    return (hwm(me) + sum(hwm(k) for k in kids)) / 1024


def _ppid(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def test_ten_queues_ten_definitions_six_regions_synthesize(tmp_path, no_aws_credentials):
    cfg = big_config()
    start = time.monotonic()
    result = synth_app(cfg, tmp_path / "cdk.out", lookups=None)
    seconds = time.monotonic() - start
    peak = _peak_rss_mib()
    print(f"\nSYNTH 10x10x6: {seconds:.1f} s, peak memory {peak:.0f} MiB (python + jsii node), "
          f"{len(result.templates)} templates")
    assert len(result.templates) == 7  # 6 compute stacks + control
    assert result.placeholders.zones and result.placeholders.weights
    for path in result.templates:
        template = json.loads(path.read_text())
        assert len(template["Resources"]) <= MAX_RESOURCES * 0.95, path.name
        assert path.stat().st_size <= MAX_TEMPLATE_BYTES * 0.8, path.name
        for res in template["Resources"].values():
            if res["Type"] == "AWS::Lambda::Function":
                env = json.dumps(res["Properties"].get("Environment", {}).get("Variables", {}))
                assert len(env) < MAX_ENVIRONMENT_BYTES // 2, path.name
    # every runnable pair is in the scaler's config file, inside its asset
    configs = list((tmp_path / "cdk.out").glob(f"asset.*/{CONFIG_FILE}"))
    assert len(configs) == 1
    scaler = ScalerConfig.from_json(configs[0].read_text())
    assert len(scaler.pairs) == 100 and all(len(p.weights) == 6 for p in scaler.pairs)
    assert configs[0].stat().st_size > 4096  # more than any Lambda environment could hold
