"""``qsub -p`` / ``-a`` substitutions cannot break out of the shell script they fill, wherever
the placeholder stands: unquoted, inside double or single quotes, inside a word, a command
substitution, an assignment, a here-document or a comment. The value always arrives as the
same text, and nothing it says is run."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from hyper_tui.core.params import substitute

HOSTILE = [
    "; touch pwned", "$(touch pwned)", "`touch pwned`", '"; touch pwned; echo "',
    "'; touch pwned; echo '", "\\", "a\\", "\\'", 'a\\"; touch pwned; echo "', "a\nb",
    "x\ntouch pwned", "\ntouch pwned\n", "EOF\ntouch pwned\ncat <<EOF", "$HOME", "*",
    "${IFS}touch${IFS}pwned", "a'b\"c", "&& touch pwned", "| touch pwned", "> pwned",
    "$((1+1))", "!", "#", "-n", "\ttab", " lead and trail ", "\u00e9t\u00e9 \u2713", "",
    "x\r\ntouch pwned", "EOF", "\tEOF\ntouch pwned\ncat <<-EOF",
]

# (script with the placeholder VALUE, what it prints for a value v)
CONTEXTS = {
    "unquoted": ("printf '[%s]\\n' VALUE", lambda v: f"[{v}]\n"),
    "double": ("printf '[%s]\\n' \"VALUE\"", lambda v: f"[{v}]\n"),
    "double-text": ("printf '%s\\n' \"<VALUE>\"", lambda v: f"<{v}>\n"),
    "single": ("printf '[%s]\\n' 'VALUE'", lambda v: f"[{v}]\n"),
    "in-a-word": ("printf '[%s]\\n' pre-VALUE.txt", lambda v: f"[pre-{v}.txt]\n"),
    "command-subst": ("printf '[%s]\\n' \"$(printf '%s' \"VALUE\")\"", lambda v: f"[{v.rstrip(chr(10))}]\n"),
    "assignment": ("X=VALUE; printf '[%s]\\n' \"$X\"", lambda v: f"[{v}]\n"),
    "heredoc": ("cat <<EOF\n[VALUE]\nEOF", lambda v: f"[{v}]\n"),
    "heredoc-quoted": ("cat <<'EOF'\n[VALUE]\nEOF", lambda v: f"[{v}]\n"),
    "heredoc-dash": ("cat <<-EOF\n\t[VALUE]\n\tEOF", None),
    "comment": ("# uses VALUE here\nprintf 'ok\\n'", lambda v: "ok\n"),
    "backquotes": ("printf '[%s]\\n' `printf '%s' VALUE`", None),
    "backquotes-in-double": ("printf '[%s]\\n' \"`printf '%s' VALUE`\"", None),
    "heredoc-cmd-subst": ("cat <<EOF\n[$(printf '%s' VALUE)]\nEOF", None),
}
SHELLS = [s for s in ("/bin/sh", "/bin/bash", "/bin/dash") if shutil.which(s)]


def _run(shell: str, text: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([shell, "-c", text], cwd=cwd, capture_output=True, timeout=30,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_values_stay_data_in_every_context(context, tmp_path):
    template, expected = CONTEXTS[context]
    for value in HOSTILE:
        script = substitute(template, {"VALUE": value})
        for shell in SHELLS:
            r = _run(shell, script, tmp_path)
            assert not (tmp_path / "pwned").exists(), (context, value, shell, script)
            if expected is not None and "\r" not in value:
                assert r.stdout.decode() == expected(value), (context, value, shell, script, r.stderr)


def test_a_value_that_would_end_a_here_document_is_refused():
    from hyper_tui.core.params import SubstitutionError

    for template, value in (("cat <<EOF\nVALUE\nEOF\n", "EOF\ntouch pwned"),
                            ("cat <<'EOF'\nVALUE\nEOF\n", "x\nEOF\ntouch pwned"),
                            ("cat <<-EOF\n\tVALUE\nEOF\n", "\tEOF\ntouch pwned"),
                            ("cat <<EOF\nVALUE\nEOF\n", "EOF")):
        with pytest.raises(SubstitutionError):
            substitute(template, {"VALUE": value})


def test_keys_are_replaced_once_longest_first():
    assert substitute("echo A AB", {"A": "AB", "AB": "x"}) == "echo AB x"


def test_other_interpreters_get_values_as_they_are():
    assert substitute("#!/usr/bin/env python3\nprint('V')\n", {"V": "a'b"}) == \
        "#!/usr/bin/env python3\nprint('a'b')\n"


def test_shebang_shell_scripts_are_quoted_too(tmp_path):
    for shebang in ("#!/bin/sh", "#!/bin/bash -e", "#!/usr/bin/env bash", "#! /bin/dash"):
        script = substitute(f"{shebang}\nprintf '[%s]\\n' \"VALUE\"\n", {"VALUE": '"; touch pwned; "'})
        path = tmp_path / "s.sh"
        path.write_text(script)
        path.chmod(0o700)
        r = subprocess.run([str(path)], cwd=tmp_path, capture_output=True, timeout=30)
        assert not (tmp_path / "pwned").exists(), script
        assert r.stdout.decode() == '["; touch pwned; "]\n', (script, r.stderr)


def test_end_to_end_through_an_array_file(home, tmp_path):
    """The same through qsub -a and -p on a real local host: every task prints its value."""
    from tests.reliability.helpers import make_host, qsub, wait_all_final

    h = make_host(workers=2)
    values = [v for v in HOSTILE if "\r" not in v and v]  # (an empty unquoted value is no word)
    arr = tmp_path / "array.txt"
    arr.write_text("".join(json.dumps({"VALUE": v}) + "\n" for v in values))
    work = tmp_path / "work"
    work.mkdir()
    code, out, err = qsub("-a", str(arr), "--cwd", str(work), "-c",
                          "printf '[%s]\\n' \"VALUE\" VALUE 'VALUE' > out.$HYPER_ARRAY_INDEX")
    assert code == 0, err
    code, out2, err = qsub("-p", json.dumps({"VALUE": "$(touch pwned)\"; touch pwned; \""}),
                           "--cwd", str(work), "-c", "echo \"VALUE\" VALUE > p.out")
    assert code == 0, err
    wait_all_final(h, len(values) + 1, timeout=120)
    assert not (work / "pwned").exists()
    for i, v in enumerate(values):
        assert (work / f"out.{i}").read_text() == f"[{v}]\n[{v}]\n[{v}]\n", v
    assert h.rows("SELECT count(*) FROM jobs WHERE state != 'SUCCEEDED'")[0][0] == 0


def test_refused_substitution_is_a_clean_error(home, tmp_path):
    """qsub -p refuses at once (exit 3, one line); an -a task whose value is refused fails
    with the reason, and its worker carries on."""
    from tests.reliability.helpers import make_host, qsub, wait_all_final

    h = make_host(workers=1)
    script = "cat <<EOF\nVALUE\nEOF\n"
    code, out, err = qsub("-p", json.dumps({"VALUE": "EOF"}), "-c", script)
    assert code == 3 and len(err.strip().splitlines()) == 1 and "here-document" in err, err
    arr = tmp_path / "a.txt"
    arr.write_text(json.dumps({"VALUE": "EOF\ntouch pwned"}) + "\n" + json.dumps({"VALUE": "ok"}) + "\n")
    code, out, err = qsub("-a", str(arr), "--cwd", str(tmp_path), "-c", script)
    assert code == 0, err
    wait_all_final(h, 2, timeout=120)
    rows = h.rows("SELECT idx, state, reason FROM jobs ORDER BY idx")
    assert rows[0][1] == "FAILED" and "here-document" in rows[0][2], rows
    assert rows[1][1] == "SUCCEEDED", rows
    assert not (tmp_path / "pwned").exists()
