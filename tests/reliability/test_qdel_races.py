"""Scenario 4: qdel racing a claim, and qdel of a job as it finishes. A job ends CANCELLED or
finished, never both: what qdel printed, the job row and the attempts table agree. No job
process outlives its job, and no zombie is left under the daemon or its workers."""

from __future__ import annotations

import random
import time

from tests.reliability.helpers import (
    assert_no_leftovers,
    audit,
    make_host,
    qdel,
    qsub,
    scaled,
    wait_all_final,
    wait_until,
)


def _warm_up(h) -> None:
    """Start the workers and wait until they are idle, so claims race with qdel at once."""
    code, out, err = qsub(*h.qsub_env_args(), "-J", f"1-{h.workers * 4}", "--", "sleep", "0.2")
    assert code == 0, err
    wait_all_final(h, h.workers * 4, timeout=120)
    wait_until(lambda: len(h.rows("SELECT 1 FROM workers WHERE state='IDLE'")) >= 2, timeout=60,
               what="idle workers")


def _check_agreement(h, said: dict[int, str]) -> dict[str, int]:
    """What qdel said about each job against the job row and its attempts."""
    rows = {jid: (state, [o for (o,) in h.rows(
        "SELECT outcome FROM attempts WHERE job_id=? ORDER BY attempt", (jid,))])
        for jid, state in h.rows("SELECT id, state FROM jobs")}
    kinds: dict[str, int] = {}
    for jid, verdict in said.items():
        state, outcomes = rows[jid]
        if verdict == "cancelled":
            assert state == "CANCELLED", f"qdel cancelled job {jid} but it is {state} ({outcomes})"
            assert "succeeded" not in outcomes and "failed" not in outcomes, (jid, outcomes)
            kind = "cancelled_running" if outcomes else "cancelled_queued"
        else:
            assert verdict == state, f"qdel said job {jid} was already {verdict}; it is {state}"
            if verdict == "SUCCEEDED":
                assert outcomes[-1:] == ["succeeded"], (jid, outcomes)
            else:
                assert "succeeded" not in outcomes, (jid, outcomes)
            kind = "finished_first"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _qdel_one(jid: int, ref: str | None = None) -> str:
    code, out, err = qdel(ref or str(jid))
    assert code == 0 and not err, (code, out, err)
    line = out.strip()
    if line.endswith("(process group sent SIGTERM)") or ": cancelled (was" in line:
        return "cancelled"
    assert ": already " in line, line
    return line.split(": already ", 1)[1].split(",", 1)[0]


def test_qdel_races_claims_and_finishes(home):
    h = make_host(workers=4)
    _warm_up(h)
    rng = random.Random(4)
    said: dict[int, str] = {}

    t0 = time.monotonic()
    # A: qdel right after qsub, while idle workers race to claim the job.
    n_claim = scaled(150, minimum=20)
    for i in range(n_claim):
        code, out, err = qsub(*h.qsub_env_args(), "-c", "sleep 0.05 & wait" if i % 2 else "true")
        assert code == 0, err
        jid = int(out.strip())
        if i % 3:
            time.sleep(rng.uniform(0, 0.03))
        said[jid] = _qdel_one(jid)

    t_claim = time.monotonic() - t0
    # B: qdel each job around the moment it finishes (it sleeps 0.3 s after it starts).
    n_finish = scaled(120, minimum=20)
    code, out, err = qsub(*h.qsub_env_args(), "-J", f"1-{n_finish}", "-c",
                          'if [ $((HYPER_ARRAY_INDEX % 5)) = 0 ]; then trap "" TERM; fi; sleep 0.3 & wait')
    assert code == 0, err
    head = int(out.strip().removesuffix("[]"))
    aimed: dict[int, float] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        now = time.time()
        for jid, idx, state, started in h.rows(
                "SELECT id, idx, state, started FROM jobs WHERE array_id=?", (head,)):
            ref = f"{head}[{idx}]"  # a task, not the whole array (qdel HEAD cancels them all)
            if jid in said:
                continue
            if state == "RUNNING" and started:
                aimed.setdefault(jid, started + 0.3 + rng.uniform(-0.12, 0.12))
                if now >= aimed[jid]:
                    said[jid] = _qdel_one(jid, ref)
            elif state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                said[jid] = _qdel_one(jid, ref)  # finished before its aim: qdel it anyway
        if len([j for j in said if j >= head]) >= n_finish:
            break
        time.sleep(0.01)
    t_finish = time.monotonic() - t0 - t_claim
    total = h.workers * 4 + n_claim + n_finish
    wait_all_final(h, total, timeout=120)
    kinds = _check_agreement(h, said)
    a = audit(h)
    assert not a.disagree, a.disagree[:10]
    assert a.duplicated == 0 and a.lost == 0
    assert_no_leftovers(h)
    print("\n" + a.line("qdel-races", faults=len(said),
                        extra=" ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
                        + f" seconds={t_claim:.0f}+{t_finish:.0f}"))
    # Both races really happened: some jobs were cancelled while running, some finished first.
    assert kinds.get("cancelled_running", 0) > 0 and kinds.get("finished_first", 0) > 0, kinds
