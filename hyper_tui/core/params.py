"""Literal substitutions (``qsub -p`` / ``-a``) into a job script, without code injection.

A value made only of safe characters is put in as it is, like the original. Any other value,
in a script run by a shell, is escaped for the place where its key stands, so it always
stays data and can never become code (``"; rm -rf ~"`` stays a string):

* in code (unquoted, in a word, an assignment, ``$(...)``): shell-quoted, one word;
* inside ``"..."``: ``\\ $ ` "`` backslash-escaped;
* inside ``'...'``: each ``'`` closes, is escaped and reopens the quote;
* inside a here-document: ``\\ $ `` ` escaped when it expands; a value that would put the
  delimiter on a line of its own (ending the document early, turning the rest into code)
  is refused;
* in a comment: line breaks become spaces.

Scripts for other interpreters (a non-shell shebang) get the values as they are. Every key is
replaced in one pass over the script, longest key first, so a value is never substituted
into again. Standard library only.
"""

from __future__ import annotations

import re
import shlex

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.,:/=+@%^-]*$")
_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "ash")
_WORD_END = set(" \t\n;&|()<>")


class SubstitutionError(ValueError):
    """A value cannot be put where its key stands without changing the script."""


def is_shell_script(text: str) -> bool:
    if not text.startswith("#!"):
        return True
    first = text.split("\n", 1)[0][2:].strip().split()
    if not first:
        return True
    prog = first[0].rsplit("/", 1)[-1]
    if prog == "env" and len(first) > 1:
        prog = first[1].rsplit("/", 1)[-1]
    return prog in _SHELLS


def substitute(text: str, params: dict[str, object]) -> str:
    """Replace each key of ``params`` by its value, longest keys first."""
    if not params:
        return text
    keys = sorted((str(k) for k in params if str(k)), key=len, reverse=True)
    if not keys:
        return text
    values = {str(k): str(v) for k, v in params.items()}
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    if not is_shell_script(text):
        return pattern.sub(lambda m: values[m.group(0)], text)
    contexts = _shell_contexts(text)
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(text[pos:m.start()])
        value, ctx = values[m.group(0)], contexts[m.start()]
        if _SAFE_VALUE.match(value) and not isinstance(ctx, _HereDoc):
            out.append(value)  # (in a here-document even a safe value may be its delimiter)
        else:
            out.append(_escape(value, ctx, text, m, "".join(out)))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------------------------


class _HereDoc:
    __slots__ = ("delim", "strip_tabs", "quoted")

    def __init__(self, delim: str, strip_tabs: bool, quoted: bool) -> None:
        self.delim, self.strip_tabs, self.quoted = delim, strip_tabs, quoted


def _escape(value: str, ctx: object, text: str, m: re.Match, before: str) -> str:
    key = m.group(0)
    if ctx == "N":
        return shlex.quote(value)
    if ctx == "B":  # inside `...`: quoted for the inner shell, then for the backquotes
        return re.sub(r"([\\`$])", r"\\\1", shlex.quote(value))
    if ctx == "D":
        return re.sub(r'([\\`$"])', r"\\\1", value)
    if ctx == "S":
        return value.replace("'", "'\\''")
    if ctx == "C":
        return value.replace("\r", " ").replace("\n", " ")
    assert isinstance(ctx, _HereDoc)
    escaped = value if ctx.quoted else re.sub(r"([\\`$])", r"\\\1", value)
    prefix = before[before.rfind("\n") + 1:]
    end = text.find("\n", m.end())
    suffix = text[m.end():] if end < 0 else text[m.end():end]
    lines = escaped.split("\n")
    lines[0] = prefix + lines[0]
    lines[-1] = lines[-1] + suffix
    for line in lines:
        if (line.lstrip("\t") if ctx.strip_tabs else line) == ctx.delim:
            raise SubstitutionError(f"the value of {key} would end the here-document {ctx.delim} "
                                    "early; change the value or the delimiter")
    return escaped


def _shell_contexts(text: str) -> list[object]:
    """How the shell reads each character of ``text``: "N" code, "B" code inside backquotes,
    "D" inside double quotes, "S" inside single quotes, "C" comment, or the _HereDoc whose
    body it is in. A small POSIX sh lexer: quotes, escapes, ``$(...)``, backquotes, comments
    and here-documents (enough to know where a word lands, not a parser)."""
    n = len(text)
    ctx: list[object] = ["N"] * n
    # Frames: [mode, paren depth, extra]; mode N (top or $(...)), B, D, S, C, H.
    stack: list[list] = [["N", 0, "top"]]
    pending: list[_HereDoc] = []
    line_start = True
    word_start = True
    i = 0
    while i < n:
        frame = stack[-1]
        mode = frame[0]
        c = text[i]
        if mode == "H":
            doc: _HereDoc = frame[2]
            if line_start:
                end = text.find("\n", i)
                end = n if end < 0 else end
                line = text[i:end]
                if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delim:
                    stack.pop()  # the delimiter line is code
                    if pending:
                        stack.append(["H", 0, pending.pop(0)])
                    i = end + 1
                    line_start = word_start = True
                    continue
            line_start = c == "\n"
            ctx[i] = doc
            if not doc.quoted:
                if c == "\\" and i + 1 < n:
                    ctx[i + 1] = doc
                    line_start = False
                    i += 2
                    continue
                if text.startswith("$(", i):
                    ctx[i + 1] = doc
                    stack.append(["N", 0, "cmd"])
                    i += 2
                    continue
                if c == "`":
                    stack.append(["B", 0, None])
            i += 1
            continue
        ctx[i] = mode
        if mode == "S":
            if c == "'":
                stack.pop()
            i += 1
            continue
        if mode == "C":
            if c == "\n":
                stack.pop()
                continue  # the newline is read again as code (it may start here-documents)
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            ctx[i + 1] = mode
            i += 2
            word_start = False
            continue
        if mode == "D":
            if c == '"':
                stack.pop()
            elif c == "`":
                stack.append(["B", 0, None])
            elif text.startswith("$(", i):
                ctx[i + 1] = mode
                stack.append(["N", 0, "cmd"])
                i += 2
                continue
            i += 1
            continue
        # Code: N (top level or inside $(...)) or B (inside backquotes).
        if c == "'":
            stack.append(["S", 0, None])
        elif c == '"':
            stack.append(["D", 0, None])
        elif c == "`":
            if mode == "B":
                stack.pop()
            else:
                stack.append(["B", 0, None])
        elif text.startswith("$(", i):
            ctx[i + 1] = mode
            stack.append(["N", 0, "cmd"])
            i += 2
            word_start = True
            continue
        elif c == "(":
            frame[1] += 1
        elif c == ")":
            if frame[1] > 0:
                frame[1] -= 1
            elif frame[2] == "cmd":
                stack.pop()
        elif c == "#" and word_start:
            stack.append(["C", 0, None])
        elif text.startswith("<<", i) and not text.startswith("<<<", i):
            j = i + 2
            strip = j < n and text[j] == "-"
            j += 1 if strip else 0
            while j < n and text[j] in " \t":
                j += 1
            k = j
            while k < n and text[k] not in _WORD_END:
                k += 1
            word = text[j:k]
            if word:
                delim = re.sub(r"[\"'\\]", "", word)
                pending.append(_HereDoc(delim, strip, delim != word))
            for p in range(i, k):
                ctx[p] = mode
            i = k
            word_start = False
            continue
        elif c == "\n" and pending:
            stack.append(["H", 0, pending.pop(0)])
            i += 1
            line_start = word_start = True
            continue
        word_start = c in _WORD_END
        i += 1
    return ctx
