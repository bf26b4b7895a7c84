"""The one log-follow loop: ``qlog -f`` and the TUI's log view both read a job's log with it.

It asks ``client.logs(ref, offset=...)`` again and again, from the offset the last chunk gave
back, until a chunk says the job had finished when it was read (that chunk holds its last
records). ``wait(seconds)`` sleeps between reads and returns False to stop early (the TUI
passes one that pauses while following is off and stops when the screen closes).

``wait_for_jobs`` (``qsub --wait``) and ``exit_status`` (``qsub --wait``, ``qlog -f``) turn a
finished job into the exit status a batch system's blocking submit gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from hyper_tui.core.jobs import FINAL_STATES, JobDetail, LogChunk
from hyper_tui.hosts.contract import HostClient


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def follow(client: HostClient, ref: str, *, tail: int | None = None, poll_s: float = 0.5,
           max_poll_s: float | None = None, wait: Callable[[float], bool] = _sleep,
           once: bool = False) -> Iterator[LogChunk]:
    """Chunks of ``ref``'s log: first the whole log (or its last ``tail`` records), then what
    was written since, until the job has finished (or ``once``: the first chunk only). Asks
    every ``poll_s``; while nothing new comes, half as often again each time, up to
    ``max_poll_s`` (default: no backing off), and at ``poll_s`` again after new records."""
    top = poll_s if max_poll_s is None else max(poll_s, max_poll_s)
    delay = poll_s
    chunk = client.logs(ref, tail=tail)
    yield chunk
    while not once and not chunk.final and wait(delay):
        chunk = client.logs(ref, offset=chunk.offset)
        delay = poll_s if chunk.records else min(top, delay * 1.5)
        yield chunk


def exit_status(job: JobDetail) -> int:
    """The exit status of a finished job, as ``sbatch --wait`` and ``qsub -W block=true`` give
    it: 0 for SUCCEEDED, the job's own exit code for FAILED (128+N for a job killed by signal
    N), 1 for CANCELLED, a timeout or a lost worker. An array: 0 when every task succeeded,
    else 1."""
    if job.array_size:
        states = job.array_states or {}
        return 0 if states.get("SUCCEEDED", 0) == job.array_size else 1
    if job.state == "SUCCEEDED":
        return 0
    code = job.exit_code
    last = job.attempt_history[-1].outcome if job.attempt_history else None
    if last not in (None, "succeeded", "failed"):  # a timeout, a lost worker: not its code
        return 1
    if job.state == "FAILED" and code is not None and code != 0:
        return 128 - code if code < 0 else min(code, 255)
    return 1


def finished(job: JobDetail) -> bool:
    if job.array_size:
        states = job.array_states or {}
        return sum(states.get(s, 0) for s in FINAL_STATES) == job.array_size
    return job.state in FINAL_STATES


def wait_for_jobs(client: HostClient, refs: list[str], *, poll_s: float = 0.2,
                  max_poll_s: float = 2.0, wait: Callable[[float], bool] = _sleep) -> int:
    """Block until every job (every task of each array) of ``refs`` has ended; the highest
    :func:`exit_status` among them. A job that disappears meanwhile raises NotFoundError."""
    status = 0
    delay = poll_s
    for ref in refs:
        while True:
            job = client.get_job(ref)
            if finished(job):
                status = max(status, exit_status(job))
                break
            if not wait(delay):
                return 1
            delay = min(max_poll_s, delay * 1.5)
    return status
