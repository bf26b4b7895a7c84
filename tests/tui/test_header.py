"""The host header fits on one line from 80 columns up, dropping the least useful parts first,
and always shows the host, its faults (a damaged store, a stopped daemon) and the section."""

from __future__ import annotations

import pytest

from hyper_tui.core.host import HostStatus
from hyper_tui.widgets.host_header import status_text

RUNNING = HostStatus(host="h", kind="local", healthy=True, state="running",
                     summary="daemon running (pid 123456)", details={"pid": 123456},
                     daemon_running=True)
STOPPED = HostStatus(host="h", kind="local", healthy=False, state="stopped",
                     summary="daemon stopped (starts on submit)", details={"pid": None},
                     daemon_running=False)
DAMAGED = HostStatus(host="h", kind="local", healthy=False, state="running",
                     summary="daemon running (pid 7)", details={"pid": 7}, daemon_running=True,
                     store_damaged="PRAGMA quick_check: page 7 is never used")
AWS = HostStatus(host="h", kind="aws", healthy=False, state="UPDATE_ROLLBACK_COMPLETE",
                 summary="deployment UPDATE_ROLLBACK_COMPLETE", details={})


@pytest.mark.parametrize("status", [RUNNING, STOPPED, DAMAGED, AWS])
@pytest.mark.parametrize("section", ["Jobs", "Jobs ▸ log of 4173[97000]"])
@pytest.mark.parametrize("host", ["local", "research-cluster-eu"])
def test_the_header_fits_80_columns(status, section, host):
    kind = status.kind
    line = status_text(host, kind, status, section, width=80).plain
    assert len(line) <= 80, line
    assert host in line and section in line, line
    if status is DAMAGED:
        assert "store damaged" in line
    if status is STOPPED:
        assert "daemon stopped" in line or "daemon down" in line or "down" in line


def test_the_header_is_whole_when_there_is_room():
    line = status_text("local", "local", RUNNING, "Jobs", width=120).plain
    assert line == " hyper-tui   host local (local)  ● daemon running (pid 123456)  ▸ Jobs"
    assert status_text("local", "local", RUNNING, "Jobs").plain == line  # no width: in full
    wide = status_text("local", "local", DAMAGED, "Jobs", width=120).plain
    assert "✖ store damaged: new work refused" in wide
    short = status_text("research-cluster-eu", "local", DAMAGED, "Jobs ▸ log of 4173[97000]",
                        width=80).plain
    assert "✖ store damaged" in short and "● up" in short  # the shortest form
    line = status_text("cluster-eu", "local", STOPPED, "Jobs ▸ log of 4173[97000]", width=80).plain
    assert line.startswith(" hyper-tui ") and "○ daemon down" in line, line


def test_the_local_status_carries_the_daemon_and_store_faults(home):
    from hyper_tui import paths
    from hyper_tui.hosts import registry
    from hyper_tui.local.client import LocalHostClient
    from hyper_tui.local.store import clear_damaged, mark_damaged

    registry.resolve(None)
    client = LocalHostClient("local", start_daemon=False)
    try:
        st = client.status()
        assert st.daemon_running is False and st.store_damaged is None and not st.healthy
        mark_damaged(str(paths.host_data_root("local")), "PRAGMA quick_check: page 7")
        st = client.status()
        assert st.store_damaged and "page 7" in st.store_damaged
        assert "store damaged" in status_text("local", "local", st, "Jobs", width=80).plain
        clear_damaged(str(paths.host_data_root("local")))
        assert client.status().store_damaged is None
    finally:
        client.close()
