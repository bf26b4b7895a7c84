"""Regenerate screenshots/*.svg: one per screen of the app, with real data.

    .venv/bin/python scripts/make_screenshots.py [--out screenshots]

Creates a temporary HYPER_HOME with a local host and a few resources, submits real jobs (the
daemon starts on submit), waits until some have finished and metrics have been sampled, then
drives the app headless at 120x40 (``app.run_test()``) and saves each screen with
``app.save_screenshot()``. The daemon is stopped and the temporary home removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name: (section, keys pressed once the data is in, theme)
SHOTS = {
    "hosts": ("hosts", [], "hyper-dark"),
    "regions": ("regions", [], "hyper-dark"),
    "clusters": ("clusters", [], "hyper-dark"),
    "queues": ("queues", [], "hyper-dark"),
    "images": ("images", [], "hyper-dark"),
    "definitions": ("definitions", [], "hyper-dark"),
    "jobs": ("jobs", [], "hyper-dark"),
    "jobs-light": ("jobs", [], "hyper-light"),
    "dashboard": ("dashboard", [], "hyper-dark"),
    "deployments": ("deployments", [], "hyper-dark"),
    "wizard": ("definitions", ["a", *"analysis", "ctrl+n", "ctrl+n", "backspace", "0"], "hyper-dark"),
    "wizard-review": ("queues", ["u", "ctrl+n", "ctrl+n", *"64", "ctrl+n"], "hyper-light"),
    "delete-refused": ("clusters", ["d"], "hyper-dark"),
    "submit": ("jobs", ["s"], "hyper-dark"),
    "job-details": ("jobs", ["FAILED"], "hyper-dark"),
    "job-log": ("jobs", ["LOG"], "hyper-dark"),
    "help": ("jobs", ["question_mark"], "hyper-dark"),
}


def prepare_host() -> None:
    from hyper_tui import config
    from hyper_tui.core.jobs import ArraySpec, Submission
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient
    from hyper_tui.model import Cluster, Definition, Image, Queue

    registry.resolve(None)
    cfg = config.load("local")
    cfg.clusters["big"] = Cluster(name="big", max_vcpus=64, type="ON_DEMAND", compute_envs=2,
                                  instance_types=["c6i.large", "m6i.xlarge"])
    cfg.queues["fast"] = Queue(name="fast", cluster="default", max_running=2)
    cfg.images["base"] = Image(name="base", directory="./images/base", build_args={"PY": "3.12"})
    cfg.definitions["py"] = Definition(name="py", image="base", vcpus=1, memory_mib=2048,
                                       jobs_to_workers_ratio=4, retries=1)
    client = LocalHostClient("local")
    client.save_config(cfg)
    client.submit([
        Submission(queue="default", definition="default", name="render",
                   command='sleep 0.$(( HYPER_ARRAY_INDEX % 9 )); echo "frame $HYPER_ARRAY_INDEX done"',
                   array=ArraySpec(1, 60)),
        Submission(queue="fast", definition="default", name="train",
                   command="for i in 1 2 3 4 5 6; do echo epoch $i loss 0.$((9 - i)); sleep 1; done"),
        Submission(queue="fast", definition="default", name="score", command="echo scoring; exit 3",
                   retries=0),
        Submission(queue="fast", definition="py", name="nightly", command="echo later", hold=True),
    ])
    end = time.monotonic() + 90
    while time.monotonic() < end:
        counts = client.count_jobs()
        metrics = client.metrics(time.time() - 600)
        if counts["SUCCEEDED"] >= 61 and counts["FAILED"] >= 1 and len(metrics.get("workers", {}).get(
                "local", [])) >= 5:
            break
        time.sleep(0.5)
    # Something running and something waiting while the screenshots are taken.
    client.submit([Submission(queue="default", definition="default", name="long",
                              command="echo start; sleep 120", array=ArraySpec(1, 4))])
    time.sleep(4)
    print("  jobs by state:", {k: v for k, v in client.count_jobs().items() if v})
    client.close()


async def shoot(name: str, section: str, keys: list[str], theme: str, out: Path) -> None:
    from hyper_tui.app import make_app
    from hyper_tui.widgets.jobs_table import JobsTable

    app = make_app(theme=theme, start=section, live=False, remember=False)
    async with app.run_test(size=(120, 40)) as pilot:
        async def settle() -> None:
            for _ in range(3):
                await pilot.pause()
                await app.workers.wait_for_complete()
            await pilot.pause(0.2)

        while app.client is None:
            await pilot.pause(0.05)
        await settle()
        for key in keys:
            if key in ("FAILED", "LOG"):
                table = app.screen.query_one(JobsTable)
                row = next(i for i, k in enumerate(table.keys)
                           if (key == "FAILED" and table.jobs[k].state == "FAILED")
                           or (key == "LOG" and table.jobs[k].name == "train"))
                table.move_cursor(row=row)
                await pilot.press("enter" if key == "FAILED" else "l")
            else:
                await pilot.press(key)
        await settle()
        app.save_screenshot(filename=f"{name}.svg", path=str(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "screenshots"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="hyper-shots-")
    os.environ["HYPER_HOME"] = home
    os.environ.pop("HYPER_HOST", None)
    try:
        print("submitting jobs and waiting for some to finish ...")
        prepare_host()
        for name, (section, keys, theme) in SHOTS.items():
            asyncio.run(shoot(name, section, keys, theme, out))
            print(f"  {out / (name + '.svg')}")
    finally:
        from hyper_tui.local.daemon_control import stop_daemon

        stop_daemon("local")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
