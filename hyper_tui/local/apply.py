"""Applying a saved config to a host's state, in this machine's SQLite store (for every kind:
an aws host keeps its resources' states here too).

Status is state, kept apart from the declared config: each resource's lifecycle status and its
deploy log live in the host's store (``resources`` table). On a local host nothing needs
provisioning, so a change is ACTIVE at once. On an aws host a change is CREATING, UPDATING or
DELETING until ``hyper-tui deploy`` has run (see ``hyper_tui.aws.deploy``).
"""

from __future__ import annotations

import json
import time

from hyper_tui import paths
from hyper_tui.config import KINDS, HostConfig
from hyper_tui.local.store import Store


def open_store(host: str) -> Store:
    paths.ensure_private_dir(paths.host_data_dir(host))
    return Store(paths.store_path(host))


def apply_config(cfg: HostConfig, store: Store | None = None, *, deployed: bool) -> dict[str, str]:
    """Record every resource of ``cfg`` in the store with its new status. ``deployed`` is the
    kind's capability (``Capabilities.deploy``): its client passes it, and
    ``hosts.registry.apply_config`` looks it up by kind, so this module imports no host kind.

    Returns ``{"kind/name": status}`` for what changed.
    """
    own = store is None
    store = store or open_store(cfg.host.name)
    # A kind that is not deployed (local) provisions nothing: a change is ACTIVE at once.
    local = not deployed
    stamp = paths.config_stamp(cfg.host.name)
    now = time.time()
    changed: dict[str, str] = {}

    def tx(db):
        existing = {(k, n): (s, st) for k, n, s, st in
                    db.execute("SELECT kind, name, spec, status FROM resources")}
        seen = set()
        for kind in KINDS:
            for name, res in cfg.of_kind(kind).items():
                spec = json.dumps(res.model_dump(mode="json"), sort_keys=True)
                key = (kind, name)
                seen.add(key)
                old = existing.get(key)
                if old and old[0] == spec and old[1] != "DELETING":
                    continue
                if local:
                    status = "ACTIVE"
                    log = f"{time.strftime('%Y-%m-%d %H:%M:%S')} applied (local host: nothing to provision)\n"
                else:
                    status = "UPDATING" if old else "CREATING"
                    log = f"{time.strftime('%Y-%m-%d %H:%M:%S')} declared; run hyper-tui deploy to provision\n"
                db.execute("INSERT INTO resources (kind, name, spec, status, log, updated) "
                           "VALUES (?,?,?,?,?,?) ON CONFLICT(kind, name) DO UPDATE SET "
                           "spec=excluded.spec, status=excluded.status, "
                           "log=resources.log || excluded.log, updated=excluded.updated",
                           (kind, name, spec, status, log, now))
                changed[f"{kind}/{name}"] = status
        for key in existing.keys() - seen:
            if local:
                db.execute("DELETE FROM resources WHERE kind=? AND name=?", key)
                changed[f"{key[0]}/{key[1]}"] = "DELETED"
            elif existing[key][1] != "DELETING":
                db.execute("UPDATE resources SET status='DELETING', updated=?, log=log || ? "
                           "WHERE kind=? AND name=?",
                           (now, f"{time.strftime('%Y-%m-%d %H:%M:%S')} removed from config; "
                                 "run hyper-tui deploy to delete\n", *key))
                changed[f"{key[0]}/{key[1]}"] = "DELETING"
        db.execute("INSERT OR REPLACE INTO meta VALUES ('config_stamp', ?)", (stamp,))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('host', ?)",
                   (json.dumps(cfg.host.model_dump(mode="json")),))

    try:
        store.write(tx)
    finally:
        if own:
            store.close()
    return changed
