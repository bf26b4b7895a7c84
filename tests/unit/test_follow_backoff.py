"""The follow loop's schedule (``hosts.follow``): it asks at ``poll_s``, backs off while a log
stays quiet (up to the kind's ``log_poll_max_s``: a cloud's log reads are rate-limited per
account), and asks at ``poll_s`` again as soon as records come."""

from __future__ import annotations

from hyper_tui.aws.client import AwsHostClient
from hyper_tui.core.jobs import LogChunk, LogRecord
from hyper_tui.hosts.follow import follow
from hyper_tui.local.client import LocalHostClient


class Script:
    """A log that answers ``logs`` from a script: records (True) or nothing (False)."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.asked = 0

    def logs(self, ref: str, *, tail: int | None = None, offset: int = 0) -> LogChunk:
        has = self.answers[self.asked]
        self.asked += 1
        final = self.asked == len(self.answers)
        records = [LogRecord(float(self.asked), "STDOUT", "x")] if has else []
        return LogChunk(records=records, offset=self.asked, final=final)


def waits(answers: list[bool], **kw) -> list[float]:
    seen: list[float] = []
    chunks = list(follow(Script(answers), "1", wait=lambda s: seen.append(s) or True, **kw))
    assert len(chunks) == len(answers) and chunks[-1].final
    return [round(s, 3) for s in seen]


def test_a_quiet_log_is_asked_less_often_up_to_the_cap_and_records_reset_it() -> None:
    quiet = [True] + [False] * 6 + [True, False, True]
    # a wait before each read after the first: 6 quiet reads, records, one quiet, the last
    assert waits(quiet, poll_s=1.0, max_poll_s=5.0) == [
        1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0, 1.0, 1.5]


def test_without_a_cap_the_pace_never_changes() -> None:
    assert waits([True, False, False, False, True], poll_s=0.2) == [0.2] * 4


def test_each_kind_says_how_fast_its_logs_may_be_followed() -> None:
    local, aws = LocalHostClient.kind_capabilities(), AwsHostClient.kind_capabilities()
    assert local.log_poll_s == local.log_poll_max_s == 0.2  # streams within a second
    assert (aws.log_poll_s, aws.log_poll_max_s) == (1.0, 5.0)
