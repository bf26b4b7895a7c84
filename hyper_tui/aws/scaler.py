"""The aws scaler: a plain Python handler run every minute by a scheduled Lambda.

A pass is a sequence of steps, each a method of :class:`ScalerPass` with its own time budget
(:class:`StepBudgets`) inside the pass's (under the Lambda's 55 s); a step that fails is
reported in ``errors`` and the others still run, a step the pass has no time left for is
reported in ``skipped``. Launching comes first, upkeep after:

1. **observe**: the refreshed ``auto`` weights (``schema.META_WEIGHTS_ID``), the backlog
   (QUEUED / RUNNING / PENDING jobs from the by_active index, read up to a budget of items
   and time; past it the backlog is estimated from SQS ``ApproximateNumberOfMessages`` x ids
   per message), the work messages (visible, in flight, delayed) and the workers already
   there (active AWS Batch jobs of the pair per region, through the launcher);
2. **launch**: decide with ``hyper_tui.core.scaling.decide`` (the local daemon's decision
   too), within each cluster's max vCPUs, and start the workers through the
   ``WorkerLauncher`` (``hyper_tui.aws.launcher.BatchLauncher``: Batch array jobs). **Region
   failover** (a queue's ``failover_after_s``, 0: off): a region whose launch fails, or
   whose workers of the queue wait RUNNABLE longer than that, hands its share to the
   queue's other regions for as long as it stays so: a failed launch is decided again at
   once without it, and the next pass tries it again (that try is the probe; it gets its
   share back the pass it succeeds); workers stuck RUNNABLE are not counted as workers, so
   the other regions start the ones they stand for, until they start or go. Workers whose
   Batch jobs FAILED at start (``launcher.START_FAILURES``: CannotPullContainer,
   CannotStartContainerError, the host EC2 terminated, ...) in the last ``failover_after_s``
   are failed launches too, while none of the queue's workers runs there; once they are
   older, the region gets its share back (a launch there is the probe);
3. **dead letters** (``dead_letters.sweep_dead_letters``): their jobs FAIL with the reason,
   or are requeued when their worker was lost;
4. **outbox** (``outbox.sweep_outbox``): jobs a crashed writer left QUEUED unsent are sent;
5. **dependencies** (``dependencies.release_pending``);
6. **reconcile** (``reconciler.Reconciler``): RUNNING jobs whose heartbeat expired and
   QUEUED jobs with no message (an empty work queue) or whose message is long overdue (a
   busy one) are requeued, sent again or failed, a bounded number of items a pass; then the
   control queues of workers that died without deleting theirs are deleted
   (``control.sweep_control_queues``, a bounded number a pass);
7. **metrics**: jobs by state per queue, backlog per definition, workers and vCPUs per
   region, dead-lettered jobs per queue.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.launcher import (  # noqa: F401 (re-exported: the scaler's Batch side)
    ACTIVE_BATCH_STATUSES,
    BatchLauncher,
    active_worker_jobs,
    submit_workers,
    worker_environment,
)
from hyper_tui.aws.scaler_config import PairConfig, ScalerConfig, load_scaler_config
from hyper_tui.aws.session import AwsSession, error_code
from hyper_tui.aws.table import pages
from hyper_tui.core import scaling
from hyper_tui.core.scaling import Launch, PairDecision, PairObservation  # noqa: F401

COUNT_BUDGET = 20_000     # items read per queue per pass; past it the backlog is estimated
MAX_ARRAY_SIZE = 10_000   # AWS Batch's largest array job


@dataclass(frozen=True)
class StepBudgets:
    """Seconds each step of a pass may take, and the pass in all (the Lambda stops at 55 s).
    A step starts only while the pass has time left, and gets the smaller of its own budget
    and what is left; steps that read in pages (the count, the reconciler) stop at it."""

    observe: float = 15.0
    launch: float = 10.0
    dead_letters: float = 5.0
    outbox: float = 4.0
    dependencies: float = 6.0
    reconcile: float = 8.0
    control_queues: float = 2.0
    metrics: float = 3.0
    total: float = 50.0


# --------------------------------------------------------------------------------------------
# The decision: core.scaling.decide with the aws inputs


def batch_target(p: PairConfig, region: str) -> tuple[str, str]:
    """Where a worker of ``p`` starts in ``region``: its Batch job queue and job definition."""
    return p.batch_job_queue.get(region) or "", p.batch_job_definition.get(region) or ""


def decide(pairs: Sequence[PairConfig], observed: Mapping[tuple[str, str], PairObservation],
           *, max_launch: int = MAX_ARRAY_SIZE) -> list[PairDecision]:
    """:func:`hyper_tui.core.scaling.decide` (the local daemon's too) for the aws pairs: each
    launch is one Batch array job (at most ``max_launch`` tasks) on its region's job queue;
    the visible work messages bound the launches (``PairObservation.visible_messages``)."""
    return scaling.decide(pairs, observed, max_launch=max_launch, target=batch_target)


def apply_weights(pairs: Sequence[PairConfig], weights: Mapping[str, Mapping[str, int]]
                  ) -> list[PairConfig]:
    """Pairs with refreshed weights for their queues (regions without compute are ignored)."""
    out = []
    for p in pairs:
        new = weights.get(p.queue)
        if new:
            regions = set(p.batch_job_queue) or set(p.weights)
            w = {r: int(new.get(r, 0)) for r in sorted(regions)}
            if any(v > 0 for v in w.values()):
                p = replace(p, weights=w)
        out.append(p)
    return out


# --------------------------------------------------------------------------------------------
# Region failover (pure)


def stuck_workers(pairs: Sequence[PairConfig], jobs: Mapping[str, Sequence[Mapping[str, Any]]],
                  now: float) -> dict[tuple[str, str], dict[str, int]]:
    """Worker tasks waiting RUNNABLE longer than their queue's ``failover_after_s``, per pair
    and region (``jobs``: region -> active worker jobs with their ``pair``)."""
    limit = {(p.queue, p.definition): p.failover_after_s for p in pairs}
    out: dict[tuple[str, str], dict[str, int]] = {}
    for region, found in jobs.items():
        for j in found:
            key = j.get("pair")
            after = limit.get(key) if key else None
            if after and j.get("runnable") and now - float(j.get("created") or now) > after:
                per = out.setdefault(key, {})
                per[region] = per.get(region, 0) + int(j["runnable"])
    return out


def failed_start_regions(pairs: Sequence[PairConfig],
                         failures: Mapping[str, Sequence[Mapping[str, Any]]],
                         jobs: Mapping[str, Sequence[Mapping[str, Any]]], now: float
                         ) -> dict[tuple[str, str], str]:
    """``(queue, region) -> why`` for the regions where workers of the queue failed at start
    (``failures``: region -> ``launcher.failed_worker_starts`` with their ``pair``) within
    the queue's ``failover_after_s``, and none of its workers runs there now (``jobs``: the
    active worker jobs, with ``running`` tasks): failed launches, for ``regions_down``."""
    after = {p.queue: p.failover_after_s for p in pairs}
    running = {(j["pair"][0], region) for region, found in jobs.items() for j in found
               if j.get("pair") and j.get("running")}
    seen: dict[tuple[str, str], list[str]] = {}
    for region, found in failures.items():
        for f in found:
            q = (f.get("pair") or (None, None))[0]
            if not after.get(q) or now - float(f.get("at") or 0) > after[q]:
                continue
            if (q, region) not in running:
                seen.setdefault((q, region), []).append(str(f.get("reason") or "?"))
    return {k: f"{len(why)} worker(s) failed at start: {sorted(why)[-1][:120]}"
            for k, why in sorted(seen.items())}


def regions_down(pairs: Sequence[PairConfig], stuck: Mapping[tuple[str, str], Mapping[str, int]],
                 failed: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """``(queue, region) -> why`` for the regions that hand their share of a queue to the
    others: launches that failed (``failed``, by (queue, region)) and workers stuck RUNNABLE;
    only for queues with failover on."""
    on = {p.queue for p in pairs if p.failover_after_s > 0}
    after = {p.queue: p.failover_after_s for p in pairs}
    down = {k: why for k, why in failed.items() if k[0] in on}
    for (q, _), per in stuck.items():
        for region, n in per.items():
            if q in on and n > 0:
                down.setdefault((q, region), f"{n} worker(s) RUNNABLE for more than "
                                             f"{after[q]}s")
    return down


def fail_over(pairs: Sequence[PairConfig], observed: Mapping[tuple[str, str], PairObservation],
              stuck: Mapping[tuple[str, str], Mapping[str, int]],
              down: Mapping[tuple[str, str], str]
              ) -> tuple[list[PairConfig], dict[tuple[str, str], PairObservation]]:
    """The pairs and observations the decision sees with the ``down`` regions out: their
    weight 0 (their share goes to the queue's other live regions), their stuck workers not
    counted, their healthy workers counted in the queue's heaviest live region (so that the
    others start only what is missing); the vCPUs every worker holds stay where they are.
    A queue whose live regions are all down is left as it is: there is no one to hand to."""
    out_pairs: list[PairConfig] = []
    out_obs = dict(observed)
    for p in pairs:
        key = (p.queue, p.definition)
        live = {r for r, w in p.weights.items() if int(w) > 0}
        gone = {r for r in live if (p.queue, r) in down}
        if not gone or gone == live:
            out_pairs.append(p)
            continue
        o = observed.get(key) or PairObservation()
        held = dict(o.vcpus) if o.vcpus is not None else {
            r: n * p.vcpus for r, n in o.workers.items()}
        workers = {r: n for r, n in o.workers.items() if r not in gone}
        to = max(sorted(live - gone), key=lambda r: int(p.weights[r]))
        for r in gone:
            healthy = max(0, o.workers.get(r, 0) - (stuck.get(key) or {}).get(r, 0))
            if healthy:
                workers[to] = workers.get(to, 0) + healthy
        out_pairs.append(replace(p, weights={r: (0 if r in gone else w)
                                             for r, w in p.weights.items()}))
        out_obs[key] = replace(o, workers=workers, vcpus=held)
    return out_pairs, out_obs


# --------------------------------------------------------------------------------------------
# Observing


def count_jobs(ddb: Any, table: str, queue: str, *, budget: int = COUNT_BUDGET,
               deadline: float | None = None, clock: Callable[[], float] = time.monotonic
               ) -> tuple[dict[tuple[str, str], int], bool]:
    """Active jobs of a queue by (definition, state), and whether the count is complete
    (False when the budget of items read, or the time to ``deadline`` on ``clock``, ran out
    first)."""
    per_shard = max(1, budget // len(schema.active_partitions(queue)))

    def shard(s: str) -> tuple[dict[tuple[str, str], int], bool]:
        counts: dict[tuple[str, str], int] = {}
        kw: dict[str, Any] = {
            "TableName": table, "IndexName": "by_active",  # sparse: active jobs only
            "KeyConditionExpression": "#k = :k", "FilterExpression": "#s IN (:p, :q, :r)",
            "ProjectionExpression": "#d, #s",
            "ExpressionAttributeNames": {"#k": schema.ACTIVE_KEY, "#s": "state",
                                         "#d": "definition"},
            "ExpressionAttributeValues": {":k": {"S": s}, ":p": {"S": "PENDING"},
                                          ":q": {"S": "QUEUED"}, ":r": {"S": "RUNNING"}}}
        read = 0
        if deadline is not None and clock() >= deadline:
            return counts, False
        for resp in pages(ddb.query, **kw):  # stops early: no page is asked past the budget
            read += int(resp.get("ScannedCount", 0))
            for it in resp.get("Items") or []:
                key = (it.get("definition", {}).get("S", "?"), it.get("state", {}).get("S", "?"))
                counts[key] = counts.get(key, 0) + 1
            if not resp.get("LastEvaluatedKey"):
                return counts, True
            if read >= per_shard or (deadline is not None and clock() >= deadline):
                return counts, False
        return counts, True

    total: dict[tuple[str, str], int] = {}
    complete = True
    with ThreadPoolExecutor(max_workers=8) as pool:
        for counts, done in pool.map(shard, schema.active_partitions(queue)):
            complete = complete and done
            for k, n in counts.items():
                total[k] = total.get(k, 0) + n
    return total, complete


def dead_letter_url(work_queue_url: str, host: str, queue: str, definition: str) -> str:
    return work_queue_url.rsplit("/", 1)[0] + "/" + schema.dead_letter_queue_name(host, queue,
                                                                                  definition)


def read_weights(ddb: Any, table: str) -> dict[str, dict[str, int]]:
    from hyper_tui.aws.table import from_item

    resp = ddb.get_item(TableName=table, Key={"id": {"S": schema.META_WEIGHTS_ID}},
                        ConsistentRead=True)
    item = from_item(resp.get("Item") or {})
    weights = item.get("weights") or {}
    return {str(q): {str(r): int(w) for r, w in (per or {}).items()}
            for q, per in weights.items() if isinstance(per, dict)}



# --------------------------------------------------------------------------------------------
# One pass


@dataclass
class Observed:
    """What the observe step saw."""

    pairs: list[PairConfig]
    observed: dict[tuple[str, str], PairObservation]
    jobs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region -> workers
    empty: set[tuple[str, str]] = field(default_factory=set)  # no message at all
    busy: set[tuple[str, str]] = field(default_factory=set)  # QUEUED jobs and messages
    running: set[str] = field(default_factory=set)  # queues with RUNNING jobs (or maybe)
    stuck: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # RUNNABLE
    # (queue, region) -> why: its workers failed at start lately (failed_start_regions)
    failed_starts: dict[tuple[str, str], str] = field(default_factory=dict)


class ScalerPass:
    """One scaler pass (see the module's docstring): one method per step."""

    def __init__(self, cfg: ScalerConfig, session: AwsSession, *,
                 launcher: Any | None = None, budgets: StepBudgets | None = None,
                 clock: Callable[[], float] = time.monotonic, now: float | None = None) -> None:
        self.cfg, self.session = cfg, session
        self.launcher = launcher or BatchLauncher(session, cfg)
        self.budgets = budgets or StepBudgets()
        self.clock = clock
        self.now = time.time() if now is None else now
        self.ddb = session.client("dynamodb")
        self.sqs = session.client("sqs")
        self.errors: list[str] = []
        self.skipped: list[str] = []
        self.seconds: dict[str, float] = {}
        self.over: list[str] = []
        self._end = clock() + self.budgets.total
        self.urls = {(p.queue, p.definition): p.work_queue_url for p in cfg.pairs}

    # ---- running steps -------------------------------------------------------------------

    def step(self, name: str, budget: float, fn: Callable[[float], Any]) -> Any:
        """``fn(deadline)`` within ``budget`` seconds and what the pass has left; None when
        it failed (in ``errors``) or there was no time left (in ``skipped``)."""
        start = self.clock()
        if start >= self._end:
            self.skipped.append(name)
            return None
        try:
            return fn(min(start + budget, self._end))
        except Exception as err:
            self.errors.append(f"{name}: {type(err).__name__}: {err}")
            return None
        finally:
            took = self.clock() - start
            self.seconds[name] = round(took, 3)
            if took > budget:
                self.over.append(name)

    def attempt(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A part of a step: its failure is reported and the step goes on."""
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            self.errors.append(f"{what}: {type(err).__name__}: {err}")
            return None

    def run(self, *, sweep: bool = True, publish: bool = True, launch: bool = True,
            reconcile: bool = True) -> dict[str, Any]:
        b = self.budgets
        seen = self.step("observe", b.observe, self.observe) or Observed(list(self.cfg.pairs), {})
        launched: list[dict[str, Any]] = []
        down: dict[tuple[str, str], str] = {}
        decisions = self.step("launch", b.launch,
                              lambda deadline: self.launch(seen, deadline, launched, down,
                                                           act=launch)) or []
        swept = {"failed": 0, "requeued": 0, "kept": 0}
        dead: dict[str, int] = {}
        if sweep:
            self.step("dead letters", b.dead_letters,
                      lambda deadline: self.sweep_dead_letters(seen.pairs, deadline, swept, dead))
        resent = self.step("outbox", b.outbox, self.sweep_outbox)
        released = self.step("dependencies", b.dependencies,
                             lambda deadline: self.release_dependencies(seen.pairs))
        rec = ctl = None
        if reconcile:
            rec = self.step("reconcile", b.reconcile,
                            lambda deadline: self.reconcile(seen, deadline))
            ctl = self.step("control queues", b.control_queues, self.sweep_control_queues)
        if publish:
            self.step("metrics", b.metrics,
                      lambda deadline: publish_metrics(self.session.client("cloudwatch"),
                                                       self.cfg, seen.pairs, seen.observed, dead,
                                                       self.totals(seen.pairs)))
        return {
            "host": self.cfg.host, "errors": self.errors, "skipped": self.skipped,
            "over_budget": self.over, "step_seconds": self.seconds, "swept": swept,
            "launched": launched, "dependencies": released or {},
            "resent_from_outbox": resent or 0,
            "reconciled": asdict(rec) if rec is not None else None,
            "control_queues": ctl,
            "failover": [{"queue": q, "region": r, "reason": why}
                         for (q, r), why in sorted(down.items())],
            "pairs": [{"queue": d.queue, "definition": d.definition, "desired": d.desired,
                       "split": d.split, "reason": d.reason,
                       **asdict(seen.observed.get((d.queue, d.definition)) or PairObservation())}
                      for d in decisions],
        }

    # ---- 1. observe ----------------------------------------------------------------------

    def observe(self, deadline: float) -> Observed:
        pairs = list(self.cfg.pairs)
        weights = self.attempt("reading refreshed weights", read_weights, self.ddb,
                               self.cfg.jobs_table)
        if weights:
            pairs = apply_weights(pairs, weights)
        counts: dict[str, tuple[dict[tuple[str, str], int], bool]] = {}
        for q in sorted({p.queue for p in pairs}):
            from hyper_tui.aws.counters import backlog  # counter items: reads do not grow with jobs

            got = self.attempt(f"counting jobs of {q}", backlog, self.ddb, self.cfg.jobs_table, q)
            counts[q] = got if got is not None else ({}, False)
        msgs: dict[tuple[str, str], dict[str, int] | None] = {}
        for p in pairs:
            attrs = self.attempt(
                f"work queue of {p.queue}/{p.definition}", self.sqs.get_queue_attributes,
                QueueUrl=p.work_queue_url,
                AttributeNames=["ApproximateNumberOfMessages",
                                "ApproximateNumberOfMessagesNotVisible",
                                "ApproximateNumberOfMessagesDelayed"])
            msgs[(p.queue, p.definition)] = (
                {k: int(v) for k, v in attrs["Attributes"].items()} if attrs else None)
        jobs: dict[str, list[dict[str, Any]]] = {}
        for region in sorted({r for p in pairs for r in p.batch_job_queue}):
            found = self.attempt(f"Batch jobs in {region}", self.launcher.active, region)
            jobs[region] = found or []
        stuck = stuck_workers(pairs, jobs, self.now)
        seen = Observed(pairs, {}, jobs)
        seen.failed_starts = self.failed_starts(pairs, jobs)
        for p in pairs:
            key = (p.queue, p.definition)
            c, complete = counts.get(p.queue, ({}, False))
            m = msgs.get(key)
            vis = m.get("ApproximateNumberOfMessages", 0) if m is not None else None
            queued = c.get((p.definition, "QUEUED"), 0)
            estimated = not complete and vis is not None
            if estimated:
                queued = max(queued, (vis or 0) * schema.IDS_PER_MESSAGE)
            workers: dict[str, int] = {}
            for region, found in jobs.items():
                n = sum(j["count"] for j in found if j.get("pair") == key)
                if n:
                    workers[region] = n
            seen.observed[key] = PairObservation(
                queued=queued, running=c.get((p.definition, "RUNNING"), 0),
                pending=c.get((p.definition, "PENDING"), 0), visible_messages=vis,
                workers=workers, estimated=estimated)
            if m is not None and not any(m.values()) and (queued or not complete):
                seen.empty.add(key)  # QUEUED jobs (or maybe some) and not one message
            elif m is not None and (queued or not complete):
                seen.busy.add(key)
            if c.get((p.definition, "RUNNING")) or not complete:
                seen.running.add(p.queue)
        seen.stuck = stuck
        return seen

    def failed_starts(self, pairs: Sequence[PairConfig],
                      jobs: Mapping[str, Sequence[Mapping[str, Any]]]
                      ) -> dict[tuple[str, str], str]:
        """The regions whose workers failed at start within their queue's failover window
        (:func:`failed_start_regions`), from the launcher's ``failed_starts`` (a launcher
        without it: none)."""
        window = max((p.failover_after_s for p in pairs), default=0)
        if not window or not hasattr(self.launcher, "failed_starts"):
            return {}
        failures = {}
        for region in sorted({r for p in pairs if p.failover_after_s for r in p.batch_job_queue}):
            found = self.attempt(f"failed worker starts in {region}",
                                 self.launcher.failed_starts, region, self.now - 2 * window)
            failures[region] = found or []
        return failed_start_regions(pairs, failures, jobs, self.now)

    # ---- 2. launch -----------------------------------------------------------------------

    def launch(self, seen: Observed, deadline: float, launched: list[dict[str, Any]],
               down: dict[tuple[str, str], str], *, act: bool = True) -> list[PairDecision]:
        """Decide and launch; a region whose launch fails is decided again without it
        (failover), at most once per region, while the step has time."""
        stuck = seen.stuck
        failed: dict[tuple[str, str], str] = dict(seen.failed_starts)
        observed = dict(seen.observed)
        decisions: list[PairDecision] = []
        for _ in range(1 + len({r for p in seen.pairs for r in p.weights})):
            down.clear()
            down.update(regions_down(seen.pairs, stuck, failed))
            pairs, obs = fail_over(seen.pairs, observed, stuck, down)
            decisions = decide(pairs, obs)
            if not act:
                return decisions
            new_failures = False
            for d in decisions:
                for x in d.launches:
                    if self.clock() >= deadline:
                        self.skipped.append(f"launching {x.count} worker(s) of "
                                            f"{x.queue}/{x.definition} in {x.region}")
                        continue
                    try:
                        ids = self.launcher.start(x.queue, x.definition, x.region, x.count)
                    except Exception as err:
                        self.errors.append(f"launching {x.count} worker(s) of {x.queue}/"
                                           f"{x.definition} in {x.region}: "
                                           f"{type(err).__name__}: {err}")
                        if (x.queue, x.region) not in failed:
                            failed[(x.queue, x.region)] = (f"launch failed: "
                                                           f"{error_code(err) or type(err).__name__}")
                            new_failures = True
                        continue
                    launched.append({**asdict(x), "batch_job_id": ids[0] if ids else None})
                    o = observed.get((x.queue, x.definition)) or PairObservation()
                    w = dict(o.workers)
                    w[x.region] = w.get(x.region, 0) + x.count
                    held = None if o.vcpus is None else {
                        **o.vcpus, x.region: o.vcpus.get(x.region, 0) + x.count * self._vcpus(x)}
                    observed[(x.queue, x.definition)] = replace(o, workers=w, vcpus=held)
            if not new_failures:
                break
        down.clear()
        down.update(regions_down(seen.pairs, stuck, failed))
        return decisions

    # ---- 3-6. upkeep ---------------------------------------------------------------------

    def sweep_dead_letters(self, pairs: Sequence[PairConfig], deadline: float,
                           swept: dict[str, int], dead: dict[str, int]) -> None:
        from hyper_tui.aws.dead_letters import sweep_dead_letters

        for p in pairs:
            if self.clock() >= deadline:
                self.skipped.append(f"dead-letter sweep of {p.queue}/{p.definition}")
                continue
            r = self.attempt(f"dead-letter sweep of {p.queue}/{p.definition}", sweep_dead_letters,
                             self.session, table=self.cfg.jobs_table,
                             dlq_url=dead_letter_url(p.work_queue_url, self.cfg.host, p.queue,
                                                     p.definition),
                             work_url=p.work_queue_url, default_lease=self.cfg.lease_seconds,
                             retention_days=self.cfg.retention_days)
            if r is not None:
                swept["failed"] += r.failed
                swept["requeued"] += r.requeued
                swept["kept"] += r.kept
                for q, n in r.failed_by_queue.items():
                    dead[q] = dead.get(q, 0) + n

    def totals(self, pairs: Sequence[PairConfig]) -> dict[str, dict[str, int]]:
        """Jobs submitted and finished per queue since the last pass
        (``counters.totals_since``)."""
        from hyper_tui.aws.counters import totals_since

        return totals_since(self.ddb, self.cfg.jobs_table, {p.queue for p in pairs})

    def sweep_outbox(self, deadline: float) -> int:
        from hyper_tui.aws.outbox import sweep_outbox

        return sweep_outbox(self.ddb, self.sqs, self.cfg.jobs_table, self._url_of)

    def release_dependencies(self, pairs: Sequence[PairConfig]) -> dict[str, Any]:
        from hyper_tui.aws.dependencies import release_pending

        return release_pending(self.ddb, self.sqs, self.cfg.jobs_table,
                               sorted({p.queue for p in pairs}), self._url_of,
                               retention_s=self.cfg.retention_days * 86400)

    def reconcile(self, seen: Observed, deadline: float) -> Any:
        from hyper_tui.aws.reconciler import Reconciler

        r = Reconciler(self.ddb, self.sqs, self.cfg.jobs_table, self._url_of,
                       lease=self.cfg.lease_seconds, retention_s=self.cfg.retention_days * 86400,
                       clock=self.clock)
        empty = self._still_empty(seen.empty)
        out = r.run(sorted(seen.running), empty, busy_pairs=(seen.busy | seen.empty) - empty,
                    deadline=deadline, now=self.now)
        self.errors.extend(f"reconcile: {e}" for e in out.errors)
        return out

    def sweep_control_queues(self, deadline: float) -> dict[str, int]:
        """Delete the control queues of workers that died without deleting theirs
        (``control.sweep_control_queues``: a bounded number a pass)."""
        from hyper_tui.aws.control import sweep_control_queues

        return sweep_control_queues(self.sqs, self.cfg.host, now=self.now)

    def _still_empty(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The pairs whose work queue is still empty now (the outbox and dependency steps
        of this pass may have sent messages since the observation)."""
        out = set()
        for q, d in sorted(pairs):
            attrs = self.attempt(f"work queue of {q}/{d}", self.sqs.get_queue_attributes,
                                 QueueUrl=self._url_of(q, d), AttributeNames=[
                                     "ApproximateNumberOfMessages",
                                     "ApproximateNumberOfMessagesNotVisible",
                                     "ApproximateNumberOfMessagesDelayed"])
            if attrs and not any(int(v) for v in attrs["Attributes"].values()):
                out.add((q, d))
        return out

    def _vcpus(self, x: Launch) -> int:
        return next((p.vcpus for p in self.cfg.pairs
                     if (p.queue, p.definition) == (x.queue, x.definition)), 1)

    def _url_of(self, queue: str, definition: str) -> str:
        return self.urls[(queue, definition)]


def run_scaler(cfg: ScalerConfig, session: AwsSession, *, sweep: bool = True,
               publish: bool = True, launch: bool = True, reconcile: bool = True,
               launcher: Any | None = None, budgets: StepBudgets | None = None,
               clock: Callable[[], float] = time.monotonic, now: float | None = None
               ) -> dict[str, Any]:
    """One scaler pass (:class:`ScalerPass`); returns what it saw and did (JSON-able)."""
    return ScalerPass(cfg, session, launcher=launcher, budgets=budgets, clock=clock,
                      now=now).run(sweep=sweep, publish=publish, launch=launch,
                                   reconcile=reconcile)


def publish_metrics(cw: Any, cfg: ScalerConfig, pairs: Sequence[PairConfig],
                    observed: Mapping[tuple[str, str], PairObservation],
                    dead: Mapping[str, int],
                    totals: Mapping[str, Mapping[str, int]] | None = None) -> int:
    """put_metric_data: jobs by state per queue, backlog per definition, workers and vCPUs
    per region, dead-lettered per queue, jobs submitted and finished per queue since the
    last pass (``totals``, ``counters.totals_since``: submissions and workers make no
    CloudWatch request). Returns the number of data points."""
    jobs: dict[tuple[str, str], float] = {}
    backlog: dict[str, float] = {}
    workers: dict[str, float] = {}
    vcpus: dict[str, float] = {}
    for p in pairs:
        o = observed.get((p.queue, p.definition)) or PairObservation()
        for state, n in (("PENDING", o.pending), ("QUEUED", o.queued), ("RUNNING", o.running)):
            jobs[(p.queue, state)] = jobs.get((p.queue, state), 0) + n
        backlog[p.definition] = backlog.get(p.definition, 0) + o.queued
        for region in p.weights:
            workers.setdefault(region, 0)
            vcpus.setdefault(region, 0)
        for region, n in o.workers.items():
            workers[region] = workers.get(region, 0) + n
            vcpus[region] = vcpus.get(region, 0) + n * p.vcpus
    data: list[dict[str, Any]] = []

    def put(name: str, dims: dict[str, str], value: float, unit: str = "Count") -> None:
        data.append({"MetricName": name, "Value": float(value), "Unit": unit,
                     "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]})

    for (q, st), n in sorted(jobs.items()):
        put(schema.METRIC_JOBS, {"Queue": q, "State": st}, n)
    for d, n in sorted(backlog.items()):
        put(schema.METRIC_BACKLOG, {"Definition": d}, n)
    for r in sorted(workers):
        put(schema.METRIC_WORKERS, {"Region": r}, workers[r])
        put(schema.METRIC_VCPUS, {"Region": r}, vcpus[r])
    for q, n in sorted(dead.items()):
        put(schema.METRIC_DEAD_LETTERED, {"Queue": q}, n)
    from hyper_tui.aws.counters import FINISHED, SUBMITTED

    for attr, name in ((SUBMITTED, schema.METRIC_SUBMITTED), (FINISHED, schema.METRIC_FINISHED)):
        for q, n in sorted(((totals or {}).get(attr) or {}).items()):
            put(name, {"Queue": q}, n)
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=cfg.namespace, MetricData=data[i:i + 500])
    return len(data)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (EventBridge schedule, every minute)."""
    cfg = load_scaler_config()
    started = time.monotonic()
    left = getattr(context, "get_remaining_time_in_millis", None)
    budgets = StepBudgets()
    if left is not None:  # end a few seconds before the Lambda is stopped
        budgets = replace(budgets, total=min(budgets.total, left() / 1000.0 - 3.0))
    result = run_scaler(cfg, AwsSession(cfg.main_region), budgets=budgets)
    result["seconds"] = round(time.monotonic() - started, 3)
    sys.stdout.write(json.dumps(result, default=str, separators=(",", ":")) + "\n")
    return result
