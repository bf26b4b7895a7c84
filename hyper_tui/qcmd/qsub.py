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
    definition_defaults,
    is_job_name,
    job_env,
    parse_array,
    parse_depend,
    parse_duration,
    parse_env,
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
                               "-t": "array", "-r": "_rerun", "-W": "depend", "-p": "priority",
                               "-h": "_hold"}.get(flag)
                        if flag == "-h":
                            out["hold"] = "1"
                            i -= 1
                            continue
                    else:
                        key = {"-J": "lsf_name", "-q": "queue", "-W": "lsf_walltime",
                               "-w": "lsf_depend"}.get(flag)
                    if key == "resource":
                        for res in val.split(","):
                            k, _, v = res.partition("=")
                            if k.strip() == "walltime":
                                put("walltime", v)
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
    name = args.name or d.get("name") or default_name
    if not is_job_name(name):
        raise ValidationError(f"qsub: job name {name!r} is not valid",
                              fix="use up to 128 letters, digits and ._-+@:")
    retries_text = args.retries if args.retries is not None else d.get("retries")
    retries = None
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
    depends = parse_depend(args.depend or ([d["depend"]] if d.get("depend") else []))
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    if args.cwd and not os.path.isdir(cwd):
        raise NotFoundError(f"qsub: --cwd {args.cwd} is not a directory", fix="create it or fix the path")
    env = job_env(parse_env(args.variables or [], os.environ), environ=os.environ, cwd=cwd)
    array = parse_array(args.array or d["array"]) if (args.array or d.get("array")) else None
    array_params = parse_array_file(args.array_file) if args.array_file else None
    if array and array_params:
        raise UsageError("qsub: give -J/--array or -a FILE, not both")
    hold = bool(args.hold or d.get("hold"))
    common = dict(queue=queue, definition=definition, defaults=defaults, env=env, cwd=cwd,
                  retries=retries, timeout=timeout, priority=args.priority, hold=hold,
                  depends=depends)
    if args.stdin:
        text = stdin_text if stdin_text is not None else sys.stdin.read()
        commands = [c for c in (ln.strip() for ln in text.splitlines()) if c and not c.startswith("#")]
        if not commands:
            raise ValidationError("qsub --stdin: no commands on stdin", fix="give one command per line")
        if array or array_params:
            raise UsageError("qsub: --stdin makes one job per line; it does not combine with arrays")
        if depends:
            raise UsageError("qsub: --stdin batches cannot have --depend",
                             fix="submit the dependent job separately")
        return [building.build(name=args.name, default_name="STDIN", commands=commands, **common)]
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
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("qsub", run, argv)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
