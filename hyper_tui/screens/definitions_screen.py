from __future__ import annotations

from hyper_tui.screens.resource_screen import ResourceScreen


class DefinitionsScreen(ResourceScreen):
    SECTION = "definitions"
    KIND = "definitions"
    COLUMNS = ("image", "image_uri", "vcpus", "memory_mib", "jobs_to_workers_ratio", "retries")

    def choices(self) -> dict[str, tuple[str, ...]]:
        return {"image": tuple(sorted(self.cfg.images))} if self.cfg and self.cfg.images else {}
