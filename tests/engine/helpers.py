"""Helpers for engine tests: run q-commands in-process, read job states from the store."""

from __future__ import annotations

import importlib

from hyper_tui.core.jobs import is_final
from hyper_tui.local import jobs
from hyper_tui.local.client import LocalHost
from tests.conftest import wait_for


def q(capsys, cmd: str, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        import io
        import sys

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    mod = importlib.import_module(f"hyper_tui.qcmd.{cmd}")
    code = mod.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def submit(capsys, *args: str) -> str:
    code, out, err = q(capsys, "qsub", *args)
    assert code == 0, err
    return out.strip()


def job(ref: str, host: str = "local") -> dict:
    h = LocalHost(host)
    try:
        return jobs.get_job(h.store, ref)
    finally:
        h.close()


def tasks(ref: str, host: str = "local") -> list[dict]:
    h = LocalHost(host)
    try:
        return jobs.find_jobs(h.store, ref)
    finally:
        h.close()


def wait_state(ref: str, states: str | tuple[str, ...], timeout: float = 30.0, host: str = "local") -> dict:
    if isinstance(states, str):
        states = (states,)
    def check():
        j = job(ref, host)
        return j if j["state"] in states else None

    return wait_for(check, timeout=timeout, what=f"job {ref} to be {'/'.join(states)}")


def wait_all_final(ref: str, timeout: float = 60.0) -> list[dict]:
    def check():
        t = tasks(ref)
        return t if all(is_final(x["state"]) for x in t) else None

    return wait_for(check, timeout=timeout, what=f"all tasks of {ref} to finish")


def log_text(capsys, ref: str, *args: str) -> str:
    code, out, err = q(capsys, "qlog", ref, *args)
    assert code == 0, err
    return out


def pid_alive(pid: int) -> bool:
    import os

    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
    return os.path.exists(f"/proc/{pid}")
