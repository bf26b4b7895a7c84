"""The scaling decision as pure functions: no I/O, no clock, no database.

Both host kinds observe, call :func:`decide`, then act on its launches: the local daemon starts
worker processes, the aws scaler submits AWS Batch array jobs. What differs between them is an
explicit input (per-region slot caps, visible work messages, the vCPUs workers hold, the most
one launch may start, where a launch goes), never a branch on the host kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Regions the original favoured when it had nothing better (cyclone.md §5).
DEFAULT_STRONG_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "eu-west-1", "ap-southeast-1")


# A local worker pool (region) without ``worker_slots`` runs at most this many workers a CPU.
# The cluster's max vCPUs (by default the CPU count) is the cap that binds; this one only stops
# a cluster made far bigger than the machine from starting hundreds of processes on it.
LOCAL_SLOTS_PER_CPU = 4


def local_region_slots(worker_slots: int | None, cpus: int) -> int:
    """The most workers a local pool runs at once: its ``worker_slots``, else
    ``LOCAL_SLOTS_PER_CPU`` per CPU of the machine."""
    return int(worker_slots or max(1, cpus) * LOCAL_SLOTS_PER_CPU)


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
# The decision


class ScalingPair(Protocol):
    """What :func:`decide` reads of a (queue, definition): the local daemon's ``Pair`` and the
    aws ``PairConfig`` both have these."""

    queue: str
    definition: str
    cluster: str
    ratio: float            # the definition's jobs_to_workers_ratio
    vcpus: int              # a worker's vCPUs
    max_vcpus: int          # the cluster's, per region
    weights: Mapping[str, int]
    max_running: int | None  # the queue's


@dataclass(frozen=True)
class PairObservation:
    """What one pass saw of a (queue, definition)."""

    queued: int = 0
    running: int = 0
    pending: int = 0
    visible_messages: int | None = None           # work messages visible (None: no such bound)
    workers: Mapping[str, int] = field(default_factory=dict)  # region -> active workers
    estimated: bool = False                       # queued was estimated, not counted
    # region -> vCPUs the workers hold (None: workers x the pair's vcpus)
    vcpus: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Launch:
    """``count`` new workers of a pair in ``region``; ``job_queue`` and ``job_definition`` say
    where the launcher starts them (AWS Batch names; empty where the launcher needs none)."""

    queue: str
    definition: str
    region: str
    count: int
    job_queue: str = ""
    job_definition: str = ""


@dataclass
class PairDecision:
    queue: str
    definition: str
    desired: int
    split: dict[str, int]
    launches: list[Launch]
    reason: str
    cap: int = 0            # the most workers that fit over its live regions
    limited: bool = False   # the queue's max_running held it below what its jobs want


def decide(pairs: Sequence[ScalingPair], observed: Mapping[tuple[str, str], PairObservation],
           *, max_launch: int | None = None, region_slots: Mapping[str, int] | None = None,
           target: Callable[[ScalingPair, str], tuple[str, str]] | None = None
           ) -> list[PairDecision]:
    """Workers to launch per pair and region.

    ``desired_workers(backlog, running jobs, ratio, cap)`` with cap = workers that fit the
    cluster's max vCPUs in every region of weight > 0; never more than one new worker per
    visible work message (a message is taken by one worker); a queue's ``max_running`` bounds
    its workers over all its definitions (a worker runs one job at a time); split over regions
    by weight, each region capped by its own vCPUs and by ``region_slots`` (a local pool's
    worker slots); then only what is missing next to the workers already there, within the
    vCPUs the cluster has left in that region (shared by every pair on the cluster), at most
    ``max_launch`` per launch. ``target(pair, region)`` names where a launch goes.
    """
    used: dict[tuple[str, str], int] = {}
    queue_workers: dict[str, int] = {}  # a queue's workers, over its definitions
    for p in pairs:
        o = observed.get((p.queue, p.definition)) or PairObservation()
        held = o.vcpus if o.vcpus is not None else {r: n * p.vcpus for r, n in o.workers.items()}
        for region, v in held.items():
            used[(p.cluster, region)] = used.get((p.cluster, region), 0) + v
        queue_workers[p.queue] = queue_workers.get(p.queue, 0) + sum(o.workers.values())
    out: list[PairDecision] = []
    for p in pairs:
        o = observed.get((p.queue, p.definition)) or PairObservation()
        live = {r: int(w) for r, w in p.weights.items() if int(w) > 0}
        cap_region = worker_cap(p.max_vcpus, p.vcpus)
        cap_total = cap_region * len(live)
        want = desired_workers(backlog=o.queued, running_jobs=o.running, ratio=p.ratio,
                               cap=cap_total)
        if o.visible_messages is not None:
            want = min(want, o.running + o.visible_messages)
        limited = False
        if p.max_running is not None:
            others = queue_workers.get(p.queue, 0) - sum(o.workers.values())
            allowed = max(0, p.max_running - others)
            limited = want > allowed
            want = min(want, allowed)
        caps = {r: min(cap_region, (region_slots or {}).get(r, cap_region)) for r in live}
        split = cap_by_region(split_by_weight(want, live), caps)
        launches: list[Launch] = []
        for region, n in sorted(split.items()):
            have = o.workers.get(region, 0)
            room = max(0, (p.max_vcpus - used.get((p.cluster, region), 0)) // p.vcpus)
            add = max(0, min(n - have, room))
            if max_launch is not None:
                add = min(add, max_launch)
            if add:
                where = target(p, region) if target else ("", "")
                launches.append(Launch(p.queue, p.definition, region, add, *where))
                used[(p.cluster, region)] = used.get((p.cluster, region), 0) + add * p.vcpus
                queue_workers[p.queue] = queue_workers.get(p.queue, 0) + add
        out.append(PairDecision(p.queue, p.definition, want, split, launches,
                                _decision_reason(p, o, want, cap_total, limited, launches,
                                                 live, queue_workers),
                                cap=cap_total, limited=limited))
    return out


def _decision_reason(p: ScalingPair, o: PairObservation, want: int, cap_total: int,
                     limited: bool, launches: list[Launch], live: Mapping[str, int],
                     queue_workers: Mapping[str, int]) -> str:
    have_total = sum(o.workers.values())
    if not live:
        return "no region has a weight above 0"
    if cap_total == 0:
        return (f"no worker fits: cluster {p.cluster} has max_vcpus {p.max_vcpus} and a "
                f"worker of {p.definition} needs {p.vcpus}")
    if o.queued == 0 and o.running == 0:
        return "idle"
    if limited and not launches:
        return (f"queue at its max running ({queue_workers.get(p.queue, 0)} workers of "
                f"max_running {p.max_running})")
    if launches:
        return (f"starting {sum(x.count for x in launches)} worker(s), {have_total} there, "
                f"{want} wanted")
    if want > have_total:
        return f"{want} workers wanted, {have_total} there: cluster {p.cluster} is at max_vcpus"
    return f"{have_total} worker(s) there for {want} wanted"
