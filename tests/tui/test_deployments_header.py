"""While this app deploys, the header says so ("deploying…") in place of the host's last-read
status (it said "not deployed" through a whole first deploy); when the deploy ends, the host's
status is back."""

from __future__ import annotations

from hyper_tui.app import make_app
from hyper_tui.aws import deploy as d
from hyper_tui.messages import DeployFinished
from hyper_tui.widgets.host_header import status_text
from tests.tui.conftest import settle
from tests.tui.test_deployments import header_line, offline_aws  # noqa: F401 - the fixture


def test_an_activity_stands_in_for_the_status():
    line = status_text("prod", "aws", None, "Deployments", width=80, activity="deploying…").plain
    assert "● deploying…" in line and "connecting" not in line
    assert "deploying" not in status_text("prod", "aws", None, "Deployments", width=80).plain


async def test_the_header_says_deploying_while_a_deploy_runs(offline_aws, tmp_path) -> None:  # noqa: F811
    seen: list = []
    header_at_the_end: list[str] = []

    def hook(message) -> None:  # before the app handles the end of the deploy
        if isinstance(message, DeployFinished):
            header_at_the_end.append(header_line(app))
        seen.append(message)

    app = make_app(host="cloud", start="deployments", live=False, remember=False)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await settle(pilot, until=lambda: app.screen.loaded_once and app.host_state[2] is not None)
        await settle(pilot)
        assert "deploying" not in header_line(app)
        # Yes to the confirm of a diff (an empty assembly: the deploy against the unreachable
        # cloud fails, which ends it as any deploy ends).
        app.screen._confirmed(True, d.DiffResult(tmp_path, {}))
        await settle(pilot, until=lambda: any(isinstance(m, DeployFinished) for m in seen),
                     timeout=120)
        assert "● deploying…" in header_at_the_end[0], header_at_the_end
        await settle(pilot)
        assert "deploying" not in header_line(app), header_line(app)
        assert app.activity is None
