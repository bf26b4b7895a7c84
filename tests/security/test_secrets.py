"""Credentials and API keys never show: a test plants an AWS secret key and session token in
the environment the commands and the daemon run in, an API key in a job definition's
environment (on a local and on an aws host) and a token passed to one job with ``-v``; then
it greps every job log, daemon.log, workers.log, every ``-o json`` output, the errors and
freshly made screenshots of the TUI for them. Jobs run with a clean environment: the
daemon's own secrets are not inherited."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fuzz.helpers import run_inproc
from tests.reliability.helpers import make_host, qsub, wait_all_final

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + uuid.uuid4().hex
SESSION_TOKEN = "FwoGZXIvYXdzE" + uuid.uuid4().hex
API_KEY = "sk-live-" + uuid.uuid4().hex
JOB_TOKEN = "tok-" + uuid.uuid4().hex
NUMERIC_KEY = "9" + "".join(str(int(c, 16) % 10) for c in uuid.uuid4().hex[:17])
SECRETS = (AWS_SECRET, SESSION_TOKEN, API_KEY, JOB_TOKEN, NUMERIC_KEY)
# Allowed in a job's environment: the worker's base, what qsub passed, the job's identity.
JOB_ENV = re.compile(r"^(PATH|HOME|USER|LOGNAME|LANG|LC_ALL|TZ|TMPDIR|SHELL|PWD|SHLVL|OLDPWD|_|"
                     r"PBS_O_WORKDIR|HYPER_[A-Z_]+|PBS_[A-Z_]+|LSB_[A-Z_]+|AWS_BATCH_JOB_[A-Z_]+|"
                     r"SERVICE_API_KEY|SESSION_TOKEN)$")


def _leaks(text: str) -> list[str]:
    return [s[:12] + "..." for s in SECRETS if s in text]


@pytest.fixture
def planted(home, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("HYPER_TEST_PASSWORD", AWS_SECRET)
    h = make_host(workers=2)
    env = json.dumps({"SERVICE_API_KEY": API_KEY, "MODE": "fast"})
    code, out, err = run_inproc("hyper-tui", ["definitions", "add-definition", "--name", "withkey",
                                              "--environment", env])
    assert code == 0, err
    code, out, err = run_inproc("hyper-tui", ["hosts", "create-host", "--name", "cloud", "--kind", "aws",
                                              "--account", "123456789012", "--region", "us-east-1",
                                              "--no-select"])
    assert code == 0, err
    code, out, err = run_inproc("hyper-tui", ["--host", "cloud", "definitions", "add-definition",
                                              "--name", "sim", "--image-uri", "python:3.12",
                                              "--environment", env])
    assert code == 0, err
    return h


def test_secrets_never_leak(planted, tmp_path):
    h = planted
    outputs: dict[str, str] = {}

    def keep(label: str, result: tuple[int, str, str]) -> tuple[int, str, str]:
        outputs[label] = result[1] + result[2]
        return result

    ids = {}
    for name, argv in {
        "env": ["-N", "env", "-c", "env"],
        "key": ["-N", "key", "-d", "withkey", "-c", 'test -n "$SERVICE_API_KEY" && echo key-present'],
        "token": ["-N", "token", "-v", f"SESSION_TOKEN={JOB_TOKEN}", "-c",
                  'test -n "$SESSION_TOKEN" && echo token-present'],
        "fails": ["-N", "fails", "-d", "withkey", "-r", "0", "-c", "echo no >&2; exit 3"],
        "slow": ["-N", "train", "--timeout", "1", "-c", "echo epoch 1; sleep 30"],
    }.items():
        code, out, err = keep(f"qsub {name}", qsub("--output-format", "json", *argv))
        assert code == 0, err
        ids[name] = json.loads(out)["ids"][0]
    wait_all_final(h, len(ids), timeout=120)
    logs = {str(p): p.read_text(errors="replace") for p in (h.data_dir / "logs").rglob("*.log")}
    # The jobs got what they were given, and nothing of the daemon's environment.
    env_log = next(t for t in logs.values() if "\tSTDOUT\tPATH=" in t)
    names = [line.split("\t", 2)[2].split("=", 1)[0] for line in env_log.splitlines()
             if "\tSTDOUT\t" in line and "=" in line]
    assert names and all(JOB_ENV.match(n) for n in names), [n for n in names if not JOB_ENV.match(n)]
    assert any("key-present" in t for t in logs.values())
    assert any("token-present" in t for t in logs.values())
    # -o json of every view, on both hosts, and a few errors.
    for cmd, argv in [
        ("qstat", ["-o", "json"]), ("qstat", ["-q", "default", "-o", "json"]),
        *[("qstat", ["-i", i, "-o", "json"]) for i in ids.values()],
        *[("qstat", ["-i", i]) for i in ids.values()],
        ("qdel", ["-o", "json", ids["env"]]), ("qlog", [ids["token"]]), ("qlog", [ids["key"]]),
        ("qsub", ["-d", "withkey", "-v", "BAD-NAME=1", "--", "true"]),
        ("qsub", ["-d", "withkey", "-p", "{", "-c", "x"]),
        ("hyper-tui", ["hosts", "list-hosts", "-o", "json"]),
        ("hyper-tui", ["hosts", "status-host", "-o", "json"]),
        ("hyper-tui", ["hosts", "status-host"]),
        *[("hyper-tui", [*host, group, f"list-{group}", "-o", "json"])
          for host in ([], ["--host", "cloud"])
          for group in ("regions", "clusters", "queues", "images", "definitions")],
        ("hyper-tui", ["definitions", "list-definitions"]),
        ("hyper-tui", ["definitions", "list-definitions", "--name", "withkey"]),
        ("hyper-tui", ["definitions", "list-definitions", "--name", "withkey", "-o", "json"]),
        ("hyper-tui", ["--host", "cloud", "definitions", "list-definitions", "--name", "sim", "-o", "json"]),
        ("hyper-tui", ["definitions", "update-definition", "--name", "withkey", "--vcpus", "-1"]),
        ("hyper-tui", ["definitions", "update-definition", "--name", "withkey", "-o", "json",
                       "--retries", "3"]),
    ]:
        keep(f"{cmd} {' '.join(argv)}", run_inproc(cmd, argv))
    # A config edited by hand with a wrong type next to the key: the error must not echo it.
    from hyper_tui import paths

    cfg_file = paths.host_config_file("local")
    text = cfg_file.read_text()
    for wrong in (f"[{API_KEY}]", NUMERIC_KEY):  # a list, and a number where text belongs
        cfg_file.write_text(text.replace(f"SERVICE_API_KEY: {API_KEY}", f"SERVICE_API_KEY: {wrong}"))
        assert cfg_file.read_text() != text
        keep(f"qstat (broken config {wrong[:3]})", run_inproc("qstat", []))
        keep(f"list (broken config {wrong[:3]})",
             run_inproc("hyper-tui", ["definitions", "list-definitions", "-o", "json"]))
        assert "SERVICE_API_KEY" in outputs[f"list (broken config {wrong[:3]})"]
    cfg_file.write_text(text)
    # Screenshots of the TUI made now, with the secrets planted.
    shots = tmp_path / "shots"
    shots.mkdir()
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_screenshots
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    for name, section, keys in (("definitions", "definitions", []), ("hosts", "hosts", []),
                                ("jobs", "jobs", []), ("job-details", "jobs", ["FAILED"]),
                                ("job-log", "jobs", ["LOG"])):
        asyncio.run(make_screenshots.shoot(name, section, keys, "hyper-dark", shots))
    files = {**logs,
             "daemon.log": (h.data_dir / "daemon.log").read_text(errors="replace"),
             "workers.log": (h.data_dir / "workers.log").read_text(errors="replace"),
             **{str(p): p.read_text(errors="replace") for p in shots.glob("*.svg")},
             **{str(p): p.read_text(errors="replace") for p in (ROOT / "screenshots").glob("*.svg")}}
    assert len(list(shots.glob("*.svg"))) == 5
    leaks = {k: _leaks(v) for k, v in {**files, **outputs}.items() if _leaks(v)}
    assert not leaks, "\n".join(f"{k}: {v}" for k, v in leaks.items())


def test_committed_screenshots_hold_no_credentials():
    """The SVGs in screenshots/ hold nothing that looks like an AWS key or a secret."""
    pattern = re.compile(r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|aws_secret_access_key|sk-live-|"
                         r"-----BEGIN [A-Z ]*PRIVATE KEY")
    for svg in Path(ROOT / "screenshots").glob("*.svg"):
        assert not pattern.search(svg.read_text(errors="replace")), svg
