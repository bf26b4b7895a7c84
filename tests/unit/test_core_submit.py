"""core.submit: the one builder qsub, the TUI and the aws submit API share."""

from __future__ import annotations

import pytest

from hyper_tui.aws.infra.components.api import handler as api
from hyper_tui.core.errors import ValidationError
from hyper_tui.core.jobs import ArraySpec, Submission
from hyper_tui.core.submit import (
    Defaults,
    build,
    definition_defaults,
    job_env,
    parse_array,
    parse_depend,
    parse_env,
    submitting_user,
    user_from_arn,
)


def test_definition_defaults():
    assert definition_defaults({}) == Defaults(2, None)
    assert definition_defaults(None) == Defaults(2, None)
    assert definition_defaults({"retries": 0, "job_timeout_s": 60}) == Defaults(0, 60.0)
    assert definition_defaults({"retries": 4, "job_timeout_s": None}) == Defaults(4, None)


def test_build_fills_what_is_not_given_from_the_definition():
    sub = build(queue="q", definition="d", defaults=Defaults(5, 30.0), command="true")
    assert (sub.name, sub.retries, sub.timeout, sub.env, sub.depends) == ("job", 5, 30.0, {}, [])
    sub = build(queue="q", definition="d", defaults=Defaults(5, 30.0), command="true",
                name="n", retries=0, timeout=1.5, default_name="STDIN")
    assert (sub.name, sub.retries, sub.timeout) == ("n", 0, 1.5)
    assert build(queue="q", definition="d", defaults=Defaults(), default_name="STDIN",
                 commands=["a"]).name == "STDIN"


def test_the_submit_api_uses_the_same_defaults():
    cfg = api.ApiConfig(host="h", table="t", queues=frozenset({"q"}),
                        definitions={"d": {"retries": 5, "timeout": 30, "retry_exit_codes": [75]}})
    job = api.validate_job({"queue": "q", "definition": "d", "command": "true"}, "jobs[0]", cfg)
    want = build(queue="q", definition="d", defaults=Defaults(5, 30), command="true")
    assert (job.name, job.retries, job.timeout, job.env, job.cwd) == (
        want.name, want.retries, want.timeout, want.env, want.cwd)
    assert job.retry_exit_codes == [75]
    job = api.validate_job({"queue": "q", "definition": "d", "command": "true", "retries": 0,
                            "timeout": 9, "name": "x"}, "jobs[0]", cfg)
    assert (job.name, job.retries, job.timeout) == ("x", 0, 9)
    with pytest.raises(api.BadRequest, match=r"jobs\[0\]\.retries: give a whole number from 0 to 100"):
        api.validate_job({"queue": "q", "definition": "d", "command": "true", "retries": 101},
                         "jobs[0]", cfg)


def test_job_env_and_variables():
    env = job_env(parse_env(["A=1,B", "PBS_O_WORKDIR=/x"], {"B": "from-env"}),
                  environ={"PATH": "/p"}, cwd="/w")
    assert env == {"PATH": "/p", "A": "1", "B": "from-env", "PBS_O_WORKDIR": "/x"}
    assert job_env({}, environ={}, cwd="/w") == {"PATH": "/usr/bin:/bin", "PBS_O_WORKDIR": "/w"}
    with pytest.raises(ValidationError, match="is not a variable name"):
        parse_env(["1A=2"], {})


def test_arrays_and_dependencies():
    assert parse_array("1-10:3%2") == ArraySpec(1, 10, 3, 2)
    assert parse_array("5") == ArraySpec(0, 4, 1, None)
    with pytest.raises(ValidationError, match="the end is before the start"):
        parse_array("5-1")
    assert parse_depend(["depend=afterok:1:2[],afterany:0190abc"]) == [
        ("afterok", "1"), ("afterok", "2[]"), ("afterany", "0190abc")]
    with pytest.raises(ValidationError, match="is not a dependency"):
        parse_depend(["after:1"])
    with pytest.raises(ValidationError, match="is not a job id"):
        parse_depend(["afterok:1[x]"])


def test_submission_equality_is_what_the_parity_test_relies_on():
    a = build(queue="q", definition="d", defaults=Defaults(), command="x")
    assert a == Submission("q", "d", "job", command="x", user=submitting_user())
    assert a != Submission("q", "d", "job", command="x", user="someone-else")
    assert build(queue="q", definition="d", defaults=Defaults(), command="x", user="eve").user == "eve"
    assert a != build(queue="q", definition="d", defaults=Defaults(3), command="x")


def test_the_submitting_user():
    import os
    import pwd

    assert submitting_user() == pwd.getpwuid(os.geteuid()).pw_name
    assert user_from_arn("arn:aws:iam::123456789012:user/alice") == "alice"
    assert user_from_arn("arn:aws:sts::123456789012:assumed-role/Admin/bob") == "bob"
    assert user_from_arn("arn:aws:iam::123456789012:root") == "root"
    assert user_from_arn(None) is None and user_from_arn("") is None
