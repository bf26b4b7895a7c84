"""worker/Dockerfile and worker/start.sh: the base of every worker image."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "worker" / "start.sh"

ENV = {"HYPER_HOST": "demo", "HYPER_MAIN_REGION": "us-east-1", "HYPER_JOBS_TABLE": "demo-jobs",
       "HYPER_WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/demo-fast-sim",
       "HYPER_QUEUE": "fast", "HYPER_DEFINITION": "sim", "HYPER_REGION": "eu-west-1",
       "HYPER_VCPUS": "2", "AWS_BATCH_JOB_ID": "4f6e-11aa:3"}


def run_start(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run start.sh with a stand-in ``python`` that prints the arguments it got."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\necho "python $*"\n')
    fake.chmod(0o755)
    return subprocess.run(["sh", str(START)], env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
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
    assert "COPY hyper_tui ./hyper_tui" in lines and "COPY worker ./worker" in lines
    assert any(ln.startswith("RUN pip install --no-deps .") for ln in lines)
    assert "COPY worker/start.sh /start.sh" in lines
    assert lines[-1] == 'CMD ["/start.sh"]'
