from __future__ import annotations

from hyper_tui.screens.resource_screen import ResourceScreen


class ClustersScreen(ResourceScreen):
    SECTION = "clusters"
    KIND = "clusters"
    COLUMNS = ("type", "max_vcpus", "instance_types", "allocation_strategy", "compute_envs")
