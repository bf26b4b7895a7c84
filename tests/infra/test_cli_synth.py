"""`hyper-tui synth` from the command line: offline, with the stored look-ups."""

import json

from hyper_tui.aws.lookups_refresh import save_lookups
from hyper_tui.cli.main import main


def test_cli_synth_writes_every_template(home, tmp_path, capsys):
    assert main(["hosts", "create-host", "--name", "prod", "--account", "123456789012",
                 "--region", "us-east-1", "--vpc", "10.0.0.0/16"]) == 0
    assert main(["clusters", "add-cluster", "--name", "c1", "--max-vCPUs", "64"]) == 0
    assert main(["queues", "add-queue", "--name", "q1", "--cluster", "c1"]) == 0
    assert main(["definitions", "add-definition", "--name", "d1", "--image-uri", "python:3.11",
                 "--has-agent", "true"]) == 0
    capsys.readouterr()
    # without look-ups, synth writes templates on placeholders and says, in one line, what
    # replaces them
    assert main(["synth", "--out", str(tmp_path / "none")]) == 0
    captured = capsys.readouterr()
    warning = captured.err.strip().splitlines()
    assert len(warning) == 1 and "availability zones" in warning[0]
    assert "hyper-tui lookups" in warning[0]
    assert any(line.endswith(".template.json") for line in captured.out.splitlines())
    save_lookups("prod", {"availability_zones": {"us-east-1": ["us-east-1a", "us-east-1b"]}})
    out = tmp_path / "cdk.out"
    assert main(["synth", "--out", str(out)]) == 0
    files = [line for line in capsys.readouterr().out.splitlines() if line.endswith(".template.json")]
    assert len(files) >= 2
    for f in files:
        template = json.loads(open(f).read())
        assert template["Resources"]
    # a local host has nothing to synthesize
    assert main(["--host", "local", "synth"]) in (2, 4)
