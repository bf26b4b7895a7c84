"""Images that run: ``hyper-tui images init DIR`` writes a build context FROM the host's worker
base image; an ``image_uri`` not declared as built from the base is refused at synth with one
line; Graviton (arm64) clusters get arm64 images.

No Docker daemon runs here: the build contexts are checked as files (the FROM line, what each
COPY takes from the context), and the image assets through the cloud assembly's manifest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hyper_tui import __version__
from hyper_tui.aws.infra import plan
from hyper_tui.cli.main import main
from hyper_tui.config import parse_config
from hyper_tui.core.errors import ValidationError

BASE = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/hyper-prod:base-{__version__}"


def aws_host(*, instance_types: str = "optimal") -> None:
    assert main(["hosts", "create-host", "--name", "prod", "--account", "123456789012",
                 "--region", "us-east-1", "--vpc", "10.0.0.0/16"]) == 0
    assert main(["clusters", "add-cluster", "--name", "c1", "--max-vCPUs", "64",
                 "--instance-types", json.dumps(instance_types.split(","))]) == 0


def copies(dockerfile: str) -> list[str]:
    """The context paths of each COPY/ADD of a Dockerfile."""
    out = []
    for line in dockerfile.splitlines():
        words = line.split()
        if words and words[0] in ("COPY", "ADD"):
            out += [w for w in words[1:-1] if not w.startswith("--")]
    return out


def test_images_init_writes_a_context_from_the_hosts_base_image(home, tmp_path, capsys):
    aws_host()
    folder = tmp_path / "tools"
    assert main(["images", "init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {folder / 'Dockerfile'}" in out
    assert f"images add-image --name tools --directory {folder}" in out
    dockerfile = (folder / "Dockerfile").read_text()
    # FROM the base, through a build argument that defaults to the host's base URI
    assert f"ARG BASE={BASE}" in dockerfile.splitlines()
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert froms == ["FROM ${BASE}"]
    assert 'CMD ["/start.sh"]' in dockerfile
    # every COPY source is in the context: docker build has what it needs
    assert copies(dockerfile) == ["start.d/"]
    for source in copies(dockerfile):
        assert (folder / source).exists()
    assert (folder / "start.d" / "10-setup.sh").is_file()
    assert "README.md" in (folder / ".dockerignore").read_text()
    readme = (folder / "README.md").read_text()
    assert f"FROM the worker base image `{BASE}`" in readme
    assert f"docker build --platform linux/amd64 -f worker/Dockerfile -t {BASE} build/worker" \
        in readme and f"docker push {BASE}" in readme
    # the base it names is the one worker/Dockerfile builds from the wheel
    worker = (Path(__file__).resolve().parents[2] / "worker" / "Dockerfile").read_text()
    assert copies(worker) == ["hyper_tui-*.whl"] and "pip wheel --no-deps -w build/worker ." \
        in readme
    # the directory is what add-image takes
    assert main(["images", "add-image", "--name", "tools", "--directory", str(folder)]) == 0
    # a second init keeps the Dockerfile unless --force
    capsys.readouterr()
    assert main(["images", "init", str(folder)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "exists" in err[0] and "--force" in " ".join(err)
    assert main(["images", "init", str(folder), "--force", "--base", "my/base:1"]) == 0
    assert "ARG BASE=my/base:1" in (folder / "Dockerfile").read_text()


def test_images_init_on_graviton_builds_the_base_for_arm64(home, tmp_path, capsys):
    aws_host(instance_types="c7g.large,m7g.xlarge")
    assert main(["images", "init", str(tmp_path / "arm")]) == 0
    readme = (tmp_path / "arm" / "README.md").read_text()
    assert f"docker build --platform linux/arm64 -f worker/Dockerfile -t {BASE}" in readme


def test_images_init_is_for_aws_hosts(home, tmp_path, capsys):
    assert main(["--host", "local", "images", "init", str(tmp_path / "x")]) != 0
    assert "aws hosts" in capsys.readouterr().err


# ---- image_uri: built from the base, or refused ----------------------------------------------

HOST = """
host: {name: prod, kind: aws, account: "123456789012", main_region: us-east-1}
regions:
  us-east-1: {main: true, vpc_cidr: 10.0.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}
clusters:
  c1: {type: ON_DEMAND, instance_types: [optimal], max_vcpus: 16, compute_envs: 1}
queues:
  q1: {cluster: c1}
definitions:
  d1: {image_uri: public.ecr.aws/docker/library/python:3.12-slim}
"""


def test_an_image_uri_without_the_agent_is_refused_in_one_line():
    cfg = parse_config(HOST, "prod.yaml")
    with pytest.raises(ValidationError) as err:
        plan.definition_image(cfg, cfg.definitions["d1"], "us-east-1")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("definitions.d1.image_uri: ")
    assert "/start.sh" in message and "has_agent: true" in err.value.fix
    declared = parse_config(HOST.replace("python:3.12-slim}", "python:3.12-slim, "
                                                              "has_agent: true}"), "prod.yaml")
    assert plan.definition_image(declared, declared.definitions["d1"], "us-east-1") == \
        "public.ecr.aws/docker/library/python:3.12-slim"


def test_synth_refuses_it_from_the_command_line(home, tmp_path, capsys):
    aws_host()
    assert main(["queues", "add-queue", "--name", "q1", "--cluster", "c1"]) == 0
    assert main(["definitions", "add-definition", "--name", "d1", "--image-uri",
                 "python:3.11"]) == 0
    capsys.readouterr()
    code = main(["synth", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code not in (0, 1) and err, err  # a documented usage/validation code
    assert err[0].count("definitions.d1.image_uri") == 1 and "/start.sh" in err[0]
    assert main(["definitions", "update-definition", "--name", "d1", "--has-agent", "true"]) == 0
    assert main(["synth", "--out", str(tmp_path / "out")]) == 0


# ---- arm64 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("instance_type", "arch"), [
    ("c7g.large", "arm64"), ("m7gd.xlarge", "arm64"), ("c6gn.16xlarge", "arm64"),
    ("r7g", "arm64"), ("t4g.micro", "arm64"), ("im4gn.large", "arm64"), ("x2gd.large", "arm64"),
    ("g5g.xlarge", "arm64"), ("a1.large", "arm64"), ("hpc7g.4xlarge", "arm64"),
    ("optimal", "x86_64"), ("c6i.large", "x86_64"), ("g4dn.xlarge", "x86_64"),
    ("m5dn.large", "x86_64"), ("p4d.24xlarge", "x86_64"), ("g5.xlarge", "x86_64")])
def test_instance_types_imply_their_architecture(instance_type, arch):
    assert plan.instance_architecture(instance_type) == arch


ARM_HOST = """
host: {name: arm, kind: aws, account: "123456789012", main_region: us-east-1}
regions:
  us-east-1: {main: true, vpc_cidr: 10.0.0.0/16, subnet_config: PUBLIC, vpc_endpoints: "OFF"}
clusters:
  grav: {type: ON_DEMAND, instance_types: [c7g.large, m7g.large], max_vcpus: 16, compute_envs: 1}
queues:
  q: {cluster: grav}
images:
  tools: {directory: IMG}
definitions:
  on-image: {image: tools}
  on-uri: {image_uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:arm", has_agent: true}
"""
X86_CLUSTER = """  x86: {type: ON_DEMAND, instance_types: [c6i.large], max_vcpus: 16, compute_envs: 1}
queues:
  x86-q: {cluster: x86}
"""


def arm_config(tmp_path: Path, text: str = ARM_HOST):
    img = tmp_path / "img"
    img.mkdir(exist_ok=True)
    (img / "Dockerfile").write_text("ARG BASE=hyper-worker:0.1.0\nFROM ${BASE}\n")
    return parse_config(text.replace("IMG", str(img)), "arm.yaml")


def test_graviton_clusters_get_arm64_images_in_the_synth_output(tmp_path):
    from hyper_tui.aws.synth import synth_app

    cfg = arm_config(tmp_path)
    assert plan.cluster_architecture(cfg.clusters["grav"]) == "arm64"
    assert plan.definition_architectures(cfg) == {"on-image": {"arm64"}, "on-uri": {"arm64"}}
    lookups = {"availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]}}
    result = synth_app(cfg, tmp_path / "out", lookups=lookups)
    control = next(p for p in result.templates if "control" in p.name)
    assets = json.loads(control.with_name(control.name.replace(".template.json", ".assets.json"))
                        .read_text())
    platforms = [a["source"]["platform"] for a in assets["dockerImages"].values()]
    assert platforms == ["linux/arm64"]
    compute = next(s for s in result.assembly.stacks if "compute" in s.stack_name)
    warnings = [str(m.entry.data) for m in compute.messages
                if "linux/arm64" in str(m.entry.data)]
    assert len(warnings) == 1 and "definitions.on-uri" in warnings[0]
    assert "on-image" not in warnings[0]  # built by hyper-tui for arm64: nothing to check


def test_an_image_both_architectures_would_run_is_refused(tmp_path):
    """Every queue runs every definition its cluster can run: with an x86 cluster beside the
    Graviton one, one image would run on both."""
    text = ARM_HOST.replace("queues:\n", X86_CLUSTER.split("queues:\n")[0] + "queues:\n", 1)
    text = text.replace("  q: {cluster: grav}\n", "  q: {cluster: grav}\n  x86-q: {cluster: x86}\n")
    cfg = arm_config(tmp_path, text)
    with pytest.raises(ValidationError, match=r"images\.tools: definitions on-image \(arm64\) and "
                                              r"on-image \(x86_64\) use it"):
        plan.image_platform(cfg, cfg.images["tools"])


def test_a_cluster_mixing_architectures_is_refused():
    cfg = parse_config(HOST.replace("[optimal]", "[c7g.large, c6i.large]"), "prod.yaml")
    with pytest.raises(ValidationError, match=re.escape(
            "clusters.c1.instance_types: mixes arm64 (c7g.large) and x86_64 (c6i.large)")):
        plan.cluster_architecture(cfg.clusters["c1"])
