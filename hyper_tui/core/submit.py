"""The one submission builder: qsub, the TUI's submit modal and the aws submit API build their
``Submission``s here, so a job gets the same defaults whichever front end sent it.

* defaults from the definition (:class:`Defaults`): its ``retries`` (2 when it sets none) and
  its ``job_timeout_s``, for a job that gives neither;
* the name: the one given, else the front end's default (``job``; qsub names a job after its
  script or command);
* the values every front end parses alike: array ranges (:func:`parse_array`), durations,
  job names, ``-v`` variables, dependencies (:func:`parse_depend`) and the environment a job
  submitted from a machine starts with (:func:`job_env`).

Standard library only, no I/O (the caller passes ``os.environ`` and the working directory) and
cheap to import: qsub imports it on every run, so no dataclasses, typing or re here.
"""

from __future__ import annotations

from hyper_tui.core.errors import ValidationError
from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.core.lifecycle import DEPEND_KINDS

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

DEFAULT_RETRIES = 2
MAX_RETRIES = 100
DEFAULT_NAME = "job"
MAX_ARRAY = 10_000_000
DEFAULT_PATH = "/usr/bin:/bin"
MAX_TIMEOUT_S = 366 * 86400.0  # a year: past this a timeout is a typo (and overflows time types)
MAX_PRIORITY = 2**31 - 1
MAX_INDEX = 2**31 - 1  # array indices (PBS and Slurm cap them lower)
# Output files (qsub -o/-e, #PBS -o/-e, #BSUB -o/-e) travel in the job's environment under
# LSF's names, which LSF jobs see too: the worker expands them per task and writes the files.
OUTPUT_FILE_ENV = "LSB_OUTPUTFILE"
ERROR_FILE_ENV = "LSB_ERRORFILE"
JOIN_VALUES = ("oe", "eo", "n")  # PBS -j: stderr into stdout, stdout into stderr, no join


class Defaults:
    """What a definition gives a job that does not say: ``retries`` and ``timeout`` (seconds)."""

    __slots__ = ("retries", "timeout")

    def __init__(self, retries: int = DEFAULT_RETRIES, timeout: float | None = None) -> None:
        self.retries, self.timeout = retries, timeout

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Defaults) and (self.retries, self.timeout) == (
            other.retries, other.timeout)

    def __repr__(self) -> str:
        return f"Defaults(retries={self.retries}, timeout={self.timeout})"


def definition_defaults(spec: Mapping[str, Any] | None) -> Defaults:
    """The defaults of a definition's spec (its YAML fields ``retries`` and ``job_timeout_s``)."""
    spec = spec or {}
    retries = spec.get("retries")
    timeout = spec.get("job_timeout_s")
    return Defaults(DEFAULT_RETRIES if retries is None else int(retries),
                    float(timeout) if timeout else None)


def build(*, queue: str, definition: str, defaults: Defaults, name: str | None = None,
          default_name: str = DEFAULT_NAME, command: str | None = None,
          argv: list[str] | None = None, env: dict[str, str] | None = None,
          cwd: str | None = None, retries: int | None = None, timeout: float | None = None,
          priority: int = 0, hold: bool = False, depends: list[tuple[str, str]] | None = None,
          array: ArraySpec | None = None, array_params: list[dict[str, Any]] | None = None,
          commands: list[str] | None = None, stdout_path: str | None = None,
          stderr_path: str | None = None, join: str | None = None,
          user: str | None = None) -> Submission:
    """One submission; what the caller leaves None comes from ``defaults`` (retries, timeout)
    or ``default_name``. Values are parsed and checked by the caller (with the helpers below).
    ``stdout_path``/``stderr_path`` (templates, see :func:`expand_output_path`) and PBS's
    ``join`` go into the job's environment (:func:`output_env`). ``user`` is who submits it:
    the operating-system user of this process (:func:`submitting_user`) unless given."""
    if stdout_path or stderr_path or join in ("oe", "eo"):
        env = {**(env or {}), **output_env(stdout_path, stderr_path, join,
                                           name=name or default_name)}
    return Submission(
        queue=queue, definition=definition, name=name or default_name, command=command,
        argv=argv, env=env, cwd=cwd,
        retries=defaults.retries if retries is None else retries,
        timeout=defaults.timeout if timeout is None else timeout, priority=priority, hold=hold,
        depends=depends, array=array, array_params=array_params, commands=commands,
        user=user or submitting_user())


_USER: list[str] = []  # looked up once per process


def submitting_user() -> str:
    """The name of the effective user of this process (its passwd entry, else ``$USER`` or
    ``$LOGNAME``, else the uid): what a job records as its submitter."""
    if not _USER:
        import os

        name = None
        try:
            import pwd

            name = pwd.getpwuid(os.geteuid()).pw_name
        except (ImportError, KeyError, OSError):
            name = os.environ.get("USER") or os.environ.get("LOGNAME")
        if not name:
            name = str(os.geteuid()) if hasattr(os, "geteuid") else "unknown"
        _USER.append(name)
    return _USER[0]


def user_from_arn(arn: str | None) -> str | None:
    """The person or session an AWS principal ARN names: ``alice`` for
    ``arn:aws:iam::1:user/alice`` and for ``arn:aws:sts::1:assumed-role/Role/alice``, the
    role's name for a role, ``root`` for an account's root, None for nothing."""
    if not arn:
        return None
    return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or None


def job_env(variables: Mapping[str, str], *, environ: Mapping[str, str], cwd: str
            ) -> dict[str, str]:
    """The environment of a job submitted from a machine: the submitter's ``PATH``, the
    variables given, and ``PBS_O_WORKDIR`` (the working directory) unless given."""
    env = {"PATH": environ.get("PATH", DEFAULT_PATH)}
    env.update(variables)
    env.setdefault("PBS_O_WORKDIR", cwd)
    return env


def output_env(stdout_path: str | None, stderr_path: str | None, join: str | None, *,
               name: str) -> dict[str, str]:
    """The environment entries that ask the worker to write a job's output to files. PBS's
    join: ``oe`` sends stderr to the stdout file, ``eo`` stdout to the stderr file; a joined
    stream without a file goes to PBS's default name, ``NAME.oID`` (or ``NAME.eID``)."""
    if join == "oe":
        stdout_path = stdout_path or f"{name}.o%J"
        stderr_path = stdout_path
    elif join == "eo":
        stderr_path = stderr_path or f"{name}.e%J"
        stdout_path = stderr_path
    out = {}
    if stdout_path:
        out[OUTPUT_FILE_ENV] = stdout_path
    if stderr_path:
        out[ERROR_FILE_ENV] = stderr_path
    return out


def expand_output_path(template: str, *, job_id: str, index: int | None, name: str) -> str:
    """An output file's name for one job: LSF's ``%J`` (the job id; an array task's array id)
    and ``%I`` (the array index, 0 outside an array), ``%%`` for a percent sign, and PBS's
    ``$PBS_JOBID``, ``$PBS_JOBNAME``, ``$PBS_ARRAY_INDEX`` (also as ``${...}``)."""
    head = job_id.split("[", 1)[0]
    idx = "0" if index is None else str(index)
    values = {"PBS_JOBID": job_id, "PBS_JOBNAME": name, "PBS_ARRAY_INDEX": "" if index is None else idx}
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        nxt = template[i + 1:i + 2]
        if c == "%" and nxt in ("J", "I", "%"):
            out.append({"J": head, "I": idx, "%": "%"}[nxt])
            i += 2
            continue
        if c == "$":
            for var, value in values.items():
                for form in (f"${{{var}}}", f"${var}"):
                    if template.startswith(form, i):
                        out.append(value)
                        i += len(form)
                        break
                else:
                    continue
                break
            else:
                out.append(c)
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def check_priority(priority: int, flag: str = "--priority") -> int:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValidationError(f"{flag} {priority} is out of range",
                              fix=f"use {-MAX_PRIORITY} to {MAX_PRIORITY}")
    return priority


def check_text(value: str | None, what: str) -> None:
    """A NUL byte cannot reach a process (argv, environment, script): refuse it at submit."""
    if value is not None and "\0" in value:
        raise ValidationError(f"{what} contains a NUL byte", fix="remove it")


def parse_join(value: str | None, flag: str = "-j") -> str | None:
    """PBS's ``-j oe|eo|n`` (``n``: no join, the default)."""
    if value is None:
        return None
    v = value.strip().lower()
    if v not in JOIN_VALUES:
        raise ValidationError(f"{flag} {value!r} is not a join", fix="use oe, eo or n")
    return None if v == "n" else v


# --------------------------------------------------------------------------------------------
# Values every front end parses alike


def _whole(text: str) -> int | None:
    """``int(text)`` for one or more decimal digits (``\\d+``), else None."""
    return int(text) if text.isdecimal() else None


def _array_parts(text: str) -> tuple[int | None, int | None, int | None, int | None, bool]:
    """START-END[:STEP][%MAX] or N[%MAX] -> (start, end, step, max, ok)."""
    body, pct, limit = text.partition("%")
    max_running = _whole(limit) if pct else None
    if pct and max_running is None:
        return None, None, None, None, False
    if "-" not in body:
        n = _whole(body)
        return (0, None if n is None else n - 1, 1, max_running, n is not None)
    first, _, rest = body.partition("-")
    last, colon, step_text = rest.partition(":")
    start, end = _whole(first), _whole(last)
    step = _whole(step_text) if colon else 1
    return start, end, step, max_running, None not in (start, end, step)


def parse_array(text: str) -> ArraySpec:
    """``1-1000``, ``0-99:2`` (a step), ``1-500%10`` (at most 10 running), ``100`` (0-99)."""
    start, end, step, max_running, ok = _array_parts(text.strip())
    if not ok:
        raise ValidationError(f"--array {text!r} is not a range",
                              fix="write it like 1-1000, 0-99:2 or 1-500%10")
    spec = ArraySpec(start, end, step, max_running)  # type: ignore[arg-type]
    if spec.end < spec.start:
        raise ValidationError(f"--array {text!r}: the end is before the start", fix="write START-END")
    if spec.step < 1:
        raise ValidationError(f"--array {text!r}: the step must be at least 1")
    if spec.max_running is not None and spec.max_running < 1:
        raise ValidationError(f"--array {text!r}: %max-running must be at least 1")
    if spec.end > MAX_INDEX:
        raise ValidationError(f"--array {text!r}: an index is past {MAX_INDEX}",
                              fix="use smaller indices")
    count = (spec.end - spec.start) // spec.step + 1  # not len(range): no overflow
    if count > MAX_ARRAY:
        raise ValidationError(f"--array {text!r} has {count} tasks",
                              fix=f"split it; the limit is {MAX_ARRAY}")
    if spec.max_running is not None and spec.max_running > MAX_INDEX:
        spec.max_running = MAX_INDEX  # "at most more than there can be": no limit in effect
    return spec


def parse_duration(text: str, flag: str) -> float:
    """Seconds from ``SECONDS``, ``MM:SS`` or ``HH:MM:SS``."""
    t = text.strip()
    try:
        if ":" in t:
            parts = [float(x) for x in t.split(":")]
            if len(parts) > 3:
                raise ValueError
            secs = 0.0
            for part in parts:
                secs = secs * 60 + part
        else:
            secs = float(t)
    except ValueError:
        raise ValidationError(f"{flag} {text!r} is not a duration",
                              fix="give seconds or HH:MM:SS") from None
    if not secs > 0:  # also NaN
        raise ValidationError(f"{flag} {text!r} must be positive")
    if secs > MAX_TIMEOUT_S:
        raise ValidationError(f"{flag} {text!r} is longer than a year",
                              fix=f"give at most {MAX_TIMEOUT_S:.0f} seconds")
    return secs


def parse_retries(text: str, flag: str = "-r") -> int:
    """A number of retries, 0 to ``MAX_RETRIES``."""
    t = text.strip()
    try:
        retries = int(t)
    except ValueError:
        raise ValidationError(f"{flag} {text!r} is not a whole number",
                              fix="give the number of retries, e.g. 2") from None
    if not 0 <= retries <= MAX_RETRIES:
        raise ValidationError(f"{flag} {retries} is out of range", fix=f"use 0 to {MAX_RETRIES}")
    return retries


def parse_priority(text: str, flag: str = "--priority") -> int:
    """A priority: a whole number, higher runs first."""
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationError(f"{flag} {text!r} is not a whole number",
                              fix="give a priority such as 0 or 10 (higher runs first)") from None


def is_job_id(text: str) -> bool:
    """A local host's job id (digits) or an aws host's (letters, digits, ``-`` and ``_``)."""
    return bool(text) and text.isascii() and text.replace("-", "").replace("_", "").isalnum()


def parse_depend(values: Iterable[str], flag: str = "--depend") -> list[tuple[str, str]]:
    """``afterok:ID[:ID]``, ``afterany:ID``, ``afternotok:ID`` (comma-separated, PBS's
    ``depend=`` prefix allowed) -> (kind, job ref) pairs."""
    out = []
    for value in values:
        v = value.strip()
        if v.startswith("depend="):
            v = v[len("depend="):]
        for clause in v.split(","):
            kind, _, ids = clause.partition(":")
            kind = kind.strip().lower()
            if kind not in DEPEND_KINDS or not ids:
                raise ValidationError(f"{flag} {value!r} is not a dependency",
                                      fix="write afterok:ID[:ID], afterany:ID or afternotok:ID")
            for ref in ids.split(":"):
                ref = ref.strip().split(".", 1)[0]
                head, bracket, index = ref.partition("[")
                if not is_job_id(head) or (bracket and not (
                        index.endswith("]") and (index == "]" or index[:-1].isdecimal()))):
                    raise ValidationError(f"{flag}: {ref!r} is not a job id",
                                          fix="job ids look like 42, 42[3] or 42[] (an aws "
                                              "host's like 0190a1b2c3d4e5k7m9p2)")
                out.append((kind, ref))
    return out


_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_REST = _NAME_START | frozenset("0123456789")


def is_variable_name(key: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]*``: a name a POSIX shell can export."""
    return bool(key) and key[0] in _NAME_START and all(c in _NAME_REST for c in key)


def is_job_name(name: str) -> bool:
    """``[\\w.\\-+@:\\[\\]]{1,128}`` (``\\w`` is ``str.isalnum()`` or "_")."""
    return 0 < len(name) <= 128 and all(c.isalnum() or c in "_.-+@:[]" for c in name)


def parse_env(values: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``-v NAME=VALUE[,NAME=VALUE]``; a bare ``NAME`` takes its value from ``environ``."""
    env: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            if not item:
                continue
            key, eq, val = item.partition("=")
            if not is_variable_name(key):
                raise ValidationError(f"-v {item!r}: {key!r} is not a variable name",
                                      fix="write -v NAME=VALUE")
            env[key] = val if eq else environ.get(key, "")
    return env
