"""One submitting process of scenario 3 (run as ``python -m tests.reliability.submitter``).

It waits for the start file (so all submitters begin together), then submits ``--jobs`` jobs
in four ways, most of them as separate small transactions:

* ``--singles`` one-job ``qsub`` calls, in-process (``qsub.main``: one transaction each);
* ``--cli`` one-job ``qsub`` commands, each its own process;
* ``--batches`` ``qsub --stdin`` batches of ``--batch-size`` commands;
* one array ``qsub -J`` with the rest.

Every call's exit code and stderr are kept: the process prints the stderr lines of failed or
noisy calls to its own stderr, writes the ids it got to ``--out`` (JSON) and exits 1 if any
call failed.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def _inproc(argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    from hyper_tui.qcmd import qsub

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = qsub.main(argv)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--marker", required=True)
    p.add_argument("--jobs", type=int, required=True)
    p.add_argument("--singles", type=int, required=True)
    p.add_argument("--cli", type=int, required=True)
    p.add_argument("--batches", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--start", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    common = ["-v", f"RELIABILITY_RUN={a.marker}", "-N", a.name]
    results: list[dict] = []

    def record(kind: str, n: int, code: int, out: str, err: str) -> None:
        results.append({"kind": kind, "n": n, "code": code, "ids": out.split(), "stderr": err})

    start = Path(a.start)
    while not start.exists():
        time.sleep(0.005)
    t0 = time.monotonic()
    array = a.jobs - a.singles - a.cli - a.batches * a.batch_size
    assert array >= 1, "the sizes leave nothing for the array"
    plan = (["single"] * a.singles + ["cli"] * a.cli + ["batch"] * a.batches)
    # Interleave the kinds, so small and big transactions contend all along.
    random.Random(a.name).shuffle(plan)
    order = []
    counts = {"single": 0, "cli": 0, "batch": 0}
    for kind in plan:
        order.append((kind, counts[kind]))
        counts[kind] += 1
    order.insert(len(order) // 2, ("array", 0))
    for kind, i in order:
        if kind == "single":
            argv = [*common, "--", "true"] if i % 2 else [*common, "-c", f"true {i}"]
            record(kind, 1, *_inproc(argv))
        elif kind == "cli":
            r = subprocess.run([sys.executable, "-m", "hyper_tui.qcmd.qsub", *common, "--", "true"],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
            record(kind, 1, r.returncode, r.stdout, r.stderr)
        elif kind == "batch":
            lines = "".join(f"true {a.name} {i} {k}\n" for k in range(a.batch_size))
            record(kind, a.batch_size, *_inproc([*common, "--stdin"], stdin=lines))
        else:
            record(kind, array, *_inproc([*common, "-J", f"1-{array}", "--", "true"]))
    failed = [r for r in results if r["code"] != 0 or r["stderr"]]
    for r in failed:
        sys.stderr.write(f"{a.name} {r['kind']}: exit {r['code']}: {r['stderr']}")
    Path(a.out).write_text(json.dumps({"results": results, "seconds": time.monotonic() - t0}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
