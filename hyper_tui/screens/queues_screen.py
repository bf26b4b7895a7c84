from __future__ import annotations

from hyper_tui.screens.resource_screen import ResourceScreen


class QueuesScreen(ResourceScreen):
    SECTION = "queues"
    KIND = "queues"
    COLUMNS = ("cluster", "weights", "max_running", "optimise_spot_cost")

    def choices(self) -> dict[str, tuple[str, ...]]:
        return {"cluster": tuple(sorted(self.cfg.clusters))} if self.cfg and self.cfg.clusters else {}

    def initial(self) -> dict:
        clusters = sorted(self.cfg.clusters) if self.cfg else []
        return {"cluster": clusters[0]} if len(clusters) == 1 else {}
