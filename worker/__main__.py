"""``python -m hyper_tui.agent``: run the worker agent with a transport.

    python -m hyper_tui.agent --transport local --store PATH --queue Q --definition D [--region R]
    python -m hyper_tui.agent --transport aws   (configured by the HYPER_* environment, see start.sh)
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hyper_tui.agent", description=__doc__)
    p.add_argument("--transport", choices=("local", "aws"), default="local")
    p.add_argument("--store", help="local: the host's store.db")
    p.add_argument("--queue", default=os.environ.get("HYPER_QUEUE"))
    p.add_argument("--definition", default=os.environ.get("HYPER_DEFINITION"))
    p.add_argument("--region", default=os.environ.get("HYPER_REGION", "local"))
    p.add_argument("--worker-id", default=None)
    p.add_argument("--vcpus", type=int, default=1)
    p.add_argument("--idle-timeout", type=float, default=30.0)
    p.add_argument("--heartbeat", type=float, default=2.0)
    p.add_argument("--max-jobs", type=int, default=None)
    args = p.parse_args(argv)
    if not args.queue or not args.definition:
        p.error("--queue and --definition are required (or HYPER_QUEUE / HYPER_DEFINITION)")
    wid = args.worker_id or f"w-{uuid.uuid4().hex[:8]}"
    access = None
    from hyper_tui.agent.loop import AgentOptions, run_agent

    if args.transport == "local":
        if not args.store:
            p.error("--store is required with --transport local")
        from hyper_tui.agent.transports.local import LocalTransport

        transport = LocalTransport(args.store, worker_id=wid, queue=args.queue,
                                   definition=args.definition, region=args.region, vcpus=args.vcpus)
    else:
        from hyper_tui.agent.job_credentials import JobAccess, protect_agent
        from hyper_tui.agent.transports.aws import AwsTransport

        transport = AwsTransport.from_environment(worker_id=wid, queue=args.queue,
                                                  definition=args.definition)
        # Jobs get their role's credentials and a uid of their own, never the agent's.
        access = JobAccess.from_environment(dict(os.environ), transport.session, worker_id=wid,
                                            region=args.region if args.region != "local"
                                            else transport.session.region)
        protect_agent()
    opts = AgentOptions(idle_timeout=args.idle_timeout, max_jobs=args.max_jobs,
                        heartbeat_every=args.heartbeat,
                        own_process=True,  # scratch: containment.default_scratch()
                        job_access=access)
    try:
        run_agent(transport, opts)
    finally:
        if access is not None:
            access.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
