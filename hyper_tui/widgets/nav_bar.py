"""The sidebar: one entry per section, with its number key; click or press the number."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Section:
    key: str
    mode: str
    label: str
    description: str


SECTIONS: tuple[Section, ...] = (
    Section("1", "hosts", "Hosts", "create, select, import and delete hosts"),
    Section("2", "regions", "Regions", "worker pools or AWS regions"),
    Section("3", "clusters", "Clusters", "compute capacity (vCPUs, spot or on-demand)"),
    Section("4", "queues", "Queues", "job queues and their region weights"),
    Section("5", "images", "Images", "container images built and replicated"),
    Section("6", "definitions", "Definitions", "job definitions: image, vCPUs, memory, retries"),
    Section("7", "jobs", "Jobs", "live jobs table: filter, submit, cancel, logs"),
    Section("8", "dashboard", "Dashboard", "jobs by state, throughput, workers and vCPUs"),
    Section("9", "deployments", "Deployments", "synth and deploy (aws) or the apply log (local)"),
)

BY_MODE = {s.mode: s for s in SECTIONS}


class NavBar(OptionList):
    """Section list; highlights the current section and switches mode when one is chosen."""

    DEFAULT_CSS = """
    NavBar { width: 20; border: none; padding: 0; background: $panel; }
    NavBar:focus { border: none; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        options = []
        for s in SECTIONS:
            label = Text.assemble((f" {s.key} ", "bold yellow"), s.label)
            options.append(Option(label, id=s.mode))
        super().__init__(*options, **kwargs)
        self.current = current
        self.can_focus = False

    def on_mount(self) -> None:
        self.highlighted = next(i for i, s in enumerate(SECTIONS) if s.mode == self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id != self.current:
            self.app.switch_mode(event.option.id)
        else:
            self.highlighted = next(i for i, s in enumerate(SECTIONS) if s.mode == self.current)
