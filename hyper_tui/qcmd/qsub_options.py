"""qsub's options: one table, read by a small argv parser on every qsub and by argparse only
for ``qsub --help``.

argparse brings ``re``, ``gettext`` and ``enum`` (about 12 ms of qsub's 40 ms budget), so the
parser every qsub runs is this module's own; it follows argparse's rules for this table exactly
(tests/engine/test_qsub_args.py compares the two on generated command lines).
"""

from __future__ import annotations

from hyper_tui.core.errors import UsageError

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    import argparse

USAGE = """qsub: submit jobs. PBS, LSF and original-Cyclone habits all work.

    qsub [options] SCRIPT [ARGS]       a script file (its shebang picks the interpreter)
    qsub [options] -- CMD ARGS         a command, run directly
    qsub [options] -c "commands"       shell commands
    qsub [options] --stdin             one command per line of stdin, one job each

Directives in a script: #HYPER -n/-q/-r/-d, #PBS -N/-q/-J/-l walltime/-o/-e/-j/-p/-W/-h/-r,
#BSUB -J/-q/-W/-o/-e/-w/-K. Flags override directives. Prints the job id (an array prints
ID[]); --wait waits for the job and exits with its status (see the exit codes below).
"""

EPILOG = ("exit codes: 0 ok, 2 usage, 3 invalid value, 4 unknown queue/definition/job, "
          "6 store unavailable.\n"
          "with --wait (-K, -W block=true), as sbatch --wait: 0 when the job (every task of an "
          "array) SUCCEEDED,\nthe job's exit code when it FAILED (128+N if killed by signal N), "
          "1 when it was CANCELLED, timed out,\nlost its worker or an array task did not "
          "succeed; 4 when the job disappeared while waited for.\n"
          "output files (-o, -e, #PBS -o/-e, #BSUB -o/-e): %J is the job id (an array's id), "
          "%I the array index\n(0 outside an array); $PBS_JOBID, $PBS_JOBNAME and "
          "$PBS_ARRAY_INDEX work too. -j oe / -j eo join\nstderr into stdout (or the other "
          "way); any other -j value is the job name.")

# (option strings, dest, kind, metavar, help); kind is "value", "append", "int", "flag" or a
# tuple of choices.
OPTIONS: tuple[tuple[tuple[str, ...], str, object, str | None, str], ...] = (
    (("-q", "--queue"), "queue", "value", None, "queue (default: the host's default queue)"),
    (("-d", "--definition"), "definition", "value", None,
     "job definition (default: the host's default)"),
    (("-N", "--job-name", "--name"), "name", "value", None, "job name"),
    (("-j",), "j", "value", "NAME|oe|eo|n",
     "job name (Cyclone), or PBS's join: oe (stderr into stdout), eo, n (no join)"),
    (("-o",), "stdout_path", "value", "FILE", "write the job's stdout to FILE (also its stderr "
                                              "with -j oe); %%J job id, %%I array index"),
    (("-e",), "stderr_path", "value", "FILE", "write the job's stderr to FILE"),
    (("--wait", "-K"), "wait", "flag", None,
     "wait until the job ends and exit with its status (also -W block=true); see below"),
    (("-r", "--retries"), "retries", "value", None,
     "retries after a lost worker (default: the definition's)"),
    (("-c", "--commands"), "commands", "value", None, "shell commands to run instead of a script file"),
    (("-p", "--params"), "params", "value", None,
     'JSON object of literal substitutions, e.g. \'{"N": "10"}\''),
    (("-a", "--array-file"), "array_file", "value", "FILE",
     "array: one JSON object of substitutions per line, one job each"),
    (("-J", "--array", "-t"), "array", "value", "RANGE", "array 1-1000[:step][%%max-running]"),
    (("--depend", "-W"), "depend", "append", "afterok:ID[:ID]",
     "afterok:ID[:ID...] or afterany: / afternotok: (PBS: -W depend=...)"),
    (("--priority",), "priority", "int", None, "higher runs first (default 0)"),
    (("-l",), "resources", "append", "walltime=HH:MM:SS", "resource list; walltime sets the timeout"),
    (("--timeout",), "timeout", "value", None, "kill the job after SECONDS (or HH:MM:SS)"),
    (("-v",), "variables", "append", "K=V[,K=V]", "environment variables for the job"),
    (("--cwd",), "cwd", "value", None, "working directory (default: the current directory)"),
    (("--hold", "-h"), "hold", "flag", None, "submit held; release with qrls"),
    (("--stdin",), "stdin", "flag", None, "one command per stdin line, one job each"),
    (("--host",), "host", "value", None, "host to submit to (default: selected host)"),
    (("--output-format",), "output", ("text", "json"), None,
     "qsub's own output: text (the ids) or json (default text)"),
)
DEFAULTS = {"priority": None, "output": "text"}


class QsubArgs:
    """Parsed qsub options (the attributes argparse would give: one per dest)."""

    def __init__(self) -> None:
        for _, dest, kind, _, _ in OPTIONS:
            setattr(self, dest, False if kind == "flag" else DEFAULTS.get(dest))
        self.script: str | None = None
        self.args: list[str] = []

    def __repr__(self) -> str:
        return f"QsubArgs({self.__dict__})"


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the same options: it writes ``qsub --help``."""
    import argparse

    from hyper_tui.qcmd.common import parser

    p = parser("qsub", USAGE, add_help=False, epilog=EPILOG)
    p.add_argument("script", nargs="?", help="script file to run (or - for the script on stdin)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    for flags, dest, kind, metavar, text in OPTIONS:
        if kind == "flag":
            p.add_argument(*flags, dest=dest, action="store_true", help=text)
        elif kind == "append":
            p.add_argument(*flags, dest=dest, action="append", metavar=metavar, help=text)
        elif kind == "int":
            p.add_argument(*flags, dest=dest, type=int, default=DEFAULTS[dest], help=text)
        elif isinstance(kind, tuple):
            p.add_argument(*flags, dest=dest, choices=kind, default=DEFAULTS[dest], help=text)
        else:
            p.add_argument(*flags, dest=dest, metavar=metavar, help=text)
    p.add_argument("--help", action="help", help="show this help")
    return p


_BY_FLAG = {flag: opt for opt in OPTIONS for flag in opt[0]}


def _usage(message: str) -> UsageError:
    return UsageError(f"qsub: {message}", fix="see qsub --help")


def _is_negative_number(arg: str) -> bool:
    """argparse's ``^-\\d+$|^-\\d*\\.\\d+$`` (``$`` also matches before a final newline)."""
    body = arg[1:-1] if arg.endswith("\n") else arg[1:]
    whole, dot, frac = body.partition(".")
    if not dot:
        return whole.isdecimal()
    return (not whole or whole.isdecimal()) and frac.isdecimal()


def _split_option(arg: str) -> tuple[tuple | None, str, str | None]:
    """argparse's reading of a word that starts with "-": (option, the option string used,
    attached value or None) for a known option; (None, "", None) for a word that counts as a
    value (a negative number, a word with a space, "-" alone). Unknown options raise."""
    opt = _BY_FLAG.get(arg)
    if opt is not None:
        return opt, arg, None
    if len(arg) == 1:
        return None, "", None
    if "=" in arg:
        flag, _, value = arg.partition("=")
        if flag in _BY_FLAG:
            return _BY_FLAG[flag], flag, value
    if arg[1] != "-" and arg[:2] in _BY_FLAG:  # -qNAME
        return _BY_FLAG[arg[:2]], arg[:2], arg[2:]
    if _is_negative_number(arg) or " " in arg:
        return None, "", None
    raise _usage(f"unrecognized arguments: {arg}")


def _is_value(arg: str) -> bool:
    """Can ``arg`` be an option's value (argparse's "A" class)?"""
    if not arg.startswith("-"):
        return True
    try:
        return _split_option(arg)[0] is None
    except UsageError:
        return False


def parse_args(argv: list[str]) -> QsubArgs:
    """qsub's options (before the script), the script, and the script's arguments (all that
    follows it). Usage errors raise :class:`UsageError`; ``--help`` prints help and exits."""
    out = QsubArgs()
    unknown: list[str] = []  # reported at the end, as argparse does (a later --help wins)
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--help":
            build_parser().parse_args(["--help"])  # prints the help, exits 0
        if arg == "--":  # (run() splits "-- CMD ARGS" off first; argparse's reading otherwise)
            rest = argv[i:]
            if rest:
                out.script, out.args = rest[0], rest[1:]
            break
        try:
            opt, flag, attached = _split_option(arg) if arg.startswith("-") else (None, "", None)
        except UsageError:
            unknown.append(arg)
            continue
        if opt is None:  # the script: it and everything after it
            out.script, out.args = arg, argv[i:]
            break
        while opt is not None:
            flags, dest, kind, _, _ = opt
            name = "/".join(flags)
            if kind == "flag":
                setattr(out, dest, True)
                opt = None
                if attached is None:
                    break
                nxt = "-" + attached[:1]
                if flag[1] == "-" or not attached or nxt not in _BY_FLAG:
                    raise _usage(f"argument {name}: ignored explicit argument {attached!r}")
                opt, flag, attached = _BY_FLAG[nxt], nxt, attached[1:] or None  # -hq: -h -q
                continue
            opt = None
            if attached is None:
                if i >= len(argv) or not _is_value(argv[i]):
                    raise _usage(f"argument {name}: expected one argument")
                attached = argv[i]
                i += 1
            if kind == "append":
                if getattr(out, dest) is None:
                    setattr(out, dest, [])
                getattr(out, dest).append(attached)
            elif kind == "int":
                try:
                    setattr(out, dest, int(attached))
                except ValueError:
                    raise _usage(f"argument {name}: invalid int value: {attached!r}") from None
            elif isinstance(kind, tuple):
                if attached not in kind:
                    choices = ", ".join(repr(c) for c in kind)
                    raise _usage(f"argument {name}: invalid choice: {attached!r} "
                                 f"(choose from {choices})")
                setattr(out, dest, attached)
            else:
                setattr(out, dest, attached)
    if unknown:
        raise unrecognized(unknown)
    return out


def unrecognized(words: list[str]) -> UsageError:
    """argparse's "unrecognized arguments" error, with hyper-tui's "did you mean" hint (read
    from the argparse parser of the same table: only on this error path)."""
    from hyper_tui.cli.parsing import suggest_flag

    message = f"qsub: unrecognized arguments: {' '.join(words)}"
    return UsageError(message, fix=suggest_flag(build_parser(), words) or "see qsub --help")
