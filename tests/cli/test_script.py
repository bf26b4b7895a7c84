"""hyper-tui --script FILE: the same commands, one per line, with line numbers on errors."""

import json

from hyper_tui.cli.main import main
from tests.conftest import run_cli

SCRIPT = """\
# set up a queue
hyper clusters add-cluster --name c1 --max-vCPUs 4

hyper-tui queues add-queue --name q1 --compute-environment c1   # trailing comment
definitions add-definition --name d1 --vcpus 1
queues add-queue --name q2 --compute-environment missing
queues add-queue --name q3 --compute-environment c1
"""


def test_script_stops_at_first_error_with_line(home, tmp_path, capsys):
    f = tmp_path / "setup.hyper"
    f.write_text(SCRIPT)
    code = main(["--script", str(f)])
    out, err = capsys.readouterr()
    assert code == 3
    assert err.strip() == f"{f}:6: queue q2: queues.q2.cluster: no cluster named 'missing'; add it or " \
                          "use one of: c1, default"
    main(["queues", "list-queues", "-o", "json"])
    names = [q["name"] for q in json.loads(capsys.readouterr().out)]
    assert names == ["default", "q1"]  # q3 not reached


def test_script_continue_on_error(home, tmp_path, capsys):
    f = tmp_path / "s.hyper"
    f.write_text(SCRIPT + "bogus command\n")
    code = main(["--script", str(f), "--continue-on-error"])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 3  # the first error's code
    assert lines[0].startswith(f"{f}:6: ") and lines[1].startswith(f"{f}:8: ")
    main(["queues", "list-queues", "-o", "json"])
    assert "q3" in [q["name"] for q in json.loads(capsys.readouterr().out)]


def test_script_from_stdin_with_q_commands(home):
    script = "qsub -N hello -- echo hi there\nqstat\nqstat -q nope\n"
    r = run_cli("--script", "-", input=script)
    assert r.returncode == 4
    assert r.stdout.splitlines()[0] == "1"
    assert "default" in r.stdout
    assert r.stderr.strip().startswith("<stdin>:3: qstat: -q nope: no queue named 'nope'")


def test_script_missing_file(home, capsys):
    assert main(["--script", "/nonexistent/file"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_script_bad_quotes(home, tmp_path, capsys):
    f = tmp_path / "q.hyper"
    f.write_text('clusters add-cluster --name "oops\n')
    assert main(["--script", str(f)]) == 2
    assert f"{f}:1: cannot split the line" in capsys.readouterr().err
