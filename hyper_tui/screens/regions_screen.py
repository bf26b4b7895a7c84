from __future__ import annotations

from hyper_tui.screens.resource_screen import ResourceScreen


class RegionsScreen(ResourceScreen):
    """Regions: AWS regions of an aws host, worker pools of a local host."""

    SECTION = "regions"
    KIND = "regions"
    COLUMNS = ("main", "vpc_cidr", "vpc_id", "subnet_config", "worker_slots")
