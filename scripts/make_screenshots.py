"""Regenerate screenshots/*.svg: the app's screens with real data, at their real sizes.

    .venv/bin/python scripts/make_screenshots.py [--out screenshots] [--only NAME,...]
    .venv/bin/python scripts/make_screenshots.py --host MY_AWS_HOST --only deployments-aws
    .venv/bin/python scripts/make_screenshots.py --moto [--only deployments-aws,...]

Creates a temporary HYPER_HOME with a local host and a few resources and puts it under load:
thousands of real jobs in every state (an array running through the workers, failures, a
held array, a cancelled sweep, a steady stream faster than the workers, so a backlog of
thousands) and a long job printing a line a second,
so the dashboard has data and the log is captured while the job runs. Then it drives the app
headless (``app.run_test()``) at 120x40, and at 80x24 for the ``-80x24`` shots, and saves each
screen with ``app.save_screenshot()``. The daemon is stopped and the temporary home removed
at the end.

``--host NAME`` shoots an existing host instead (nothing is submitted, HYPER_HOME is left as
it is): ``deployments-aws`` is the aws deployments screen (progress and the diff before a
deploy), made this way from a deployed aws host.

``--moto`` makes the aws deployments shots for real without an account
(``scripts/screenshots_aws.py``): a moto server on localhost, a 3-region aws host deployed
from the Deployments screen by the npm ``cdk`` CLI, shot mid-deploy and at the diff dialog of
a change, at 120x40 and 80x24.
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

FEED_S = 100  # seconds of load before the shots
FEED_PER_S = 100  # jobs submitted a second meanwhile (the workers finish about half)
BIG = (120, 40)
SMALL = (80, 24)
# name: (section, keys pressed once the data is in, theme, terminal size)
SHOTS: dict[str, tuple[str, list[str], str, tuple[int, int]]] = {
    "hosts": ("hosts", [], "hyper-dark", BIG),
    "regions": ("regions", [], "hyper-dark", BIG),
    "clusters": ("clusters", [], "hyper-dark", BIG),
    "queues": ("queues", [], "hyper-dark", BIG),
    "images": ("images", [], "hyper-dark", BIG),
    "definitions": ("definitions", [], "hyper-dark", BIG),
    "jobs": ("jobs", [], "hyper-dark", BIG),
    "jobs-light": ("jobs", [], "hyper-light", BIG),
    "jobs-80x24": ("jobs", [], "hyper-dark", SMALL),
    "jobs-filtered": ("jobs", ["FILTER:render", "STATE:FAILED", "USER:me"], "hyper-dark", BIG),
    "dashboard": ("dashboard", [], "hyper-dark", BIG),
    "dashboard-80x24": ("dashboard", [], "hyper-dark", SMALL),
    "deployments": ("deployments", [], "hyper-dark", BIG),
    "wizard": ("definitions", ["a", *"analysis", "ctrl+n", "ctrl+n", "backspace", "0"], "hyper-dark", BIG),
    "wizard-review": ("queues", ["u", "ctrl+n", "ctrl+n", *"64", "ctrl+n"], "hyper-light", BIG),
    "delete-refused": ("clusters", ["d"], "hyper-dark", BIG),
    "submit": ("jobs", ["s"], "hyper-dark", BIG),
    "submit-80x24": ("jobs", ["s"], "hyper-dark", SMALL),
    "job-details": ("jobs", ["FAILED"], "hyper-dark", BIG),
    "job-log": ("jobs", ["LOGOF:train"], "hyper-dark", BIG),
    "job-log-80x24": ("jobs", ["LOGOF:train"], "hyper-dark", SMALL),
    "help": ("jobs", ["question_mark"], "hyper-dark", BIG),
    "help-80x24": ("jobs", ["question_mark"], "hyper-dark", SMALL),
}
# Shot only with --host (a deployed aws host, after the deployments screen's progress work).
HOST_SHOTS: dict[str, tuple[str, list[str], str, tuple[int, int]]] = {
    "deployments-aws": ("deployments", [], "hyper-dark", BIG),
}


def prepare_host() -> None:
    """A local host under load: every job state, thousands of jobs, metrics sampled while
    they run, a long job printing a line a second (running while the shots are taken)."""
    from hyper_tui import config
    from hyper_tui.core.jobs import ArraySpec, Submission
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient
    from hyper_tui.model import Cluster, Definition, Image, Queue

    registry.resolve(None)
    cfg = config.load("local")
    # Six worker slots on this machine: the jobs mostly sleep, so they share its cores.
    cfg.clusters["default"] = cfg.clusters["default"].model_copy(update={"max_vcpus": 6})
    cfg.clusters["big"] = Cluster(name="big", max_vcpus=64, type="ON_DEMAND", compute_envs=2,
                                  instance_types=["c6i.large", "m6i.xlarge"])
    cfg.queues["fast"] = Queue(name="fast", cluster="default", max_running=3)
    cfg.images["base"] = Image(name="base", directory="./images/base", build_args={"PY": "3.12"})
    cfg.definitions["py"] = Definition(name="py", image="base", vcpus=1, memory_mib=2048,
                                       jobs_to_workers_ratio=4, retries=1)
    client = LocalHostClient("local")
    client.save_config(cfg)
    # The job whose log is shot while it runs: a line a second for ten minutes.
    client.submit([Submission(
        queue="default", definition="default", name="train", priority=10,
        command='for i in $(seq 1 600); do echo "epoch $i  loss 0.$((9000 - i * 7))  '
                'lr 0.001  $(date +%T)"; sleep 1; done')])
    client.submit([Submission(queue="fast", definition="py", name="nightly", command="echo later",
                              hold=True, array=ArraySpec(1, 200))])
    sweep = client.submit([Submission(queue="fast", definition="default", name="sweep",
                                      command="sleep 30", hold=True, array=ArraySpec(1, 200))])
    client.cancel(sweep)
    # A steady stream, faster than the workers finish: a backlog of thousands builds up, so
    # the workers stay busy while the screens are shot and both throughput lines show.
    print(f"  feeding {FEED_S} s of work at {FEED_PER_S} jobs/s ...")
    t0 = time.monotonic()
    for i in range(FEED_S):
        client.submit([Submission(
            queue="default", definition="default", name="render", retries=0,
            command='echo "frame $HYPER_ARRAY_INDEX"; sleep 0.0$(( HYPER_ARRAY_INDEX % 5 )); '
                    '[ $(( HYPER_ARRAY_INDEX % 97 )) -ne 0 ]',
            array=ArraySpec(1, FEED_PER_S))])
        time.sleep(max(0.0, t0 + i + 1 - time.monotonic()))
    # On top of the listing: a failure, a running job and a dependent one (of another user).
    client.submit([Submission(queue="default", definition="default", name="score", retries=0,
                              command="echo scoring; echo 'no labels in batch 7' >&2; exit 3",
                              priority=20)])
    client.submit([Submission(queue="default", definition="default", name="align",
                              command="echo aligned; sleep 300", priority=20, user="dana")])
    client.submit([Submission(queue="fast", definition="py", name="report", command="echo later",
                              depends=[("afterok", "1")], user="dana")])
    time.sleep(6)
    print("  jobs by state:", {k: v for k, v in client.count_jobs().items() if v})
    client.close()


async def shoot(name: str, section: str, keys: list[str], theme: str, out: Path,
                size: tuple[int, int] = BIG) -> None:
    from textual.widgets import Input, Select

    from hyper_tui.app import make_app
    from hyper_tui.screens.log_screen import LogScreen
    from hyper_tui.widgets.jobs_table import JobsTable

    app = make_app(theme=theme, start=section, live=False, remember=False)
    async with app.run_test(size=size) as pilot:
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
                if key == "FAILED" and not any(j.state == "FAILED" for j in table.jobs.values()):
                    app.screen.query_one("#f-state", Select).value = "FAILED"
                    await settle()
                row = next(i for i, k in enumerate(table.keys)
                           if (key == "FAILED" and table.jobs[k].state == "FAILED")
                           or (key == "LOG" and table.jobs[k].name == "train"))
                table.move_cursor(row=row)
                await pilot.press("enter" if key == "FAILED" else "l")
            elif key.startswith("LOGOF:"):  # the log of the newest job of that name
                job = app.client.list_jobs(match=key[6:], limit=1)[0]
                app.push_screen(LogScreen(job.job_id, job.name))
            elif key.startswith("FILTER:"):
                app.screen.query_one("#f-match", Input).value = key[7:]
            elif key.startswith(("STATE:", "USER:")):  # a choice of the state or user filter
                from hyper_tui.core.submit import submitting_user

                kind, value = key.split(":", 1)
                value = submitting_user() if value == "me" else value
                app.screen.query_one(f"#f-{kind.lower()}", Select).value = value
            else:
                await pilot.press(key)
            await settle()
        await settle()
        app.save_screenshot(filename=f"{name}.svg", path=str(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "screenshots"))
    p.add_argument("--only", default="", help="comma-separated shot names (default: all)")
    p.add_argument("--host", help="shoot this existing host (no demo jobs; HOST_SHOTS too)")
    p.add_argument("--moto", action="store_true",
                   help="deploy a 3-region aws host into a local moto server and shoot its "
                        "deployments screen (scripts/screenshots_aws.py)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.moto:
        from scripts import screenshots_aws

        only = {n for n in args.only.split(",") if n}
        if only - set(screenshots_aws.SHOTS):
            p.error(f"with --moto, pick from {', '.join(screenshots_aws.SHOTS)}")
        screenshots_aws.main(out, only, BIG, SMALL)
        return
    shots = {**SHOTS, **HOST_SHOTS} if args.host else SHOTS
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in shots]
    if unknown:
        p.error(f"no shot {', '.join(unknown)}: pick from {', '.join(shots)}"
                + ("" if args.host else " (deployments-aws needs --host)"))
    chosen = {n: v for n, v in shots.items() if not only or n in only}
    if args.host:
        os.environ["HYPER_HOST"] = args.host
        for name, (section, keys, theme, size) in chosen.items():
            asyncio.run(shoot(name, section, keys, theme, out, size))
            print(f"  {out / (name + '.svg')}")
        return
    home = tempfile.mkdtemp(prefix="hyper-shots-")
    os.environ["HYPER_HOME"] = home
    os.environ.pop("HYPER_HOST", None)
    try:
        print("submitting jobs and waiting for some to finish ...")
        prepare_host()
        for name, (section, keys, theme, size) in chosen.items():
            asyncio.run(shoot(name, section, keys, theme, out, size))
            print(f"  {out / (name + '.svg')}")
    finally:
        from hyper_tui.local.daemon_control import stop_daemon

        stop_daemon("local")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
