"""The lifecycle rules both transports, the local daemon and the aws sweep call."""

import pytest

from hyper_tui.core import lifecycle as s
from hyper_tui.core.lifecycle import Transition, outcome_to_state


def after_exit(code, *, retry_exit_codes, attempts, retries):
    return outcome_to_state("exit", exit_code=code, retry_exit_codes=retry_exit_codes,
                            attempt=attempts, retries=retries)


def test_exit_outcomes():
    assert after_exit(0, retry_exit_codes=(), attempts=1, retries=2).state == "SUCCEEDED"
    o = after_exit(3, retry_exit_codes=(), attempts=1, retries=2)
    assert (o.state, o.reason) == ("FAILED", "exit code 3")
    o = after_exit(75, retry_exit_codes=(75,), attempts=1, retries=1)
    assert o.state == "QUEUED" and o.counts_attempt and o.requeue and o.refund == 0
    assert o.reason == "requeued: exit code 75 is listed to retry (attempt 1 of 2)"
    assert after_exit(75, retry_exit_codes=(75,), attempts=2, retries=1).state == "FAILED"
    assert after_exit(-9, retry_exit_codes=(), attempts=1, retries=0).reason == "killed by signal 9"


def test_lost_worker_and_interruption():
    assert s.after_lost_worker(attempts=1, retries=1, why="w died").state == "QUEUED"
    o = s.after_lost_worker(attempts=2, retries=1, why="w died")
    assert o.state == "FAILED" and "no retries left" in o.reason
    assert o.reason == "w died; no retries left after 2 attempts"
    o = outcome_to_state("interrupted", detail="SIGTERM", attempt=5, retries=0)
    assert o.state == "QUEUED" and not o.counts_attempt and o.refund == 1
    assert o.reason == "requeued without using a retry: SIGTERM"
    assert outcome_to_state("interrupted").reason == "requeued without using a retry: worker stopped"


def test_timeout_cancel_and_error():
    assert outcome_to_state("timeout", attempt=1, retries=5) == Transition("FAILED", "timeout")
    o = outcome_to_state("cancelled")
    assert o.state is None and not o.requeue
    assert outcome_to_state("error", detail="no such file").reason == "no such file"
    assert outcome_to_state("error").reason == "the worker could not run the job"
    # an exit without a code is an error of the worker
    assert outcome_to_state("exit", detail="x").state == "FAILED"
    assert s.attempt_outcome("exit", 0) == "succeeded"
    assert s.attempt_outcome("exit", 1) == "failed"
    assert s.attempt_outcome("timeout", None) == "timeout"


@pytest.mark.parametrize("kind,states,expected", [
    ("afterok", ["SUCCEEDED", "SUCCEEDED"], "ready"),
    ("afterok", ["SUCCEEDED", "RUNNING"], "wait"),
    ("afterok", ["FAILED", "RUNNING"], "never"),
    ("afterok", ["CANCELLED"], "never"),
    ("afterany", ["FAILED", "SUCCEEDED"], "ready"),
    ("afterany", ["QUEUED"], "wait"),
    ("afternotok", ["FAILED"], "ready"),
    ("afternotok", ["SUCCEEDED"], "never"),
])
def test_dependency_state(kind, states, expected):
    assert s.dependency_state(kind, states) == expected


def test_judge_dependencies_stops_at_the_first_that_can_never_be():
    read: list[str] = []

    def verdicts():
        for ref, v in (("1", "ready"), ("2[]", "never"), ("3", "wait")):
            read.append(ref)
            yield ref, v

    assert s.judge_dependencies(verdicts()) == ("cancel", "dependency 2[] can never be satisfied")
    assert read == ["1", "2[]"]
    assert s.judge_dependencies([("1", "ready"), ("2", "ready")]) == ("release", None)
    assert s.judge_dependencies([("1", "ready"), ("2", "wait")]) == ("wait", None)
    assert s.judge_dependencies([]) == ("release", None)


def test_queued_reasons():
    base = dict(cluster="c", definition="d", max_vcpus=8, vcpus=2, cap=4, ratio=1.0)
    assert s.queued_reason(backlog=0, workers=0, starting=0, **base) == "runnable"
    assert s.queued_reason(backlog=3, workers=1, starting=0, queue_running=2, max_running=2,
                           **base) == "queue at its max running (2 of max_running 2)"
    assert s.queued_reason(backlog=3, workers=0, starting=0, **{**base, "cap": 0}) == (
        "no worker can start: cluster c has max_vcpus 8 and each worker of d needs 2 vCPUs; "
        "raise max_vcpus")
    assert s.queued_reason(backlog=3, workers=0, starting=0, **base) == (
        "no worker yet: waiting for vCPUs of cluster c (max_vcpus 8)")
    assert s.queued_reason(backlog=3, workers=1, starting=2, **base) == (
        "no worker free yet: starting 2, 1 running")
    assert s.queued_reason(backlog=9, workers=4, starting=0, **{**base, "ratio": 2.0}) == (
        "waiting for a free worker: 4 worker(s) busy (cap 4 = max_vcpus 8 / 2 vCPUs, "
        "jobs_to_workers_ratio 2)")


def test_attempts_read_as_what_ran_and_what_is_left():
    from hyper_tui.core.jobs import attempts_text

    # A failed job's "1 of 3" would promise retries an exit code 1 never gets.
    assert attempts_text("FAILED", 1, 2) == "1"
    assert attempts_text("SUCCEEDED", 2, 2) == "2"
    assert attempts_text("CANCELLED", 0, 2) == "0"
    assert attempts_text("QUEUED", 0, 2) == "0 of at most 3"
    assert attempts_text("RUNNING", 2, 2) == "2 of at most 3"
    assert attempts_text("PENDING", 0, 0) == "0 of at most 1"
