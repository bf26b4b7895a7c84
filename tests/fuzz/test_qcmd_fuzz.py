"""qsub arguments, script directives and array files, and job ids for qstat/qdel/qlog, run
in-process (``main(argv)``, like the console scripts) against a real local host: one line
and a documented exit code, never a traceback; a rejected submission adds no job."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from hyper_tui.local.store import Store
from hyper_tui.paths import store_path
from tests.fuzz.helpers import FUZZ, assert_clean, run_inproc


def _jobs() -> int:
    s = Store(store_path("local"), create=False)
    try:
        return s.one("SELECT count(*) FROM jobs")[0]
    finally:
        s.close()


def _submit(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    before = _jobs()
    code, out, err = run_inproc("qsub", argv, stdin=stdin)
    assert_clean(code, out, err)
    if code != 0:
        assert _jobs() == before, f"rejected qsub {argv} added jobs"
        assert not out.strip(), out
    elif "--help" not in argv:
        assert out.strip(), "qsub succeeded without printing an id"
    return code, out, err


SMALL = st.integers(-3, 40).map(str)
RANGES = st.builds(lambda a, b, step, most: f"{a}-{b}" + (f":{step}" if step else "") + (f"%{most}" if most else ""),
                   st.integers(-2, 30), st.integers(-2, 30), st.sampled_from([None, "0", "1", "3", "x"]),
                   st.sampled_from([None, "0", "2", ""])) | st.sampled_from(["5", "0", "1-", "-", "a-b", "3%1"])
JSONS = st.sampled_from(['{"N": "1"}', "{'N': 'x; rm -rf ~'}", "[1]", "null", "{", '"s"', "{}",
                         '{"N": {"deep": [1]}}', '{"": ""}'])
WORDS = (st.sampled_from(["-q", "-d", "-N", "-j", "-r", "-c", "-p", "-a", "-J", "-t", "--depend",
                          "-W", "--priority", "-l", "--timeout", "-v", "--cwd", "--hold", "-h",
                          "--host", "-o", "--", "--stdin", "-", "default", "nope", "json", "text",
                          "true", "echo hi", "afterok:1", "afterany:1[]", "afterok:x",
                          "depend=afternotok:2", "walltime=00:00:01", "walltime=x", "mem=4g",
                          "A=1", "A=1,B", "1A=x", "/nonexistent", "/tmp", "local", "elsewhere",
                          "-0", "1e3", "1:2:3:4", "00:10", "--unknown", "-Z"])
         | SMALL | RANGES | JSONS | st.text(max_size=12))


@FUZZ
@given(st.lists(WORDS, max_size=8), st.text(max_size=60))
def test_qsub_random_arguments(fuzz_home, argv, stdin):
    _submit(argv, stdin)


DIRECTIVE_FLAGS = {
    "#PBS": ["-N", "-q", "-J", "-l", "-t", "-r", "-W", "-p", "-h", "-Z"],
    "#BSUB": ["-J", "-q", "-W", "-w", "-Z"],
    "#HYPER": ["-n", "-q", "-r", "-d", "-j", "-J", "-t", "-Z"],
}
DIRECTIVE_VALUES = (st.sampled_from(["job", "default", "nope", "1-5", "1-5%2", "x-y", "walltime=00:01:00",
                                     "walltime=bad", "select=2", "depend=afterok:1", "depend=afterok:x",
                                     "10", "1:30", "a:b", "n[1-3]%2", "n[", '"quoted name"', "'a b'",
                                     "2", "-1", "101", "", '"unterminated'])
                    | st.text(max_size=10))


@st.composite
def scripts(draw) -> str:
    lines = [draw(st.sampled_from(["#!/bin/sh", "#!/usr/bin/env python3", "#!", ""]))]
    for _ in range(draw(st.integers(0, 6))):
        prefix = draw(st.sampled_from(sorted(DIRECTIVE_FLAGS)))
        flag = draw(st.sampled_from(DIRECTIVE_FLAGS[prefix]))
        sep = draw(st.sampled_from([" ", "\t", "  "]))
        lines.append(f"{prefix}{sep}{flag} {draw(DIRECTIVE_VALUES)}")
    if draw(st.booleans()):
        lines.append("echo body")
        lines.append(f"#PBS -N {draw(DIRECTIVE_VALUES)}")  # after the body: ignored
    return "\n".join(lines) + "\n"


@FUZZ
@given(scripts(), st.lists(st.sampled_from(["--hold", "-N", "flagname", "-r", "1", "-J", "1-2"]),
                           max_size=3))
def test_qsub_script_directives(fuzz_home, tmp_path_factory, text, extra):
    path = tmp_path_factory.mktemp("scripts") / "job.sh"
    path.write_text(text)
    _submit([*extra, str(path)])


ARRAY_LINES = (st.sampled_from(['{"N": "1"}', "{'N': 'two'}", '{"N": "x; touch /tmp/pwned"}', "# comment",
                                "", "   ", "[1, 2]", "null", "42", '"str"', "{", "{'N': }",
                                '{"N": 1, "M": null}', '{"": "empty key"}'])
               | st.text(max_size=30)
               | st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3).map(json.dumps))


@FUZZ
@given(st.lists(ARRAY_LINES, max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_qsub_array_files(fuzz_home, tmp_path_factory, lines, newline):
    path = tmp_path_factory.mktemp("arrays") / "array.txt"
    path.write_bytes(newline.join(lines).encode("utf-8", "surrogatepass"))
    _submit(["--hold", "-a", str(path), "-c", "echo N"])


def test_qsub_array_file_undecodable(fuzz_home, tmp_path):
    path = tmp_path / "array.bin"
    path.write_bytes(b'{"N": "\xff\xfe"}\n\x00\x01\x02\n')
    _submit(["--hold", "-a", str(path), "-c", "echo N"])
    _submit(["--hold", "-a", str(tmp_path), "-c", "echo N"])  # a directory


IDS = (st.sampled_from(["1", "2", "2[]", "2[1]", "2[3]", "2[9]", "3[1]", "999", "0", "-1", "1[",
                        "[1]", "1[2][3]", "1.host", "1.", ".1", "12345678901234567890",
                        "99999999999999999999999999[1]", "2[99999999999999999999999]", "٣", "1 2",
                        "", " ", "1\n2", "named"])
       | st.integers(-10, 10**30).map(str) | st.text(max_size=10))


@FUZZ
@given(st.sampled_from(["qstat", "qdel", "qlog"]), st.lists(IDS, min_size=1, max_size=3),
       st.lists(st.sampled_from(["-i", "-o", "json", "-t", "STDOUT", "bogus", "--tail", "2",
                                 "-q", "default", "-s", "RUN", "--limit", "0", "-"]), max_size=3))
def test_job_ids(fuzz_home, cmd, ids, extra):
    if cmd == "qdel":  # keep the jobs of the fixture: qdel only ids that do not exist
        ids = [i for i in ids if i.strip() not in ("1", "2", "2[]", "2[1]", "2[3]", "3", "3[1]", "4")]
        if not ids:
            return
        extra = [e for e in extra if e not in ("-q", "default", "-")]
    argv = [*extra, *ids]
    if cmd == "qlog":
        argv = [a for a in argv if a not in ("-f", "--follow")]
    code, out, err = run_inproc(cmd, argv, stdin="1\n")
    assert_clean(code, out, err)
