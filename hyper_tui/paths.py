"""Where hyper-tui keeps things: the user's config and data directories, never the CWD.

``HYPER_HOME`` relocates everything (config under ``$HYPER_HOME/config``, data under
``$HYPER_HOME/data``); tests use it to stay isolated. A relative value is resolved once, against
the directory it was given in, and written back to the environment, so that the daemon and the
workers (started in other directories) find the same folders.

State folders and the store must be the user's own: ``check_private`` refuses (exit 6) one that
another user owns or can write, since whoever can write a host's state runs commands as you.

This module is on the ``qsub`` hot path, so it imports neither ``pathlib`` nor ``platformdirs``
(together about 35 ms on a small machine, more than the rest of a ``qsub``):

* the ``*_file``/``*_root`` functions return ``str`` and are what the hot path calls;
  the ``Path`` functions beside them wrap those for everyone else;
* on Linux and the BSDs the directories follow the XDG base-directory spec directly, which
  is exactly what platformdirs does there (a test holds the two equal); macOS and Windows
  ask platformdirs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from pathlib import Path

APP_NAME = "hyper-tui"

_XDG = sys.platform not in ("darwin", "win32", "cygwin") and "ANDROID_DATA" not in os.environ


def _xdg_dir(var: str, default: str) -> str:
    base = os.environ.get(var, "")
    if not os.path.isabs(base):  # the spec: a relative (or empty) value is ignored
        base = os.path.expanduser(default)
    return os.path.join(base, APP_NAME)


def _home() -> str:
    """``HYPER_HOME`` as an absolute path ("" when unset); a relative value is resolved once."""
    home = os.environ.get("HYPER_HOME", "")
    if home and not os.path.isabs(home):
        home = os.path.abspath(home)
        os.environ["HYPER_HOME"] = home
    return home


def config_root() -> str:
    """The config directory, as a string (hot path)."""
    home = _home()
    if home:
        return os.path.join(home, "config")
    if _XDG:
        return _xdg_dir("XDG_CONFIG_HOME", "~/.config")
    import platformdirs

    return platformdirs.user_config_dir(APP_NAME)


def data_root() -> str:
    """The data directory, as a string (hot path)."""
    home = _home()
    if home:
        return os.path.join(home, "data")
    if _XDG:
        return _xdg_dir("XDG_DATA_HOME", "~/.local/share")
    import platformdirs

    return platformdirs.user_data_dir(APP_NAME)


def host_config_file_str(host: str) -> str:
    return os.path.join(config_root(), "hosts", host, "resources.yaml")


def host_data_root(host: str) -> str:
    return os.path.join(data_root(), "hosts", host)


def store_file(host: str) -> str:
    return os.path.join(host_data_root(host), "store.db")


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def config_dir() -> Path:
    return _path(config_root())


def data_dir() -> Path:
    return _path(data_root())


def hosts_config_dir() -> Path:
    return config_dir() / "hosts"


def host_config_file(host: str) -> Path:
    return _path(host_config_file_str(host))


def host_data_dir(host: str) -> Path:
    return _path(host_data_root(host))


def store_path(host: str) -> Path:
    return _path(store_file(host))


def config_stamp(host: str) -> str:
    """Identifies the version of a host's config file (mtime and size); "" if it is missing."""
    try:
        st = os.stat(host_config_file_str(host))
    except FileNotFoundError:
        return ""
    return f"{st.st_mtime_ns}:{st.st_size}"


def ensure_private_dir(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """Create ``path`` and every missing parent with mode 0700 (``makedirs`` gives the parents
    the umask's 0755), and make ``path`` 0700: a host's state is the user's alone. Returns
    ``path`` as given."""
    target = os.fspath(path)
    check_chain(target)  # never create in (nor chmod) another user's folder
    missing = []
    p = target
    while not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        missing.append(p)
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        try:
            os.chmod(d, 0o700)
        except OSError:
            pass
    os.makedirs(target, mode=0o700, exist_ok=True)
    try:
        os.chmod(target, 0o700)
    except OSError:
        pass
    return path


def open_private_log(path: str | os.PathLike[str]) -> int:
    """A file descriptor appending to ``path``, which is made 0600 (an existing log too)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        pass
    return fd


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so a crash leaves either the old or the new file, never half.

    The text goes to a temporary file in the same directory, is fsynced, then renamed over
    the target (rename is atomic on POSIX).
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    ensure_private_dir(folder or ".")
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def unsafe_reason(path: str) -> str | None:
    """Why ``path`` (an existing file or folder) is not safe to use as this user's state, or
    None: it must be owned by the current user and not writable by group or others. A path
    that does not exist is fine (it will be created private)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"{path} cannot be checked ({err.strerror})"
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"{path} is owned by uid {st.st_uid}, not by you (uid {uid})"
    if st.st_mode & 0o022:
        return f"{path} can be written by other users (mode {st.st_mode & 0o777:o})"
    return None


def check_private(*folders: str, roots: bool = True) -> None:
    """Refuse (``UnsafeStateError``, exit 6) the first of ``folders`` (and, with ``roots``,
    ``HYPER_HOME``, the config and the data folder) that another user owns or can write."""
    home = _home()
    first = (((home,) if home else ()) + (config_root(), data_root())) if roots else ()
    for path in first + folders:
        why = unsafe_reason(path)
        if why:
            _raise_unsafe(why)


def _raise_unsafe(why: str) -> None:
    from hyper_tui.errors import UnsafeStateError

    raise UnsafeStateError(f"{why}: refusing to use it (its jobs would run as you)",
                           fix="use a folder of your own (HYPER_HOME), or chown it to "
                               "yourself and chmod go-w it")


def check_chain(target: str) -> None:
    """Refuse ``target`` if it, or any existing folder between it and the state root holding
    it (``HYPER_HOME``, the config or the data folder), is another user's or writable by
    others. Outside those roots only ``target`` itself is checked."""
    home = _home()
    roots = [r for r in ((home,) if home else ()) + (config_root(), data_root())
             if target == r or target.startswith(r + os.sep)]
    top = min(roots, key=len) if roots else target
    p = target
    while True:
        why = unsafe_reason(p)
        if why:
            _raise_unsafe(why)
        if p == top or len(p) <= len(top):
            return
        parent = os.path.dirname(p)
        if parent == p:
            return
        p = parent
