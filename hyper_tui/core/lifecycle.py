"""What happens to a job: what an exit, a timeout, a lost worker, an interruption and a cancel
do to it, when its dependencies let it go, and the reasons a job waits. Standard library only,
no I/O: both transports, the local daemon and the aws dead-letter sweep and scaler call these
rules instead of writing them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not "from typing import": qsub must start fast

if TYPE_CHECKING:
    from collections.abc import Iterable

HELD_REASON = "held; release with qrls"
QUEUED_REASON = "waiting for a worker"
_DEP_VERBS = {"afterok": "succeed", "afterany": "end", "afternotok": "fail"}
DEPEND_KINDS = tuple(_DEP_VERBS)
_FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


# --------------------------------------------------------------------------------------------
# What an attempt's end does to a job


class Transition:
    """What one attempt's end does to its job.

    ``state``: the job's new state (QUEUED to run again, SUCCEEDED, FAILED), or None to leave
    it (a cancelled job: qdel already set CANCELLED). ``requeue``: the job goes back to QUEUED
    (its worker is cleared, it is sent to a worker again). ``counts_attempt``: the attempt used
    one of the job's retries; an interruption's does not (the transport gives the retry back).
    """

    __slots__ = ("state", "reason", "requeue", "counts_attempt")

    def __init__(self, state: str | None, reason: str | None, *, counts_attempt: bool = True
                 ) -> None:
        self.state, self.reason = state, reason
        self.requeue = state == "QUEUED"
        self.counts_attempt = counts_attempt

    @property
    def refund(self) -> int:
        """Retries to give back to the job: 1 for an attempt that does not count, else 0."""
        return 0 if self.counts_attempt else 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transition) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return (f"Transition({self.state}, {self.reason!r}, requeue={self.requeue}, "
                f"counts_attempt={self.counts_attempt})")


OUTCOMES = ("exit", "timeout", "interrupted", "cancelled", "lost", "error")


def outcome_to_state(outcome: str, *, exit_code: int | None = None, detail: str | None = None,
                     attempt: int = 1, retries: int = 0,
                     retry_exit_codes: Iterable[int] = ()) -> Transition:
    """The rule for every way an attempt ends (``attempt`` counts the one that just ended):

    * ``exit``: 0 succeeds; a code listed in ``retry_exit_codes`` requeues while retries are
      left (``attempt <= retries``); a negative code (a signal) or any other fails;
    * ``timeout``: fails with reason "timeout" (a timeout is not retried);
    * ``interrupted`` (the worker was asked to stop: spot interruption, daemon shutdown):
      requeued without using a retry, whatever is left;
    * ``lost`` (the worker vanished: no heartbeat within its lease, or its process died;
      ``detail`` says how): requeued while retries are left, else failed;
    * ``cancelled``: the job stays as qdel left it (state None);
    * ``error`` (the worker could not run the job): fails with ``detail``.
    """
    if outcome == "exit" and exit_code is not None:
        if exit_code == 0:
            return Transition("SUCCEEDED", None)
        if exit_code in tuple(retry_exit_codes) and attempt <= retries:
            return Transition("QUEUED", f"requeued: exit code {exit_code} is listed to retry "
                              f"(attempt {attempt} of {retries + 1})")
        if exit_code < 0:
            return Transition("FAILED", f"killed by signal {-exit_code}")
        return Transition("FAILED", f"exit code {exit_code}")
    if outcome == "timeout":
        return Transition("FAILED", "timeout")
    if outcome == "interrupted":
        return Transition("QUEUED", f"requeued without using a retry: {detail or 'worker stopped'}",
                          counts_attempt=False)
    if outcome == "lost":
        why = detail or "its worker was lost"
        if attempt <= retries:
            return Transition("QUEUED", f"requeued: {why} (attempt {attempt} of {retries + 1})")
        return Transition("FAILED", f"{why}; no retries left after {attempt} attempts")
    if outcome == "cancelled":
        return Transition(None, None)
    return Transition("FAILED", detail or "the worker could not run the job")


def after_lost_worker(*, attempts: int, retries: int, why: str) -> Transition:
    """A worker vanished while running attempt ``attempts``: ``outcome_to_state("lost")``."""
    return outcome_to_state("lost", detail=why, attempt=attempts, retries=retries)


def attempt_outcome(outcome: str, exit_code: int | None) -> str:
    """The word an attempt's history records: succeeded / failed for an exit, else the outcome."""
    if outcome != "exit":
        return outcome
    return "succeeded" if exit_code == 0 else "failed"


# --------------------------------------------------------------------------------------------
# Dependencies


def dependency_state(kind: str, dep_states: Iterable[str]) -> str:
    """``ready``, ``wait`` or ``never`` for a dependency of ``kind`` (afterok, afterany,
    afternotok) on jobs in ``dep_states`` (a job or every task of an array; none at all means
    the job is gone: pass ``["CANCELLED"]``)."""
    states = list(dep_states)
    if not all(s in _FINAL for s in states):
        if kind == "afterok" and any(s in ("FAILED", "CANCELLED") for s in states):
            return "never"
        return "wait"
    if kind == "afterok":
        return "ready" if all(s == "SUCCEEDED" for s in states) else "never"
    if kind == "afternotok":
        return "ready" if any(s != "SUCCEEDED" for s in states) else "never"
    return "ready"


def judge_dependencies(verdicts: Iterable[tuple[str, str]]) -> tuple[str, str | None]:
    """What a PENDING job's dependencies, as ``(job ref, verdict)`` pairs, do to it:
    ``("cancel", reason)`` at the first that can never be satisfied (the iterable is read no
    further, so verdicts can be computed lazily), ``("release", None)`` when all are ready,
    ``("wait", None)`` otherwise."""
    ready = True
    for ref, verdict in verdicts:
        if verdict == "never":
            return "cancel", never_reason(ref)
        ready = ready and verdict == "ready"
    return ("release", None) if ready else ("wait", None)


def never_reason(ref: str) -> str:
    return f"dependency {ref} can never be satisfied"


# --------------------------------------------------------------------------------------------
# Why a job waits


def waiting_reason(deps: Iterable[tuple[str, str]]) -> str:
    """The reason of a job waiting on ``(kind, job ref)`` pairs: ``waiting for 12[] to succeed,
    14 to end``. Every host kind says the same."""
    return "waiting for " + ", ".join(f"{ref} to {_DEP_VERBS[kind]}" for kind, ref in deps)


def queued_reason(*, backlog: int, cluster: str, definition: str, max_vcpus: int, vcpus: int,
                  cap: int, workers: int, starting: int, ratio: float = 1.0,
                  queue_running: int | None = None, max_running: int | None = None) -> str:
    """Why the queued jobs of a (queue, definition) still wait, in words (qstat shows it):
    ``workers`` already there, ``starting`` just launched, ``cap`` the most that fit,
    ``queue_running`` the queue's running jobs (read only when it has a ``max_running``)."""
    if not backlog:
        return "runnable"
    if max_running and queue_running is not None and queue_running >= max_running:
        return f"queue at its max running ({queue_running} of max_running {max_running})"
    if cap == 0:
        return (f"no worker can start: cluster {cluster} has max_vcpus {max_vcpus} and each "
                f"worker of {definition} needs {vcpus} vCPUs; raise max_vcpus")
    total = workers + starting
    if total == 0:
        return f"no worker yet: waiting for vCPUs of cluster {cluster} (max_vcpus {max_vcpus})"
    if starting:
        return f"no worker free yet: starting {starting}, {workers} running"
    per = f", jobs_to_workers_ratio {ratio:g}" if ratio != 1 else ""
    return (f"waiting for a free worker: {total} worker(s) busy (cap {cap} = max_vcpus "
            f"{max_vcpus} / {vcpus} vCPUs{per})")
