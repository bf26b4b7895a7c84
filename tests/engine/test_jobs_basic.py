"""Real jobs on a real local host: submit, run, read logs, arrays, directives, parameters."""

import json
import os

import pytest

from tests.conftest import run_cli
from tests.engine.helpers import job, log_text, q, submit, tasks, wait_all_final, wait_state


def test_first_use_qsub_then_qlog_on_fresh_home(home):
    r = run_cli("qsub", "--", "echo", "hello")
    assert r.returncode == 0, r.stderr
    jid = r.stdout.strip()
    assert jid == "1"
    wait_state(jid, "SUCCEEDED")
    r = run_cli("qlog", jid)
    lines = r.stdout.splitlines()
    assert any(ln.startswith("STDOUT | ") and ln.endswith(" | hello") for ln in lines)
    assert lines[0].startswith("SYSTEM | ") and "submitted to queue default" in lines[0]
    assert any("exit code 0" in ln for ln in lines)


def test_script_with_shebang_args_and_env(home, capsys, tmp_path):
    script = tmp_path / "job.py"
    script.write_text("#!/usr/bin/env python3\nimport os, sys\n"
                      "print('py', sys.argv[1:], os.environ['HYPER_JOB_ID'], os.environ['PBS_JOBID'],"
                      " os.environ['HYPER_QUEUE'], os.environ['HYPER_ATTEMPT'], os.environ.get('FOO'))\n")
    jid = submit(capsys, "-v", "FOO=bar", str(script), "a1", "a2")
    wait_state(jid, "SUCCEEDED")
    out = log_text(capsys, jid, "-t", "STDOUT")
    assert f"py ['a1', 'a2'] {jid} {jid} default 1 bar" in out


def test_stderr_exit_code_and_failure_reason(home, capsys):
    jid = submit(capsys, "-c", "echo oops >&2; exit 3")
    j = wait_state(jid, "FAILED")
    assert j["exit_code"] == 3 and j["reason"] == "exit code 3" and j["attempts"] == 1
    assert "STDERR | " in log_text(capsys, jid) and "oops" in log_text(capsys, jid, "-t", "STDERR")
    # Finished: the attempts it had, no promise of retries an exit code 3 never gets.
    code, out, _ = q(capsys, "qstat", "-i", jid)
    assert "attempts      1\n" in out and "retries" not in out and "of at most" not in out
    held = submit(capsys, "--hold", "-r", "1", "--", "true")
    code, out, _ = q(capsys, "qstat", "-i", held)
    assert "attempts      0 of at most 2\n" in out


def test_array_range_step_and_indices(home, capsys):
    aid = submit(capsys, "-J", "1-10:3", "-c", "echo idx=$HYPER_ARRAY_INDEX pbs=$PBS_ARRAY_INDEX "
                 "lsf=$LSB_JOBINDEX batch=$AWS_BATCH_JOB_ARRAY_INDEX")
    assert aid.endswith("[]")
    done = wait_all_final(aid)
    assert sorted(t["idx"] for t in done) == [1, 4, 7, 10]
    assert all(t["state"] == "SUCCEEDED" for t in done)
    head = aid[:-2]
    out = log_text(capsys, f"{head}[7]", "-t", "STDOUT")
    assert "idx=7 pbs=7 lsf=7 batch=7" in out
    # the whole array as a group
    code, out, _ = q(capsys, "qstat", "-i", aid)
    assert "4 tasks" in out


def test_array_file_params_and_injection_safety(home, capsys, tmp_path):
    arr = tmp_path / "array.txt"
    arr.write_text('{"WHO": "alice"}\n{\'WHO\': "bob"}\n{"WHO": "x; touch pwned"}\n')
    aid = submit(capsys, "-a", str(arr), "-c", "echo hello WHO", "--cwd", str(tmp_path))
    done = wait_all_final(aid)
    assert [t["state"] for t in done] == ["SUCCEEDED"] * 3
    head = aid[:-2]
    assert "hello alice" in log_text(capsys, f"{head}[0]", "-t", "STDOUT")
    assert "hello bob" in log_text(capsys, f"{head}[1]", "-t", "STDOUT")
    assert "hello x; touch pwned" in log_text(capsys, f"{head}[2]", "-t", "STDOUT")
    assert not (tmp_path / "pwned").exists()


def test_params_substitution(home, capsys, tmp_path):
    s = tmp_path / "p.sh"
    s.write_text("#HYPER -n subst\necho N is NUM\n")
    jid = submit(capsys, "-p", '{"NUM": "42"}', str(s))
    j = wait_state(jid, "SUCCEEDED")
    assert j["name"] == "subst"
    assert "N is 42" in log_text(capsys, jid, "-t", "STDOUT")


def test_directives_and_flag_override(home, capsys, tmp_path):
    from hyper_tui.cli.main import main

    main(["queues", "add-queue", "--name", "other", "--cluster", "default"])
    capsys.readouterr()
    pbs = tmp_path / "pbs.sh"
    pbs.write_text("#!/bin/sh\n#PBS -N pbsjob\n#PBS -q other\n#PBS -l walltime=00:00:30\n#PBS -J 1-3\n"
                   "echo $PBS_JOBNAME\n")
    aid = submit(capsys, str(pbs))
    t = tasks(aid)
    assert len(t) == 3 and t[0]["name"] == "pbsjob" and t[0]["queue"] == "other"
    assert t[0]["timeout"] == 30
    lsf = tmp_path / "lsf.sh"
    lsf.write_text('#BSUB -J "lsfarr[1-2]%1"\n#BSUB -W 1:30\necho hi\n')
    aid2 = submit(capsys, str(lsf))
    t2 = tasks(aid2)
    assert [x["idx"] for x in t2] == [1, 2] and t2[0]["name"] == "lsfarr" and t2[0]["timeout"] == 5400
    hy = tmp_path / "hy.sh"
    hy.write_text("#HYPER -n orig\n#HYPER -q other\n#HYPER -r 5\n#HYPER -d default\necho x\n")
    jid = submit(capsys, "-j", "flagname", "-q", "default", "-r", "1", str(hy))
    j = job(jid)
    assert (j["name"], j["queue"], j["retries"]) == ("flagname", "default", 1)
    wait_all_final(aid)
    wait_all_final(aid2)


def test_stdin_batch_one_job_per_line(home, capsys, monkeypatch):
    code, out, err = q(capsys, "qsub", "--stdin", stdin="echo one\n\n# comment\necho two\necho three\n",
                       monkeypatch=monkeypatch)
    assert code == 0, err
    ids = out.split()
    assert len(ids) == 3
    for i in ids:
        wait_state(i, "SUCCEEDED")
    assert "two" in log_text(capsys, ids[1], "-t", "STDOUT")


def test_priority_orders_queued_jobs(home, capsys):
    from hyper_tui.cli.main import main

    main(["clusters", "update-cluster", "--name", "default", "--max-vcpus", "1"])
    capsys.readouterr()
    blocker = submit(capsys, "--", "sleep", "0.7")
    wait_state(blocker, "RUNNING")
    low = submit(capsys, "--priority", "0", "--", "true")
    high = submit(capsys, "--priority", "10", "--", "true")
    wait_state(low, "SUCCEEDED")
    assert job(high)["started"] <= job(low)["started"]


def test_clean_environment(home, capsys, monkeypatch):
    from hyper_tui.local.daemon_control import stop_daemon

    stop_daemon("local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-secret-123")
    jid = submit(capsys, "-c", "env")
    wait_state(jid, "SUCCEEDED")
    out = log_text(capsys, jid)
    assert "planted-secret-123" not in out
    assert "HYPER_JOB_ID=" in out


def test_missing_cwd_falls_back_and_says_so(home, capsys, tmp_path):
    d = tmp_path / "gone"
    d.mkdir()
    jid = submit(capsys, "--cwd", str(d), "--hold", "--", "pwd")
    d.rmdir()
    q(capsys, "qrls", jid)
    wait_state(jid, "SUCCEEDED")
    assert "is missing" in log_text(capsys, jid, "-t", "SYSTEM")


def test_definition_environment_and_output_off(home, capsys):
    from hyper_tui.cli.main import main

    main(["definitions", "add-definition", "--name", "quiet", "--environment", '{"MODE": "x1"}',
          "--enable-qlog", "False"])
    main(["definitions", "add-definition", "--name", "loud", "--environment", '{"MODE": "y2"}'])
    capsys.readouterr()
    a = submit(capsys, "-d", "quiet", "-c", "echo mode=$MODE")
    b = submit(capsys, "-d", "loud", "-c", "echo mode=$MODE")
    wait_state(a, "SUCCEEDED")
    wait_state(b, "SUCCEEDED")
    assert "mode=" not in log_text(capsys, a)
    assert "mode=y2" in log_text(capsys, b)


@pytest.mark.parametrize("args,code,text", [
    (["-q", "nope", "--", "true"], 4, "no queue named 'nope'"),
    (["-d", "nope", "--", "true"], 4, "no definition named 'nope'"),
    (["-J", "5-1", "--", "true"], 3, "end is before the start"),
    (["-J", "1-x", "--", "true"], 3, "is not a range"),
    (["--depend", "after:1", "--", "true"], 3, "is not a dependency"),
    (["--depend", "afterok:999", "--", "true"], 4, "no job 999"),
    (["/no/such/script.sh"], 4, "cannot read script"),
    (["-p", "{bad", "-c", "echo"], 3, "is not valid JSON"),
    (["-a", "/no/such/file", "-c", "echo"], 4, "cannot read the array file"),
    (["-r", "many", "--", "true"], 3, "not a whole number"),
    (["--timeout", "soon", "--", "true"], 3, "not a duration"),
    (["-l", "ncpus=4", "--", "true"], 3, "job definition"),
    ([], 2, "nothing to run"),
    (["--bogus"], 2, "unrecognized arguments"),
])
def test_qsub_bad_input_submits_nothing(home, capsys, args, code, text):
    submit(capsys, "--hold", "--", "true")  # job 1 exists (held)
    got, out, err = q(capsys, "qsub", *args)
    assert got == code, err
    assert text in err and len(err.strip().splitlines()) == 1
    assert err.startswith("qsub: ") and not err.startswith("qsub: qsub:")
    assert tasks("1") and job("1")["state"] == "PENDING"
    from hyper_tui.local.client import LocalHost
    from hyper_tui.local.jobs import count_jobs

    h = LocalHost("local")
    assert sum(count_jobs(h.store).values()) == 1
    h.close()


def test_bad_array_file_line_is_all_or_nothing(home, capsys, tmp_path):
    arr = tmp_path / "a.txt"
    arr.write_text('{"A": 1}\n{"A": 2}\nnot json\n')
    code, _, err = q(capsys, "qsub", "-a", str(arr), "-c", "echo A")
    assert code == 3 and f"{arr}:3" in err
    code, out, _ = q(capsys, "qstat", "-o", "json")
    assert json.loads(out)["default"]["QUEUED"] == 0


def test_qsub_json_output(home, capsys):
    code, out, _ = q(capsys, "qsub", "--output-format", "json", "--hold", "--", "true")
    assert json.loads(out) == {"ids": ["1"]}


def test_submitter_path_is_kept(home, capsys, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "mytool"
    tool.write_text("#!/bin/sh\necho mytool ran\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    jid = submit(capsys, "--", "mytool")
    wait_state(jid, "SUCCEEDED")
    assert "mytool ran" in log_text(capsys, jid)
