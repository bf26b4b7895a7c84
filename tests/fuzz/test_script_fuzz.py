"""``hyper-tui --script FILE`` with random script files: each error is one line that names the
file and line, the exit code is documented, and there is never a traceback. Commands that
would reach AWS, run a foreground process or follow a log forever are not in the vocabulary."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.helpers import FUZZ, assert_clean, run_inproc

GROUPS = {
    "hosts": ["create-host", "list-hosts", "select-host", "status-host", "stop-host", "delete-host"],
    "regions": ["add-region", "update-region", "delete-region", "list-regions", "init-main-region"],
    "clusters": ["add-cluster", "update-cluster", "delete-cluster", "list-clusters"],
    "queues": ["add-queue", "update-queue", "delete-queue", "list-queues"],
    "images": ["add-image", "update-image", "delete-image", "list-images"],
    "definitions": ["add-definition", "update-definition", "delete-definition", "list-definitions"],
}
OPTIONS = st.sampled_from(["--name", "-n", "--host", "-o", "json", "table", "--max-vcpus", "--cluster",
                           "--weights", "--vcpus", "--retries", "--environment", "--empty",
                           "--no-select", "default", "local", "other", "4", "-1", "[1]", "{",
                           '"quoted arg"', "'single'", '"unterminated', "#comment", "\\", "--help",
                           "--kind", "local", "x" * 80])
Q_LINES = st.sampled_from([
    "qsub --hold -- true", "qsub --hold -J 1-3 -c 'echo $HYPER_ARRAY_INDEX'", "qsub -q nope -- true",
    "qsub", "qsub -J 5-1 -- true", "qstat", "qstat -q default", "qstat -i 1", "qstat -i 999",
    "qstat -o json", "qdel 999", "qdel abc", "qlog 1", "qlog 999", "qlog 1 --tail 0", "qrls 1",
    "qrls 999", "qsub --hold -p '{\"A\": \"1\"}' -c 'echo A'", "qsub --hold -a /nonexistent -c x",
])


@st.composite
def lines(draw) -> str:
    kind = draw(st.sampled_from(["command", "q", "junk", "comment", "blank"]))
    if kind == "command":
        group = draw(st.sampled_from(sorted(GROUPS)))
        words = [group, draw(st.sampled_from(GROUPS[group]))]
        if draw(st.booleans()):
            words = ["hyper-tui", *words]
        words += draw(st.lists(OPTIONS, max_size=4))
        return " ".join(words)
    if kind == "q":
        return draw(Q_LINES)
    if kind == "junk":
        return draw(st.text(max_size=40).filter(lambda t: "\x00" not in t))
    if kind == "comment":
        return "# " + draw(st.text(max_size=20))
    return ""


@FUZZ
@given(st.lists(lines(), max_size=6), st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_random_scripts(fuzz_home, tmp_path_factory, script, keep_going, newline):
    path = tmp_path_factory.mktemp("scripts") / "cmds.txt"
    path.write_text(newline.join(script) + newline, encoding="utf-8", errors="surrogatepass")
    argv = ["--script", str(path)] + (["--continue-on-error"] if keep_going else [])
    code, out, err = run_inproc("hyper-tui", argv)
    assert_clean(code, out, err, lines=None if keep_going else 1)
    for line in err.strip().splitlines():
        assert line.startswith(f"{path}:") or line.startswith("hyper-tui"), line


def test_script_not_utf8_or_missing(fuzz_home, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"qstat\n\xff\xfe qsub\n")
    for argv in (["--script", str(bad)], ["--script", str(tmp_path / "missing")],
                 ["--script", str(tmp_path)], ["--script"], ["--continue-on-error"]):
        code, out, err = run_inproc("hyper-tui", argv)
        assert_clean(code, out, err)


def test_script_with_nul_bytes(fuzz_home, tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes(b"qsub --hold \x00 true\nqstat -i 1\x00\n")
    code, out, err = run_inproc("hyper-tui", ["--script", str(path), "--continue-on-error"])
    assert_clean(code, out, err, lines=None)
