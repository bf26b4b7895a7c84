"""Isolation: job parameters never reach argv (``ps`` shows argv to every local user), workers
start with an isolated interpreter (a ``worker.py`` or ``hyper_tui`` folder where the daemon
runs, or on PYTHONPATH, is never imported), and job output shown on a terminal is data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from hyper_tui.local.procs import worker_command
from hyper_tui.safe_text import escape_controls
from tests.reliability.helpers import make_host, qsub, wait_all_final, wait_until


def _cmdlines_with(text: bytes) -> list[str]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if text in cmd and int(name) != os.getpid():
            out.append(cmd.replace(b"\0", b" ").decode(errors="replace"))
    return out


def test_parameters_never_appear_in_argv(home, tmp_path):
    make_host(workers=1)
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    seen = tmp_path / "seen"
    code, out, err = qsub("-r", "0", "-p", json.dumps({"TOKEN": secret}), "-c",
                          f"echo TOKEN > {seen}; sleep 3")
    assert code == 0, err
    wait_until(lambda: seen.exists() and seen.read_text().strip(), timeout=60,
               what="the job to start")
    assert seen.read_text().strip() == secret  # the job got its value
    leaks = _cmdlines_with(secret.encode())
    assert not leaks, f"a -p value is visible in ps: {leaks}"
    from tests.reliability.helpers import RelHost

    wait_all_final(RelHost("local", "", 1, 4.0), 1, timeout=60)


def test_worker_command_ignores_pythonpath_and_the_current_directory(tmp_path):
    evil = tmp_path / "evil"
    (evil / "hyper_tui").mkdir(parents=True)
    (evil / "hyper_tui" / "__init__.py").write_text("raise SystemExit('imported the impostor')\n")
    (evil / "worker.py").write_text("raise SystemExit('imported the impostor')\n")
    cmd = worker_command(store=str(tmp_path / "none.db"), queue="q", definition="d",
                         region="local", worker_id="w-x", vcpus=1, idle_timeout=1, heartbeat=1)
    probe = [cmd[0], *cmd[1:2], "-c", "import hyper_tui.agent.loop, sys; print(sys.flags.isolated)"]
    r = subprocess.run(probe, cwd=evil, env={**os.environ, "PYTHONPATH": str(evil)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    # The real command: it gets as far as the missing store, never to the impostor.
    r = subprocess.run(cmd, cwd=evil, env={**os.environ, "PYTHONPATH": str(evil)},
                       capture_output=True, text=True, timeout=60)
    assert "impostor" not in r.stderr and "no store" in r.stderr, r.stderr


def test_terminal_escapes_in_output_are_shown_not_obeyed():
    hostile = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://x\x1b\\link\x9b31m"
    shown = escape_controls(hostile)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in shown)
    assert "^[[2J" in shown and "^G" in shown and "\\x9b" in shown
    assert sys.getdefaultencoding() == "utf-8"


def test_the_daemon_never_imports_a_planted_module(home, tmp_path, monkeypatch):
    """A ``hyper_tui`` package on PYTHONPATH (or where the daemon runs) is never imported by
    the daemon: it starts with ``python -I``."""
    from hyper_tui.local.daemon_control import daemon_pid, ensure_daemon

    h = make_host(workers=1)
    from hyper_tui.local.daemon_control import stop_daemon

    stop_daemon(h.name)
    evil = tmp_path / "evil"
    (evil / "hyper_tui").mkdir(parents=True)
    marker = tmp_path / "impostor-ran"
    (evil / "hyper_tui" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    monkeypatch.setenv("PYTHONPATH", str(evil))
    ensure_daemon(h.name, wait=True, timeout=30)
    assert daemon_pid(h.name)
    code, out, err = qsub("--", "true")
    assert code == 0, err
    wait_all_final(h, 1, timeout=60)
    assert not marker.exists(), "the daemon imported a planted hyper_tui"
