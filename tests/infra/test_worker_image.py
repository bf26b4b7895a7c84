"""worker/Dockerfile and worker/start.sh: the base of every worker image.

The image installs the project's wheel. No Docker daemon runs here: the tests build the wheel,
check that it carries what the Dockerfile takes from it, install it as the Dockerfile does and
run the image's own checks and its start.sh from the installed copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "worker" / "start.sh"
DOCKERFILE = ROOT / "worker" / "Dockerfile"
# The Dockerfile finds start.sh where the wheel installed it, with this expression.
AGENT_DIR = "import hyper_tui.agent as a, os; print(os.path.dirname(a.__file__))"
# What the image leaves out (pip install --no-deps, then boto3 only): the agent must not need it.
NOT_IN_IMAGE = ("textual", "pydantic", "yaml", "platformdirs", "aws_cdk", "constructs")

ENV = {"HYPER_HOST": "demo", "HYPER_MAIN_REGION": "us-east-1", "HYPER_JOBS_TABLE": "demo-jobs",
       "HYPER_WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/demo-fast-sim",
       "HYPER_QUEUE": "fast", "HYPER_DEFINITION": "sim", "HYPER_REGION": "eu-west-1",
       "HYPER_VCPUS": "2", "AWS_BATCH_JOB_ID": "4f6e-11aa:3"}


def run_start(tmp_path: Path, env: dict[str, str], start: Path = START) -> subprocess.CompletedProcess:
    """Run start.sh with a stand-in ``python`` that prints the arguments it got."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\necho "python $*"\n')
    fake.chmod(0o755)
    return subprocess.run(["sh", str(start)], env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=10)


def test_start_runs_the_aws_worker(tmp_path):
    out = run_start(tmp_path, ENV)
    assert out.returncode == 0, out.stderr
    argv = out.stdout.split()
    assert argv[:5] == ["python", "-m", "hyper_tui.agent", "--transport", "aws"]
    assert argv[argv.index("--worker-id") + 1] == "w-4f6e-11aa-3"
    assert argv[argv.index("--queue") + 1] == "fast"
    assert argv[argv.index("--region") + 1] == "eu-west-1"
    assert argv[argv.index("--vcpus") + 1] == "2"


def test_start_refuses_a_missing_environment(tmp_path):
    env = {k: v for k, v in ENV.items() if k not in ("HYPER_QUEUE", "HYPER_WORK_QUEUE_URL")}
    out = run_start(tmp_path, env)
    assert out.returncode == 64
    assert "HYPER_WORK_QUEUE_URL" in out.stderr and "HYPER_QUEUE" in out.stderr
    assert out.stdout == ""


def test_start_is_executable():
    assert os.access(START, os.X_OK)


def test_dockerfile_is_the_python_base_with_the_package_and_start():
    text = (ROOT / "worker" / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert "COPY hyper_tui-*.whl /tmp/wheels/" in lines
    assert any(ln.startswith("RUN pip install --no-deps /tmp/wheels/hyper_tui-*.whl") for ln in lines)
    assert f"RUN install -m 0755 \"$(python -c '{AGENT_DIR}')/start.sh\" /start.sh \\" in lines
    assert lines[-1] == 'CMD ["/start.sh"]'


# ---- the image is built from the wheel ---------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built as the Dockerfile says (``pip wheel --no-deps``) from a clean
    copy of the checkout (no stale build/ folder can slip old files in)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "cdk.out", ".*_cache"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(base / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    [whl] = (base / "dist").glob("hyper_tui-*.whl")
    return whl


def test_the_wheel_carries_what_the_image_takes_from_it(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        start_mode = z.getinfo("hyper_tui/agent/start.sh").external_attr >> 16
        assert z.read("hyper_tui/agent/start.sh") == START.read_bytes()
        assert z.read("hyper_tui/agent/Dockerfile") == DOCKERFILE.read_bytes()
    assert start_mode & 0o111
    for module in ("agent/__main__.py", "agent/loop.py", "agent/transports/aws.py", "aws/schema.py",
                   "aws/table.py", "aws/work_queues.py", "aws/session.py"):
        assert f"hyper_tui/{module}" in names


def test_the_installed_wheel_runs_the_image_checks_and_start(wheel, tmp_path):
    """The Dockerfile's steps on the installed wheel: the import check (with the TUI's and the
    CDK's packages absent, as in the image) and start.sh found beside the agent."""
    target = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                          str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    block = "import sys; sys.modules.update(dict.fromkeys(%r)); " % (NOT_IN_IMAGE,)
    check = next(ln for ln in DOCKERFILE.read_text().splitlines() if "python -c \"import" in ln)
    imports = check.split('python -c "', 1)[1].rstrip('"')
    probe = block + imports + ("; import hyper_tui.agent.__main__, hyper_tui.agent.transports.aws, "
                               "hyper_tui.core.errors; print(hyper_tui.agent.loop.__file__)")
    ran = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith(str(target))
    found = subprocess.run([sys.executable, "-c", AGENT_DIR], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    start = Path(found.stdout.strip()) / "start.sh"
    assert start.is_relative_to(target) and start.is_file()
    got = run_start(tmp_path, ENV, start=start)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split()[:5] == ["python", "-m", "hyper_tui.agent", "--transport", "aws"]
