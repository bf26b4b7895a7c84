"""While a deploy runs, each stack that ends makes the header read the host's status again
(it said "not deployed" through a whole deploy before)."""

from __future__ import annotations

from hyper_tui.app import make_app
from hyper_tui.aws import schema
from hyper_tui.messages import DeployLines, HostStatus
from tests.tui.conftest import settle
from tests.tui.test_deployments import REGION, offline_aws  # noqa: F401 - the fixture


async def test_a_stack_done_mid_deploy_refreshes_the_header(offline_aws) -> None:  # noqa: F811
    seen: list = []
    app = make_app(host="cloud", start="deployments", live=False, remember=False)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot, until=lambda: app.screen.loaded_once and app.host_state[2] is not None)
        await settle(pilot)
        screen = app.screen
        stacks = [schema.compute_stack_name("cloud", REGION), schema.control_stack_name("cloud", REGION)]
        screen._panels(stacks)
        screen.running = True  # as after the confirm; the events are the parser's kinds
        before = sum(isinstance(m, HostStatus) for m in seen)
        screen.post_message(DeployLines([(stacks[0], "IN_PROGRESS", "1/5 | CREATE_IN_PROGRESS")]))
        await settle(pilot)
        assert sum(isinstance(m, HostStatus) for m in seen) == before  # nothing ended yet
        screen.post_message(DeployLines([(stacks[0], "ACTIVE", f"✅  {stacks[0]}")]))
        await settle(pilot, until=lambda: sum(isinstance(m, HostStatus) for m in seen) > before)
        assert screen.stacks[stacks[0]].outcome == "done"
        screen.running = False
