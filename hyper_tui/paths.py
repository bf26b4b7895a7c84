"""Where hyper-tui keeps things: the user's config and data directories, never the CWD.

``HYPER_HOME`` relocates everything (config under ``$HYPER_HOME/config``, data under
``$HYPER_HOME/data``); tests use it to stay isolated. This module is on the ``qsub`` hot path:
standard library only, plus platformdirs when ``HYPER_HOME`` is not set.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "hyper-tui"


def config_dir() -> Path:
    home = os.environ.get("HYPER_HOME")
    if home:
        return Path(home) / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    home = os.environ.get("HYPER_HOME")
    if home:
        return Path(home) / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def hosts_config_dir() -> Path:
    return config_dir() / "hosts"


def host_config_file(host: str) -> Path:
    return hosts_config_dir() / host / "resources.yaml"


def host_data_dir(host: str) -> Path:
    return data_dir() / "hosts" / host


def store_path(host: str) -> Path:
    return host_data_dir(host) / "store.db"


def config_stamp(host: str) -> str:
    """Identifies the version of a host's config file (mtime and size); "" if it is missing."""
    try:
        st = host_config_file(host).stat()
    except FileNotFoundError:
        return ""
    return f"{st.st_mtime_ns}:{st.st_size}"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode 0700 (``mkdir(parents=True)`` gives
    the parents the umask's 0755), and make ``path`` 0700: a host's state is the user's alone."""
    missing = []
    p = Path(path)
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
        try:
            os.chmod(d, 0o700)
        except OSError:
            pass
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path


def open_private_log(path: Path) -> int:
    """A file descriptor appending to ``path``, which is made 0600 (an existing log too)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        pass
    return fd


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so a crash leaves either the old or the new file, never half.

    The text goes to a temporary file in the same directory, is fsynced, then renamed over
    the target (rename is atomic on POSIX).
    """
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
