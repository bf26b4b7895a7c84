"""qsub: submit jobs; its usage text and options are ``hyper_tui.qcmd.qsub_options``."""

from __future__ import annotations

import os
import sys

from hyper_tui import leanjson
from hyper_tui.core import submit as building
from hyper_tui.core.errors import NotFoundError, UsageError, ValidationError
from hyper_tui.core.jobs import Submission
from hyper_tui.core.submit import (
    MAX_RETRIES,
    check_priority,
    check_text,
    definition_defaults,
    is_job_name,
    job_env,
    parse_array,
    parse_depend,
    parse_duration,
    parse_env,
    parse_join,
)
from hyper_tui.qcmd.common import client_for, open_host, run_main
from hyper_tui.qcmd.qsub_options import QsubArgs, parse_args

TYPE_CHECKING = False  # not "from typing import": qsub must start fast
if TYPE_CHECKING:
    from hyper_tui.hosts.contract import HostClient

# --------------------------------------------------------------------------------------------
# Pure parsing helpers (unit tested); those every front end shares live in core.submit


def parse_lsf_minutes(text: str) -> float:
    """LSF -W [HH:]MM -> seconds."""
    parts = text.strip().split(":")
    try:
        if len(parts) == 1:
            return float(parts[0]) * 60
        if len(parts) == 2:
            return float(parts[0]) * 3600 + float(parts[1]) * 60
    except ValueError:
        pass
    raise ValidationError(f"#BSUB -W {text!r} is not a run limit", fix="write [HH:]MM")


def parse_params(text: str, flag: str = "-p") -> dict[str, object]:
    try:
        data = leanjson.loads(text)
    except ValueError:
        try:
            data = leanjson.loads(text.replace("'", '"'))
        except ValueError:
            raise ValidationError(f"{flag}: {text.strip()[:60]!r} is not valid JSON",
                                  fix='write an object like {"NAME": "value"}') from None
    if not isinstance(data, dict):
        raise ValidationError(f"{flag}: expected a JSON object of substitutions",
                              fix='write an object like {"NAME": "value"}')
    return data


def parse_array_file(path: str) -> list[dict[str, object]]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise NotFoundError(f"-a {path}: cannot read the array file ({e.strerror})",
                            fix="check the path") from None
    except UnicodeDecodeError as e:
        raise ValidationError(f"-a {path}: the array file is not UTF-8 text (byte {e.start})",
                              fix="write one JSON object per line, in UTF-8") from None
    except ValueError:  # a NUL in the name (possible from a --script line)
        raise ValidationError(f"-a {path!r} is not a file name", fix="check the path") from None
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        items.append(parse_params(line, flag=f"-a {path}:{n}"))
    if not items:
        raise ValidationError(f"-a {path}: the array file has no entries",
                              fix="write one JSON object per line")
    return items


def _directive_words(text: str) -> list[str]:
    """The words of a directive line, split as a shell would (shlex only when quoted)."""
    if not any(c in text for c in "\"'\\"):
        return text.split()
    import shlex

    try:
        return shlex.split(text, comments=False)
    except ValueError:
        return text.split()


def _lsf_job_name(text: str) -> tuple[str, str | None]:
    """LSF ``-J "name[1-100]%5"`` -> ("name", "1-100%5"); a plain name -> (name, None)."""
    head, bracket, rest = text.partition("[")
    inner, close, tail = rest.partition("]")
    if bracket and close and inner and (not tail or (tail[0] == "%" and tail[1:].isdecimal())):
        return head, inner + tail
    return text, None


def parse_directives(text: str) -> dict[str, str]:
    """Options set inside a script by #HYPER, #PBS and #BSUB lines (first wins)."""
    out: dict[str, str] = {}

    def put(key: str, value: str) -> None:
        out.setdefault(key, value.strip().strip('"').strip("'"))

    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("#"):
            if s and not out.get("_body"):
                out["_body"] = "1"
            continue
        for prefix in ("#HYPER", "#PBS", "#BSUB"):
            if s.startswith(prefix + " ") or s.startswith(prefix + "\t"):
                words = _directive_words(s[len(prefix):])
                i = 0
                while i < len(words):
                    flag = words[i]
                    val = words[i + 1] if i + 1 < len(words) else ""
                    i += 2
                    if prefix == "#HYPER":
                        key = {"-n": "name", "-q": "queue", "-r": "retries", "-d": "definition",
                               "-j": "name", "-J": "array", "-t": "timeout"}.get(flag)
                    elif prefix == "#PBS":
                        key = {"-N": "name", "-q": "queue", "-J": "array", "-l": "resource",
                               "-t": "array", "-r": "rerun", "-W": "depend", "-p": "priority",
                               "-h": "_hold", "-o": "stdout", "-e": "stderr",
                               "-j": "join"}.get(flag)
                        if flag == "-h":
                            out["hold"] = "1"
                            i -= 1
                            continue
                    else:
                        key = {"-J": "lsf_name", "-q": "queue", "-W": "lsf_walltime",
                               "-w": "lsf_depend", "-o": "stdout", "-e": "stderr",
                               "-K": "_wait"}.get(flag)
                        if flag == "-K":
                            out["wait"] = "1"
                            i -= 1
                            continue
                    if key == "resource":
                        for res in val.split(","):
                            k, _, v = res.partition("=")
                            if k.strip() == "walltime":
                                put("walltime", v)
                    elif key == "depend" and val.strip().lower() in ("block=true", "block=t"):
                        out["wait"] = "1"
                    elif key and not key.startswith("_"):
                        put(key, val)
                break
    out.pop("_body", None)
    if "lsf_name" in out:  # LSF: -J "name[1-100]%5"
        name, array = _lsf_job_name(out.pop("lsf_name"))
        if array is None:
            out.setdefault("name", name)
        else:
            if name:
                out.setdefault("name", name)
            out.setdefault("array", array)
    return out


_LSF_CONDITIONS = {"done": "afterok", "ended": "afterany", "exit": "afternotok"}


def parse_lsf_depend(text: str) -> list[str]:
    """LSF ``-w "done(12) && ended(13)"`` -> ``["afterok:12", "afterany:13"]`` (a bare id is
    ``done``). Other LSF conditions (``||``, ``started``, exit-code tests) are refused."""
    out = []
    for part in text.split("&&"):
        p = part.strip()
        cond, paren, rest = p.partition("(")
        cond = cond.strip().lower()
        if not paren and p.isdecimal():
            cond, rest = "done", p + ")"
        ref = rest[:-1].strip().strip('"') if rest.endswith(")") else ""
        if cond not in _LSF_CONDITIONS or not ref or "||" in p or "," in ref:
            raise ValidationError(f"#BSUB -w {text!r}: only done(ID), ended(ID) and exit(ID) "
                                  "joined by && are supported",
                                  fix="write e.g. #BSUB -w \"done(12) && ended(13)\"")
        out.append(f"{_LSF_CONDITIONS[cond]}:{ref}")
    return out


def _rerun_retries(text: str) -> int | None:
    """PBS ``-r n`` (not rerunnable): no retries; ``-r y``: the definition's."""
    v = text.strip().lower()
    if v in ("n", "false"):
        return 0
    if v in ("y", "true"):
        return None
    raise ValidationError(f"#PBS -r {text!r} is not y or n", fix="write #PBS -r y or #PBS -r n")


def _output_paths(args: QsubArgs, d: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """(stdout file, stderr file, join) from the flags, else the directives."""
    j = args.j.strip().lower() if args.j else None
    join = parse_join(j) if j in ("oe", "eo", "n") else None
    if j not in ("oe", "eo", "n"):
        join = parse_join(d["join"], "#PBS -j") if d.get("join") else None
    out, err = args.stdout_path or d.get("stdout"), args.stderr_path or d.get("stderr")
    if args.stdout_path in ("json", "text"):
        raise UsageError(f"qsub: -o {args.stdout_path} now names the job's output file, as in "
                         "PBS and LSF", fix=f"for qsub's own output write --output-format "
                                            f"{args.stdout_path}")
    if join == "oe" and err:
        raise UsageError(f"qsub: -j oe sends stderr to the output file; the error file {err} "
                         "would stay empty", fix="drop -e, or drop -j oe")
    if join == "eo" and out:
        raise UsageError(f"qsub: -j eo sends stdout to the error file; the output file {out} "
                         "would stay empty", fix="drop -o, or drop -j eo")
    for flag, path in (("-o", out), ("-e", err)):
        if path is not None and not path.strip():
            raise ValidationError(f"qsub: {flag} needs a file name", fix=f"write {flag} FILE")
        check_text(path, f"qsub: {flag}")
    return out, err, join


def check_output_file(template: str, cwd: str, flag: str) -> None:
    """Refuse at submit an output file the job could not write (its directory missing or not
    writable, or a directory by that name), rather than losing the output at run time. A
    directory part with an id placeholder is checked up to the last fixed directory."""
    from hyper_tui.core.submit import expand_output_path

    path = os.path.join(cwd, os.path.expanduser(template))
    fixed = path
    while any(m in os.path.dirname(fixed) for m in ("%", "$")):
        fixed = os.path.dirname(fixed)
    folder = os.path.dirname(fixed) or "/"
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValidationError(f"qsub: {flag} {template}: {folder} is not a directory",
                              fix="give a path in a directory")
    if not os.path.isdir(folder):
        raise ValidationError(f"qsub: {flag} {template}: the directory {folder} does not exist",
                              fix="create it or give another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValidationError(f"qsub: {flag} {template}: the directory {folder} is not writable",
                              fix="give a path in a directory you can write")
    sample = expand_output_path(path, job_id="1", index=None, name="job")
    if os.path.isdir(sample):
        raise ValidationError(f"qsub: {flag} {template} is a directory", fix="name a file")
    if os.path.exists(sample) and not os.access(sample, os.W_OK):
        raise ValidationError(f"qsub: {flag} {template}: the file is not writable",
                              fix="give another path, or make it writable")


# --------------------------------------------------------------------------------------------


def _pick(host: HostClient, kind: str, given: str | None, flag: str) -> str:
    if given:
        host.require(kind, given, flag)
        return given
    items = host.resources(kind)
    if "default" in items:
        return "default"
    if len(items) == 1:
        return next(iter(items))
    raise UsageError(f"qsub: no {kind[:-1]} given and host {host.name!r} has no {kind[:-1]} "
                     "named 'default'", fix=f"pass {flag} NAME (known: {', '.join(sorted(items)) or 'none'})")


def build_submissions(args: QsubArgs, host: HostClient, stdin_text: str | None = None
                      ) -> list[Submission]:
    """Turn parsed options (and the script's directives) into submissions. Validates all."""
    script_text: str | None = None
    argv: list[str] | None = None
    default_name = "job"
    sources = sum(bool(x) for x in (args.commands, args.stdin, args.script))
    if args.stdin and (args.commands or args.script):
        raise UsageError("qsub: --stdin takes the commands from stdin; give no script or -c")
    if args.commands and args.script and args.script != "--":
        raise UsageError("qsub: give a script file or -c commands, not both")
    if sources == 0:
        raise UsageError("qsub: nothing to run", fix="give a script, -- CMD ARGS, -c 'commands' or --stdin")
    if args.commands is not None:
        script_text = args.commands
        default_name = "command"
    elif args.script == "--" or (args.script and args.args and args.args[0] == "--"):
        rest = args.args[1:] if args.script != "--" else args.args
        if args.script not in ("--",):
            raise UsageError("qsub: options go before the script")
        if not rest:
            raise UsageError("qsub: nothing after --", fix="write qsub -- CMD ARGS")
        if rest[0].startswith("-"):
            pass
        argv = list(rest)
        default_name = os.path.basename(argv[0])
    elif args.script and not args.stdin:
        path = args.script
        try:
            if path == "-":
                script_text = stdin_text if stdin_text is not None else sys.stdin.read()
            else:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    script_text = fh.read()
        except IsADirectoryError:
            raise ValidationError(f"qsub: {path} is a directory", fix="give a script file") from None
        except ValueError:  # a NUL in the name (possible from a --script line)
            raise ValidationError(f"qsub: {path!r} is not a file name", fix="check the path") from None
        except OSError as e:
            raise NotFoundError(f"qsub: cannot read script {path} ({e.strerror})",
                                fix="check the path, or use -- CMD ARGS to run a command") from None
        default_name = "stdin" if path == "-" else os.path.basename(path)
        if args.args:
            argv = list(args.args)  # arguments for the script

    if args.params:
        params = parse_params(args.params)
        if script_text is None:
            raise UsageError("qsub: -p substitutes into a script; give a script or -c")
        from hyper_tui.core.params import substitute

        try:
            script_text = substitute(script_text, params)
        except ValueError as e:
            raise ValidationError(f"qsub: -p: {e}") from None

    d = parse_directives(script_text) if script_text else {}
    queue = _pick(host, "queues", args.queue or d.get("queue"), "-q")
    definition = _pick(host, "definitions", args.definition or d.get("definition"), "-d")
    defaults = definition_defaults(host.resources("definitions")[definition])
    j_name = args.j if args.j and args.j.strip().lower() not in ("oe", "eo", "n") else None
    if args.name and j_name and args.name != j_name:
        raise UsageError(f"qsub: two job names, {args.name!r} (-N) and {j_name!r} (-j)",
                         fix="give one")
    name = args.name or j_name or d.get("name") or default_name
    if not is_job_name(name):
        raise ValidationError(f"qsub: job name {name!r} is not valid",
                              fix="use up to 128 letters, digits and ._-+@:")
    retries_text = args.retries if args.retries is not None else d.get("retries")
    retries = None
    if retries_text is None and d.get("rerun"):
        retries = _rerun_retries(d["rerun"])
    if retries_text is not None:
        try:
            retries = int(str(retries_text))
        except ValueError:
            raise ValidationError(f"qsub: -r {retries_text!r} is not a whole number",
                                  fix="give the number of retries, e.g. -r 2") from None
        if not 0 <= retries <= MAX_RETRIES:
            raise ValidationError(f"qsub: -r {retries} is out of range",
                                  fix=f"use 0 to {MAX_RETRIES}")
    timeout = None
    if args.timeout:
        timeout = parse_duration(args.timeout, "--timeout")
    for res in args.resources or []:
        for item in res.split(","):
            k, _, v = item.partition("=")
            if k.strip() == "walltime":
                timeout = timeout or parse_duration(v, "-l walltime")
            elif k.strip():
                raise ValidationError(f"qsub: -l {k.strip()} is not supported here",
                                      fix="resources (vCPUs, memory, GPUs) come from the job "
                                          "definition (-d); -l takes walltime")
    if timeout is None and d.get("walltime"):
        timeout = parse_duration(d["walltime"], "#PBS -l walltime")
    if timeout is None and d.get("lsf_walltime"):
        timeout = parse_lsf_minutes(d["lsf_walltime"])
    if timeout is None and d.get("timeout"):
        timeout = parse_duration(d["timeout"], "#HYPER -t")
    depend_flags = [v for v in args.depend or []
                    if v.strip().lower() not in ("block=true", "block=t")]
    wait = bool(args.wait or len(depend_flags) < len(args.depend or []) or d.get("wait"))
    if depend_flags:
        depends = parse_depend(depend_flags)
    elif d.get("depend") and d["depend"].strip().lower() not in ("block=true", "block=t"):
        depends = parse_depend([d["depend"]], "#PBS -W")
    elif d.get("lsf_depend"):
        depends = parse_depend(parse_lsf_depend(d["lsf_depend"]), "#BSUB -w")
    else:
        depends = []
    args.wait = wait
    if args.priority is not None:
        priority = check_priority(args.priority)
    elif d.get("priority"):
        try:
            priority = check_priority(int(d["priority"]), "#PBS -p")
        except ValueError:
            raise ValidationError(f"#PBS -p {d['priority']!r} is not a whole number",
                                  fix="write a priority like #PBS -p 10") from None
    else:
        priority = 0
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    if args.cwd and not os.path.isdir(cwd):
        raise NotFoundError(f"qsub: --cwd {args.cwd} is not a directory", fix="create it or fix the path")
    env = job_env(parse_env(args.variables or [], os.environ), environ=os.environ, cwd=cwd)
    array = parse_array(args.array or d["array"]) if (args.array or d.get("array")) else None
    array_params = parse_array_file(args.array_file) if args.array_file else None
    if array and array_params:
        raise UsageError("qsub: give -J/--array or -a FILE, not both")
    hold = bool(args.hold or d.get("hold"))
    stdout_path, stderr_path, join = _output_paths(args, d)
    # Where workers are this machine's processes, an output file must be writable here now
    # (an aws job writes its files in its container).
    if (stdout_path or stderr_path) and host.capabilities.local_workers:
        for flag, path in (("-o", stdout_path), ("-e", stderr_path)):
            if path:
                check_output_file(path, cwd, flag)
    for what, text in (("the script", script_text), ("the command", " ".join(argv or []))):
        check_text(text, f"qsub: {what}")
    for k, v in env.items():
        check_text(k + v, f"qsub: -v {k}")
    common = dict(queue=queue, definition=definition, defaults=defaults, env=env, cwd=cwd,
                  retries=retries, timeout=timeout, priority=priority, hold=hold,
                  depends=depends, stdout_path=stdout_path, stderr_path=stderr_path, join=join)
    if args.stdin:
        text = stdin_text if stdin_text is not None else sys.stdin.read()
        commands = [c for c in (ln.strip() for ln in text.splitlines()) if c and not c.startswith("#")]
        check_text(text, "qsub --stdin: the commands")
        if not commands:
            raise ValidationError("qsub --stdin: no commands on stdin", fix="give one command per line")
        if array or array_params:
            raise UsageError("qsub: --stdin makes one job per line; it does not combine with arrays")
        if depends:
            raise UsageError("qsub: --stdin batches cannot have --depend",
                             fix="submit the dependent job separately")
        return [building.build(name=args.name or j_name, default_name="STDIN", commands=commands,
                               **common)]
    return [building.build(name=name, command=script_text, argv=argv, array=array,
                           array_params=array_params, **common)]


def run(argv: list[str]) -> int:
    # "qsub [opts] -- CMD ARGS": split the command off first.
    cmd_tail: list[str] | None = None
    if "--" in argv:
        i = argv.index("--")
        argv, cmd_tail = argv[:i], argv[i + 1:]
    args = parse_args(argv)
    if cmd_tail is not None:
        if args.script:
            raise UsageError("qsub: give a script or -- CMD ARGS, not both")
        args.script, args.args = "--", cmd_tail
    name, _kind = open_host(args.host)
    client = client_for(name)
    try:
        ids = client.submit(build_submissions(args, client))
    finally:
        client.close()
    if args.output == "json":
        sys.stdout.write(leanjson.dumps({"ids": ids}) + "\n")
    else:
        sys.stdout.write("\n".join(ids) + "\n")
    if not args.wait:
        return 0
    sys.stdout.flush()
    from hyper_tui.hosts.follow import wait_for_jobs

    # A client of its own: the submitting connection sometimes kept reading the store as it
    # was at submit (a stale WAL snapshot, seen on the local host), so it would wait forever.
    client = client_for(name)
    try:
        return wait_for_jobs(client, ids, poll_s=client.capabilities.log_poll_s)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    return run_main("qsub", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
