"""A host's state is its user's alone: every directory hyper-tui creates is 0700 and every
file 0600 (store.db and its -wal/-shm, job logs, daemon.log, workers.log, pid and lock files,
host configs, the host registry), even under the usual umask 022."""

from __future__ import annotations

import os
import stat

from tests.reliability.helpers import make_host, qsub, wait_all_final


def _modes(root) -> tuple[list[str], list[str]]:
    bad_dirs, bad_files = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if stat.S_IMODE(os.lstat(p).st_mode) != 0o700:
                bad_dirs.append(f"{oct(stat.S_IMODE(os.lstat(p).st_mode))} {p}")
        for f in filenames:
            p = os.path.join(dirpath, f)
            if stat.S_IMODE(os.lstat(p).st_mode) & 0o077:
                bad_files.append(f"{oct(stat.S_IMODE(os.lstat(p).st_mode))} {p}")
    return bad_dirs, bad_files


def test_state_directories_0700_and_files_0600(home):
    old = os.umask(0o022)
    try:
        h = make_host(workers=2)
        code, out, err = qsub("-J", "1-20", "-c", "echo out; echo err >&2")
        assert code == 0, err
        from hyper_tui.cli.main import main

        assert main(["hosts", "create-host", "--name", "cloud", "--kind", "aws", "--account",
                     "123456789012", "--region", "us-east-1", "--no-select"]) == 0
        wait_all_final(h, 20, timeout=120)
        assert (h.data_dir / "store.db-wal").exists() and (h.data_dir / "daemon.pid").exists()
        # While it runs, and after it stopped.
        for when in ("running", "stopped"):
            bad_dirs, bad_files = _modes(home)
            assert not bad_dirs and not bad_files, (when, bad_dirs, bad_files)
            from hyper_tui.local.daemon_control import stop_daemon

            stop_daemon(h.name, timeout=60)
        assert stat.S_IMODE(os.stat(home / "data" / "hosts" / "local").st_mode) == 0o700
        for name in ("store.db", "daemon.log", "workers.log", "daemon.lock"):
            assert (h.data_dir / name).exists(), name
        assert list((h.data_dir / "logs").rglob("*.log"))
    finally:
        os.umask(old)


def test_existing_loose_state_is_tightened(home):
    """State left 0755/0644 by an older version is made private when the host is used."""
    old = os.umask(0o022)
    try:
        h = make_host(workers=1)
        code, out, err = qsub("--", "true")
        assert code == 0, err
        wait_all_final(h, 1, timeout=60)
        from hyper_tui.local.daemon_control import stop_daemon

        stop_daemon(h.name, timeout=60)
        for p in (h.data_dir, h.data_dir / "logs"):
            os.chmod(p, 0o755)
        for p in (h.data_dir / "store.db", h.data_dir / "daemon.log", h.data_dir / "workers.log"):
            os.chmod(p, 0o644)
        code, out, err = qsub("--", "true")
        assert code == 0, err
        wait_all_final(h, 2, timeout=60)
        stop_daemon(h.name, timeout=60)
        bad_dirs, bad_files = _modes(h.data_dir)
        assert not bad_dirs and not bad_files, (bad_dirs, bad_files)
    finally:
        os.umask(old)
