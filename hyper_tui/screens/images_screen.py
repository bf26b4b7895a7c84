from __future__ import annotations

from hyper_tui.screens.resource_screen import ResourceScreen


class ImagesScreen(ResourceScreen):
    SECTION = "images"
    KIND = "images"
    COLUMNS = ("directory", "build_args")
