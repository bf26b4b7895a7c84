"""A submitter that loops until told to stop (``python -m tests.reliability.loop_submitter``):
one-job ``qsub`` calls, in this process (``--inproc``: ``qsub.main``, a new store connection
each call) or as separate ``qsub`` processes, each result appended to ``--out`` as a JSON line
(exit code, the id printed, stderr) the moment it is known."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--marker", required=True)
    p.add_argument("--stop", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--inproc", action="store_true")
    a = p.parse_args()
    argv = ["-v", f"RELIABILITY_RUN={a.marker}", "--", "true"]
    stop = Path(a.stop)
    with open(a.out, "a", buffering=1) as out:
        while not stop.exists():
            if a.inproc:
                from hyper_tui.qcmd import qsub

                o, e = io.StringIO(), io.StringIO()
                with redirect_stdout(o), redirect_stderr(e):
                    code = qsub.main(list(argv))
                res = (code, o.getvalue(), e.getvalue())
            else:
                r = subprocess.run([sys.executable, "-m", "hyper_tui.qcmd.qsub", *argv],
                                   capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                   timeout=120)
                res = (r.returncode, r.stdout, r.stderr)
            out.write(json.dumps({"code": res[0], "out": res[1].strip(), "err": res[2].strip()})
                      + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
