"""aws tests: one moto server for the session (tests/aws/moto_env.py), reset before each test;
every test gets its own HYPER_HOME with an aws host whose resources are provisioned in moto.
The modules that deploy through CloudFormation use the fixtures of tests/aws/cfn_env.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.aws import moto_env
from tests.aws.cfn_env import cdk_cli, cfn_server, cloud, host_home  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def moto_url() -> str:
    return moto_env.shared_server()


@pytest.fixture(autouse=True)
def fresh_moto(moto_url: str) -> str:
    moto_env.reset(moto_url)
    moto_env.configure(moto_url, {"batch": {"use_docker": False}})
    return moto_url


@dataclass
class AwsHost:
    cfg: Any
    res: moto_env.Provisioned
    client: Any

    @property
    def name(self) -> str:
        return self.cfg.host.name


def make_aws_host(*, lease: float = 15.0, max_receives: int | None = None,
                  queues: tuple[str, ...] = ("q1",), definitions: dict | None = None,
                  regions: tuple[str, ...] = (moto_env.REGION,), weights: dict | None = None,
                  max_vcpus: int = 64) -> AwsHost:
    from hyper_tui.aws import schema
    from hyper_tui.aws.client import AwsHostClient

    cfg = moto_env.make_host(queues=queues, definitions=definitions, regions=regions,
                             lease=lease, weights=weights, max_vcpus=max_vcpus)
    pairs = [(q, d) for q in sorted(cfg.queues) for d in sorted(cfg.definitions)]
    res = moto_env.provision(cfg.host.name, pairs, lease=lease,
                             max_receives=max_receives or schema.MAX_RECEIVES)
    return AwsHost(cfg, res, AwsHostClient(cfg, session=res.session))


@pytest.fixture
def aws_host(home) -> AwsHost:
    return make_aws_host()


class Killed(BaseException):
    """Raised where a test kills the process (kill -9): nothing after that point runs."""


def kill_at(monkeypatch, module, name: str) -> None:
    """``module.name`` kills the process when it is called (see :class:`Killed`)."""

    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(module, name, die)
