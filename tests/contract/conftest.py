"""The transport contract harnesses: the same tests drive the local transport (SQLite store of
a temporary HYPER_HOME) and the aws transport (SQS + DynamoDB + CloudWatch Logs in moto)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hyper_tui.core.jobs import Submission

AWS_LEASE = 1.0


class LocalHarness:
    kind = "local"

    def __init__(self) -> None:
        from hyper_tui import paths
        from hyper_tui.hosts import registry
        from hyper_tui.local.store import Store

        registry.create_local_host("ct", select=True)
        self.store_path = paths.store_path("ct")
        self.store = Store(self.store_path)

    def submit(self, n: int, command: str = "true", retries: int = 2) -> list[str]:
        from hyper_tui.local import jobs

        return jobs.submit(self.store, [Submission(queue="default", definition="default",
                                                   name=f"c{i}", command=command, retries=retries)
                                        for i in range(n)])

    def transport(self, wid: str) -> Any:
        from hyper_tui.agent.transports.local import LocalTransport

        return LocalTransport(self.store_path, worker_id=wid, queue="default", definition="default")

    def job(self, key: str) -> dict[str, Any]:
        from hyper_tui.local import jobs

        j = jobs.find_jobs(self.store, key)[0]
        return {"state": j["state"], "attempts": j["attempts"], "retries": j["retries"],
                "worker": j["worker"], "reason": j["reason"]}

    def cancel(self, key: str) -> None:
        from hyper_tui.local import jobs

        jobs.cancel(self.store, [key])

    def logs(self, key: str) -> list[tuple[str, str]]:
        from hyper_tui.local.client import LocalHostClient

        c = LocalHostClient("ct", start_daemon=False)
        try:
            return [(r.type, r.data) for r in c.logs(key).records]
        finally:
            c.close()

    def lose(self, transport: Any) -> None:
        """The worker stops heartbeating: the daemon declares it lost."""
        from hyper_tui.local.daemon import Daemon

        d = Daemon("ct")
        try:
            d.lost_worker(transport.worker_id, f"worker {transport.worker_id} missed its heartbeat")
        finally:
            d.store.close()

    def close(self) -> None:
        self.store.close()


class AwsHarness:
    kind = "aws"

    def __init__(self) -> None:
        from tests.aws.conftest import make_aws_host

        self.h = make_aws_host(lease=AWS_LEASE)

    def submit(self, n: int, command: str = "true", retries: int = 2) -> list[str]:
        return self.h.client.submit([Submission(queue="q1", definition="d1", name=f"c{i}",
                                                command=command, retries=retries)
                                     for i in range(n)])

    def transport(self, wid: str) -> Any:
        from hyper_tui.agent.transports.aws import AwsTransport

        return AwsTransport.for_host(self.h.cfg, worker_id=wid, queue="q1", definition="d1",
                                     session=self.h.res.session, poll_wait=0, lease=AWS_LEASE,
                                     cancel_poll=0.5)

    def job(self, key: str) -> dict[str, Any]:
        from hyper_tui.aws.table import batch_get

        it = batch_get(self.h.res.session.client("dynamodb"), self.h.res.table, [key])[key]
        return {"state": it["state"], "attempts": it.get("attempt", 0),
                "retries": it.get("retries", 0), "worker": it.get("worker"),
                "reason": it.get("reason")}

    def cancel(self, key: str) -> None:
        self.h.client.cancel([key])

    def logs(self, key: str) -> list[tuple[str, str]]:
        return [(r.type, r.data) for r in self.h.client.logs(key).records]

    def lose(self, transport: Any) -> None:
        """The worker stops heartbeating: its lease (message visibility) runs out."""
        time.sleep(AWS_LEASE + 0.3)

    def close(self) -> None:
        pass


@pytest.fixture(params=["local", "aws"])
def harness(request, home):
    if request.param == "aws":
        from tests.aws import moto_env

        url = moto_env.shared_server()
        moto_env.reset(url)
        h: Any = AwsHarness()
    else:
        h = LocalHarness()
    yield h
    h.close()
