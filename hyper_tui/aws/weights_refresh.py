"""``auto`` region weights from EC2 spot placement scores, refreshed whenever asked.

``queues refresh-weights [QUEUE]`` calls :func:`refresh_weights`: for every queue with
``auto`` weights, EC2 ``GetSpotPlacementScores`` (in the main region) scores the queue's
regions for its cluster's instance types at the cluster's max vCPUs; the best score per region
becomes an integer weight through the pure ``scaling.weights_from_scores``. The result is
kept in two places:

* the host's state (store meta ``aws_lookups``, key ``weights``), which the next synth and
  deploy use (``hyper_tui.aws.infra.lookups``);
* the jobs table's ``schema.META_WEIGHTS_ID`` item, which the running scaler reads every pass,
  so new weights apply within a minute, without a deploy.

A cluster of ``["optimal"]`` instance types cannot be scored: its queues get
``scaling.default_weights``. A target capacity above the account's limit is halved and
asked again (as the original did).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from hyper_tui.aws import schema
from hyper_tui.aws.session import AwsSession, aws_errors, error_code
from hyper_tui.core import scaling
from hyper_tui.errors import NotFoundError, UsageError

MAX_HALVINGS = 8


def is_auto(queue: Any) -> bool:
    return bool(queue.optimise_spot_cost) or any(w == "auto" for w in queue.weights.values())


def placement_scores(ec2: Any, instance_types: Sequence[str], regions: Sequence[str],
                     target_vcpus: int) -> dict[str, int]:
    """Best spot placement score (1-10) per region; the target is halved while it is above
    what the account may ask for."""
    target = max(1, int(target_vcpus))
    for _ in range(MAX_HALVINGS + 1):
        try:
            raw: list[dict[str, Any]] = []
            kw: dict[str, Any] = {"InstanceTypes": list(instance_types), "TargetCapacity": target,
                                  "TargetCapacityUnitType": "vcpu",
                                  "SingleAvailabilityZone": False,
                                  "RegionNames": list(regions), "MaxResults": 10}
            while True:
                resp = ec2.get_spot_placement_scores(**kw)
                raw.extend(resp.get("SpotPlacementScores") or [])
                token = resp.get("NextToken")
                if not token:
                    break
                kw["NextToken"] = token
            return scaling.best_region_scores(raw)
        except Exception as err:
            if target > 1 and _capacity_too_high(err):
                target //= 2
                continue
            raise
    return {}


def _capacity_too_high(err: BaseException) -> bool:
    code = error_code(err)
    text = str(err).lower()
    return bool(code) and ("targetcapacity" in code.lower() or "limitexceeded" in code.lower()
                           or ("target capacity" in text and ("exceed" in text or "limit" in text)))


def weights_for_queue(cfg: Any, queue: Any, ec2: Any) -> dict[str, int]:
    cluster = cfg.get("clusters", queue.cluster)
    regions = sorted(cfg.queue_weights(queue))
    types = [t for t in cluster.instance_types if t != "optimal"]
    if not types:
        return scaling.default_weights(regions)
    scores = placement_scores(ec2, types, regions, cluster.max_vcpus)
    return scaling.weights_from_scores(scores, regions)


def refresh_weights(cfg: Any, queue_name: str | None = None, *,
                    session: AwsSession | None = None, store: Any = None,
                    publish: bool = True) -> dict[str, dict[str, int]]:
    """Recompute the ``auto`` weights of ``queue_name`` (or of every auto queue) and keep
    them in the host's state and for the running scaler. Returns ``{queue: {region: w}}``."""
    if queue_name:
        q = cfg.get("queues", queue_name)
        if not is_auto(q):
            raise UsageError(f"queues refresh-weights: queue {queue_name!r} has integer weights; "
                             "only 'auto' weights come from spot placement scores",
                             fix=f"set them to auto (queues update-queue --name {queue_name} "
                                 "--automate-region-weights True)")
        queues = [q]
    else:
        queues = [q for _, q in sorted(cfg.queues.items()) if is_auto(q)]
        if not queues:
            raise UsageError(f"queues refresh-weights: no queue of host {cfg.host.name!r} has "
                             "'auto' weights", fix="give a queue auto weights first")
    session = session or AwsSession(cfg.host.main_region)
    with aws_errors("refreshing spot placement scores", region=cfg.host.main_region):
        ec2 = session.client("ec2")
        result = {q.name: weights_for_queue(cfg, q, ec2) for q in queues}
    save_weights(cfg.host.name, result, store=store)
    if publish:
        publish_weights(session, cfg.host.name, result)
    return result


def save_weights(host: str, weights: dict[str, dict[str, int]], *, store: Any = None) -> None:
    """Merge into the host's stored look-ups (``hyper_tui.aws.infra.lookups`` shape)."""
    from hyper_tui.local.apply import open_store

    try:
        from hyper_tui.aws.synth import LOOKUPS_META_KEY
    except ImportError:  # pragma: no cover - synth ships with the package
        LOOKUPS_META_KEY = "aws_lookups"  # noqa: N806
    own = store is None
    store = store or open_store(host)
    try:
        raw = store.get_meta(LOOKUPS_META_KEY)
        data = json.loads(raw) if raw else {}
        data.setdefault("weights", {}).update(weights)
        data["weights_refreshed_at"] = round(time.time(), 3)
        store.set_meta(LOOKUPS_META_KEY, json.dumps(data, sort_keys=True))
    finally:
        if own:
            store.close()


def publish_weights(session: AwsSession, host: str, weights: dict[str, dict[str, int]]) -> bool:
    """Merge into the jobs table's weights item, which the scaler reads every pass. False
    when the host is not deployed yet (the weights then apply at the first deploy)."""
    from hyper_tui.aws.scaler import read_weights
    from hyper_tui.aws.table import to_item

    table = schema.jobs_table_name(host)
    try:
        with aws_errors("storing the weights for the scaler", region=session.region):
            ddb = session.client("dynamodb")
            merged = read_weights(ddb, table)
            merged.update(weights)
            ddb.put_item(TableName=table, Item=to_item({
                "id": schema.META_WEIGHTS_ID, "weights": merged, "updated": round(time.time(), 3)}))
    except NotFoundError:
        return False
    return True
