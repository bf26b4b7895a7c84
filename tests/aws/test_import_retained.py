"""`hyper-tui import-retained`: after a host's stacks are deleted, its retained resources (jobs
table, log groups, ECR repositories: RetainExceptOnCreate) block a deploy that creates them
again. The command finds those of the host's real templates that exist outside their stack
(moto) and writes the `cdk import` resource-mapping file per stack."""

from __future__ import annotations

import json
from pathlib import Path

from hyper_tui.aws import schema
from hyper_tui.aws.retained import MAPPING_SUFFIX, retained_in, stacks_of
from hyper_tui.aws.session import AwsSession
from hyper_tui.cli.main import main
from tests.aws import moto_env

HOST = "acme"
CONTROL = schema.control_stack_name(HOST, moto_env.REGION)
COMPUTE = schema.compute_stack_name(HOST, moto_env.REGION)


def synth(tmp_path: Path) -> Path:
    assert main(["hosts", "create-host", "--name", HOST, "--account", moto_env.ACCOUNT,
                 "--region", moto_env.REGION, "--vpc", "10.0.0.0/16"]) == 0
    assert main(["clusters", "add-cluster", "--name", "c1", "--max-vCPUs", "64"]) == 0
    assert main(["queues", "add-queue", "--name", "q1", "--cluster", "c1"]) == 0
    assert main(["definitions", "add-definition", "--name", "d1", "--image-uri",
                 "python:3.11", "--has-agent", "true"]) == 0
    out = tmp_path / "cdk.out"
    assert main(["--host", HOST, "synth", "--out", str(out)]) == 0
    return out


def run(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["--host", HOST, "-o", "json", "import-retained", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_retained_resources_outside_their_stacks_get_a_mapping(home, tmp_path, capsys):
    assembly = synth(tmp_path)
    found = {(r.stack, r.kind, r.name): r.logical_id for s, region, path in stacks_of(assembly)
             for r in retained_in(s, region, json.loads(path.read_text()))}
    table = (CONTROL, "AWS::DynamoDB::Table", schema.jobs_table_name(HOST))
    job_logs = (CONTROL, "AWS::Logs::LogGroup", schema.log_group_name(HOST))
    repo = (COMPUTE, "AWS::ECR::Repository", f"hyper-{HOST}")
    workers = (COMPUTE, "AWS::Logs::LogGroup", f"/hyper/{HOST}/workers")
    assert set(found) == {table, job_logs, repo, workers}, found
    maps = tmp_path / "maps"
    # Nothing there yet (a first deploy): nothing to import.
    out = run(capsys, "--app", str(assembly), "--out", str(maps))
    assert out["files"] == {} and len(out["missing"]) == 4 and out["in_stack"] == []
    # The stacks were deleted and left their data; the compute stack is back, holding its
    # workers' log group but not the repository.
    s = AwsSession(moto_env.REGION)
    s.client("dynamodb").create_table(
        TableName=table[2], AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    s.client("logs").create_log_group(logGroupName=job_logs[2])
    s.client("ecr").create_repository(repositoryName=repo[2])
    s.client("cloudformation").create_stack(StackName=COMPUTE, TemplateBody=json.dumps({
        "Resources": {"Workers": {"Type": "AWS::Logs::LogGroup",
                                  "Properties": {"LogGroupName": workers[2]}}}}))
    out = run(capsys, "--app", str(assembly), "--out", str(maps))
    assert out["import"] == {CONTROL: sorted([found[table], found[job_logs]]),
                             COMPUTE: [found[repo]]}
    assert out["in_stack"] == [workers[2]] and out["missing"] == []
    control = json.loads((maps / f"{CONTROL}{MAPPING_SUFFIX}").read_text())
    assert control == {found[table]: {"TableName": table[2]},
                       found[job_logs]: {"LogGroupName": job_logs[2]}}
    compute = json.loads((maps / f"{COMPUTE}{MAPPING_SUFFIX}").read_text())
    assert compute == {found[repo]: {"RepositoryName": repo[2]}}
    assert out["commands"] == [
        f"cdk import --app {assembly} {s} --resource-mapping {maps / (s + MAPPING_SUFFIX)}"
        for s in sorted([CONTROL, COMPUTE])]
    # the text form names each one and the commands
    assert main(["--host", HOST, "import-retained", "--app", str(assembly), "--out",
                 str(maps)]) == 0
    text = capsys.readouterr().out
    assert f"{table[2]} exists outside the stack" in text and "cdk import --app" in text
    assert f"{workers[2]} is in its stack" in text


def test_a_local_host_has_nothing_to_import(home, capsys):
    assert main(["--host", "local", "import-retained"]) == 2
    assert "import-retained: host 'local' is a local host; it needs no deployment" in (
        capsys.readouterr().err)
