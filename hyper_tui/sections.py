"""The TUI's sections: one registry from which the sidebar, the app's modes (number keys), the
command palette and the help are derived. A new section is one entry here and its screen.

No Textual import: the registry is plain data (screens are named ``module:Class`` and
imported when first shown).
"""

from __future__ import annotations

from dataclasses import dataclass

_RESOURCE_ACTIONS = (("add", "a"), ("update", "u"), ("delete", "d"), ("details", "enter"))


@dataclass(frozen=True)
class Action:
    """A screen action offered in the command palette: ``action_<name>`` of the screen."""

    name: str
    title: str
    key: str


@dataclass(frozen=True)
class Section:
    key: str          # its number key
    mode: str         # the app mode (and the sidebar option id)
    label: str
    description: str
    screen: str       # "module:Class" under hyper_tui.screens
    actions: tuple[Action, ...] = ()


def _resource(key: str, kind: str, label: str, description: str, screen: str) -> Section:
    one = kind[:-1]
    return Section(key, kind, label, description, screen,
                   tuple(Action(verb, f"{verb} {one}", k) for verb, k in _RESOURCE_ACTIONS))


SECTIONS: tuple[Section, ...] = (
    Section("1", "hosts", "Hosts", "create, select, import and delete hosts",
            "hosts_screen:HostsScreen",
            (Action("create", "create host", "a"), Action("select", "select host", "enter"),
             Action("import", "import an aws deployment", "i"), Action("delete", "delete host", "d"))),
    _resource("2", "regions", "Regions", "worker pools or AWS regions", "regions_screen:RegionsScreen"),
    _resource("3", "clusters", "Clusters", "compute capacity (vCPUs, spot or on-demand)",
              "clusters_screen:ClustersScreen"),
    _resource("4", "queues", "Queues", "job queues and their region weights", "queues_screen:QueuesScreen"),
    _resource("5", "images", "Images", "container images built and replicated", "images_screen:ImagesScreen"),
    _resource("6", "definitions", "Definitions", "job definitions: image, vCPUs, memory, retries",
              "definitions_screen:DefinitionsScreen"),
    Section("7", "jobs", "Jobs", "live jobs table: filter, submit, cancel, logs", "jobs_screen:JobsScreen",
            (Action("submit", "submit jobs", "s"), Action("cancel_jobs", "cancel selected jobs", "x"),
             Action("release_jobs", "release held jobs (qrls)", "u"),
             Action("logs", "show the log of the job", "l"), Action("details", "job details", "enter"),
             Action("select_all", "select every job that matches the filter", "a"),
             Action("focus_filter", "filter by name, command or reason", "/"),
             Action("toggle_regex", "filter by regular expression", "ctrl+r"),
             Action("sort", "sort by the next column (all jobs)", "o"),
             Action("reverse", "reverse the sort", "O"), Action("jump", "jump to a job id", ":"),
             Action("first_page", "first page", "g"), Action("last_page", "last page", "G"))),
    Section("8", "dashboard", "Dashboard", "jobs by state, throughput, workers and vCPUs",
            "dashboard_screen:DashboardScreen"),
    Section("9", "deployments", "Deployments", "synth and deploy (aws) or the apply log (local)",
            "deployments_screen:DeploymentsScreen",
            (Action("deploy", "synth and deploy (aws)", "D"), Action("cancel_deploy", "cancel the deploy", "c"))),
)

BY_MODE: dict[str, Section] = {s.mode: s for s in SECTIONS}
