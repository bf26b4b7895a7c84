"""Scheduling logic as pure functions: no I/O, no clock, no database.

The local daemon and the aws scaler call the same functions, so a queue scales the same way
on one machine and across AWS regions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# Regions the original favoured when it had nothing better (cyclone.md §5).
DEFAULT_STRONG_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "eu-west-1", "ap-southeast-1")


def worker_cap(max_vcpus: int, vcpus_per_worker: int) -> int:
    """How many workers fit in ``max_vcpus`` when each reserves ``vcpus_per_worker``."""
    if vcpus_per_worker <= 0:
        raise ValueError("vcpus_per_worker must be positive")
    return max(0, max_vcpus // vcpus_per_worker)


def desired_workers(*, backlog: int, running_jobs: int, ratio: float, cap: int) -> int:
    """Workers wanted for one (queue, definition): ``ceil(backlog / ratio)`` for the queued
    jobs, plus one for each job already running (its worker is busy), never above ``cap``.

    >>> desired_workers(backlog=100, running_jobs=0, ratio=10, cap=64)
    10
    >>> desired_workers(backlog=100, running_jobs=0, ratio=1, cap=4)
    4
    """
    if ratio <= 0:
        raise ValueError("ratio must be positive")
    if backlog <= 0 and running_jobs <= 0:
        return 0
    want = running_jobs + math.ceil(max(0, backlog) / ratio)
    return max(0, min(cap, want))


def split_by_weight(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` workers over regions in proportion to integer ``weights``.

    Largest-remainder rounding, ties broken by weight then name, so the parts always add up
    to ``total`` and the result is deterministic. Regions of weight 0 get nothing.

    >>> split_by_weight(10, {"a": 1, "b": 3})
    {'a': 2, 'b': 8}
    """
    live = {r: w for r, w in weights.items() if w > 0}
    if total <= 0 or not live:
        return {r: 0 for r in weights}
    wsum = sum(live.values())
    exact = {r: total * w / wsum for r, w in live.items()}
    parts = {r: math.floor(x) for r, x in exact.items()}
    left = total - sum(parts.values())
    order = sorted(live, key=lambda r: (-(exact[r] - parts[r]), -live[r], r))
    for r in order[:left]:
        parts[r] += 1
    return {r: parts.get(r, 0) for r in weights}


def cap_by_region(parts: Mapping[str, int], caps: Mapping[str, int]) -> dict[str, int]:
    """Limit each region's share to its own cap (e.g. a local pool's worker slots), moving
    the overflow to regions with room, in order of their share."""
    out = {r: min(n, caps.get(r, n)) for r, n in parts.items()}
    overflow = sum(parts.values()) - sum(out.values())
    for r in sorted(out, key=lambda r: -parts[r]):
        if overflow <= 0:
            break
        room = caps.get(r, 1 << 30) - out[r]
        if room > 0 and parts[r] > 0:
            add = min(room, overflow)
            out[r] += add
            overflow -= add
    return out


def weights_from_scores(scores: Mapping[str, int], regions: list[str] | None = None) -> dict[str, int]:
    """Integer region weights from EC2 spot placement scores (1-10 per region).

    Weight = score squared, divided by the smallest and rounded (the original truncated, which
    made 7 and 9 equal; rounding keeps 49:81 as 1:2). Regions asked for but given no score
    get weight 0. With no scores at all, fall back to :func:`default_weights`.

    >>> weights_from_scores({"us-east-1": 9, "eu-west-1": 3})
    {'eu-west-1': 1, 'us-east-1': 9}
    """
    usable = {r: s for r, s in scores.items() if s and s > 0 and (regions is None or r in regions)}
    if not usable:
        return default_weights(regions or list(scores))
    squares = {r: s * s for r, s in usable.items()}
    low = min(squares.values())
    out = {r: max(1, round(v / low)) for r, v in squares.items()}
    for r in regions or []:
        out.setdefault(r, 0)
    return dict(sorted(out.items()))


def best_region_scores(raw: list[Mapping[str, object]]) -> dict[str, int]:
    """Reduce a GetSpotPlacementScores response (``SpotPlacementScores`` list of
    ``{"Region", "Score"}``, possibly per AZ) to the best score per region."""
    best: dict[str, int] = {}
    for item in raw:
        region = str(item.get("Region", ""))
        score = int(item.get("Score", 0) or 0)
        if region and score > best.get(region, 0):
            best[region] = score
    return best


def default_weights(regions: list[str]) -> dict[str, int]:
    """Weights when no scores are available: 5 for the historically deep spot regions,
    1 for the rest, reduced by the smallest."""
    raw = {r: (5 if r in DEFAULT_STRONG_REGIONS else 1) for r in regions}
    if not raw:
        return {}
    low = min(raw.values())
    return dict(sorted((r, w // low) for r, w in raw.items()))


# --------------------------------------------------------------------------------------------
# Job outcomes


@dataclass(frozen=True)
class Outcome:
    state: str  # QUEUED (retry), SUCCEEDED, FAILED
    reason: str | None
    counts_retry: bool


def after_exit(exit_code: int, *, retry_exit_codes: list[int] | tuple[int, ...], attempts: int,
               retries: int) -> Outcome:
    """What a finished attempt means. ``attempts`` includes the one that just ended."""
    if exit_code == 0:
        return Outcome("SUCCEEDED", None, False)
    if exit_code in retry_exit_codes and attempts <= retries:
        return Outcome("QUEUED", f"requeued: exit code {exit_code} is listed to retry "
                       f"(attempt {attempts} of {retries + 1})", True)
    if exit_code < 0:
        return Outcome("FAILED", f"killed by signal {-exit_code}", False)
    return Outcome("FAILED", f"exit code {exit_code}", False)


def after_lost_worker(*, attempts: int, retries: int, why: str) -> Outcome:
    """A worker vanished (no heartbeat within its lease, or its process died)."""
    if attempts <= retries:
        return Outcome("QUEUED", f"requeued: {why} (attempt {attempts} of {retries + 1})", True)
    return Outcome("FAILED", f"{why}; no retries left after {attempts} attempts", False)


def after_interruption(*, why: str) -> Outcome:
    """A worker was asked to stop (spot interruption, daemon shutdown): requeue for free."""
    return Outcome("QUEUED", f"requeued without using a retry: {why}", False)


def dependency_state(kind: str, dep_states: list[str]) -> str:
    """``ready``, ``wait`` or ``never`` for a dependency of ``kind`` (afterok, afterany,
    afternotok) on jobs in ``dep_states``."""
    final = {"SUCCEEDED", "FAILED", "CANCELLED"}
    if not all(s in final for s in dep_states):
        if kind == "afterok" and any(s in ("FAILED", "CANCELLED") for s in dep_states):
            return "never"
        return "wait"
    if kind == "afterok":
        return "ready" if all(s == "SUCCEEDED" for s in dep_states) else "never"
    if kind == "afternotok":
        return "ready" if any(s != "SUCCEEDED" for s in dep_states) else "never"
    return "ready"
