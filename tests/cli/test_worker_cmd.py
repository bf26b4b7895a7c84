"""``hyper-tui worker`` on a local host: the CLI builds the agent's transport (no host kind
imports the agent) and the agent runs the host's queued jobs in this process."""

from __future__ import annotations

from hyper_tui.cli.main import main
from hyper_tui.core.jobs import Submission
from hyper_tui.hosts.registry import client_for


def test_worker_runs_the_queued_jobs_of_a_local_host(home, capsys) -> None:
    client = client_for("local", start_daemon=False)  # no daemon: only this worker runs jobs
    try:
        [jid] = client.submit([Submission(queue="default", definition="default", name="w",
                                          command="echo from-the-worker")])
        assert main(["worker", "--queue", "default", "--idle-timeout", "0.5", "--max-jobs", "1"]) == 0
        assert "ran 1 job(s)" in capsys.readouterr().out
        assert client.get_job(jid).state == "SUCCEEDED"
        assert any("from-the-worker" in r.data for r in client.logs(jid).records)
    finally:
        client.close()


def test_worker_refuses_an_unknown_queue(home, capsys) -> None:
    assert main(["worker", "--queue", "nope", "--idle-timeout", "0.1"]) == 4
    assert "nope" in capsys.readouterr().err
