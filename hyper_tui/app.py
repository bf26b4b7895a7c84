"""The full-screen app: ``make_app`` (used by ``run_app`` and the tests) and ``HyperApp``.

One app, one host at a time. The host's client is made in a worker (``connect_host``); every
call to it goes through :class:`SerialClient`, so the workers of different screens never share
the store's connection at once. Worker errors become one visible notification
(``on_worker_state_changed``); the app keeps working.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.reactive import reactive
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from hyper_tui.messages import HostConnected, HostStatus
from hyper_tui.sections import SECTIONS
from hyper_tui.ui_settings import UiSettings

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"            # a source checkout
INSTALLED_THEMES_DIR = Path(sys.prefix) / "share" / "hyper-tui" / "themes"  # pip install .
STATUS_S = 3.0


# --------------------------------------------------------------------------------------------
# Themes (data, not code)


def load_themes(extra_dirs: tuple[Path, ...] = ()) -> list[Theme]:
    """Themes from ``themes/*.yaml`` and ``<config dir>/themes/*.yaml``."""
    import yaml

    out: list[Theme] = []
    bundled = THEMES_DIR if THEMES_DIR.is_dir() else INSTALLED_THEMES_DIR
    for folder in (bundled, *extra_dirs):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                out.append(Theme(**data))
            except Exception:  # a broken user theme must not stop the app
                continue
    return out


# --------------------------------------------------------------------------------------------
# The client, serialised


class SerialClient:
    """A HostClient whose calls run one at a time (the local store is one connection)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()
        self.name = client.name
        self.kind = client.kind

    # Calls that open their own connection, so listings go on while they run (a cancel of
    # every matching job takes seconds and reports its progress).
    UNSERIALIZED = frozenset({"cancel_matching"})

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name in self.UNSERIALIZED:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def describe_error(err: BaseException) -> str:
    """One line for a notification: what failed and, when we know, how to fix it."""
    from hyper_tui.core.errors import HyperError

    if isinstance(err, HyperError):
        return str(err)
    name = type(err).__name__
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        return f"cannot reach the AWS endpoint: {err}; check the network and the region"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no AWS credentials found; configure them (aws configure or AWS_PROFILE)"
    if name == "ClientError":
        return f"AWS refused: {err}"
    if isinstance(err, ModuleNotFoundError):
        return f"missing module {err.name!r}: install the aws extra (pip install 'hyper-tui[aws]')"
    return f"{name}: {err}"


# --------------------------------------------------------------------------------------------
# Command palette


def palette_commands(app: HyperApp) -> list[tuple[str, str, Callable[[], Any]]]:
    """Every action of the app, for the command palette: go to a section, each section's
    screen actions (from the sections registry), themes, help, quit."""
    out: list[tuple[str, str, Callable[[], Any]]] = []
    for s in SECTIONS:
        out.append((f"Go to {s.label}", f"{s.key}: {s.description}", partial(app.switch_mode, s.mode)))
    for s in SECTIONS:
        for a in s.actions:
            out.append((f"{s.label}: {a.title}", a.key, partial(app.run_on_screen, s.mode, a.name)))
    for name in app.hyper_themes():
        out.append((f"Theme: {name}", "switch the theme (remembered)", partial(app.set_theme, name)))
    out.append(("Toggle dark / light theme", "t", app.action_toggle_theme))
    out.append(("Fold or unfold the sidebar", "ctrl+b", app.action_toggle_sidebar))
    out.append(("Help: keys", "?", app.action_help))
    out.append(("Quit", "q", app.exit))
    return out


class HyperCommands(Provider):
    """Every action of the app: go to a section, the current screen's actions, themes."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        return palette_commands(self.app)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


# --------------------------------------------------------------------------------------------
# The app


def _modes() -> dict[str, Callable[[], Any]]:
    """One mode per section; its screen is imported when first shown."""
    def lazy(screen: str) -> Callable[[], Any]:
        def make() -> Any:
            import importlib

            module, cls = screen.split(":")
            return getattr(importlib.import_module(f"hyper_tui.screens.{module}"), cls)()
        return make

    return {s.mode: lazy(s.screen) for s in SECTIONS}


class HyperApp(App):
    TITLE = "hyper-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {HyperCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        *[Binding(s.key, f"switch_mode('{s.mode}')", s.label, show=False) for s in SECTIONS],
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("ctrl+p", "command_palette", "Commands", show=False),
        Binding("q", "quit", "Quit"),
    ]
    # Screen classes for the layout (app.tcss): below 100 columns the sidebar folds away.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def action_toggle_sidebar(self) -> None:
        from hyper_tui.widgets.nav_bar import toggle_sidebar

        toggle_sidebar(self)

    # (host name, kind, status dict, error) shown by every header
    host_state: reactive[tuple[Any, ...]] = reactive((None, None, None, None))
    # What this app is doing to the host right now ("deploying…"), shown in the header in place
    # of the host's last-read status; None when nothing.
    activity: reactive[str | None] = reactive(None)

    def __init__(self, *, host: str | None = None, theme: str | None = None,
                 themes: list[Theme] | None = None, clock: Callable[[], float] = time.time,
                 live: bool = True, start: str = "jobs", settings: UiSettings | None = None) -> None:
        self.MODES = _modes()
        super().__init__()
        self.requested_host = host
        self.client: Any = None
        self.clock = clock
        self.live = live
        self.start_mode = start
        self.settings = settings or UiSettings()
        self._hyper_themes: list[str] = []
        for t in themes or []:
            self.register_theme(t)
            self._hyper_themes.append(t.name)
        wanted = theme or self.settings.theme
        if wanted in self.available_themes:
            self.theme = wanted
        elif self._hyper_themes:
            self.theme = self._hyper_themes[0]
        self._remember = True

    # ---- startup and host -------------------------------------------------------------------

    def on_mount(self) -> None:
        self.switch_mode(self.start_mode)
        # Connect after the first frame: its imports (pydantic models, the store) would
        # otherwise compete with the first paint for the GIL.
        self.call_after_refresh(self.connect_host, self.requested_host)
        if self.live:
            self.set_interval(STATUS_S, self.poll_status)

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def connect_host(self, host: str | None) -> None:
        from hyper_tui.hosts import registry

        try:
            ref = registry.resolve(host)
        except Exception as err:
            self.post_message(HostConnected(None, None, describe_error(err)))
            return
        try:
            from hyper_tui.hosts.registry import client_for

            client = client_for(ref.name)
        except Exception as err:
            self.post_message(HostConnected(ref.name, ref.kind, describe_error(err)))
            return
        serial = SerialClient(client)
        self.post_message(HostConnected(ref.name, ref.kind, None, serial))

    def on_host_connected(self, event: HostConnected) -> None:
        old = self.client
        if event.error is None:
            self.client = event.client
            self.poll_status_now(event.client)
        else:
            self.client = None
            self.notify(event.error, title="Host", severity="error", timeout=10)
        if old is not None and old is not self.client:
            self.close_client(old)
        self.host_state = (event.name, event.kind, None, event.error)
        reload = getattr(self.screen, "on_screen_resume", None)
        if reload is not None:
            reload()

    @work(thread=True, group="close", exit_on_error=False)
    def close_client(self, client: Any) -> None:
        client.close()

    def poll_status(self) -> None:
        if self.client is not None:
            self.poll_status_now(self.client)

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def poll_status_now(self, client: Any) -> None:
        try:
            self.post_message(HostStatus(client.status()))
        except Exception as err:
            self.post_message(HostStatus(None, describe_error(err)))

    def on_host_status(self, event: HostStatus) -> None:
        name, kind, old, _ = self.host_state
        if self.client is None or name != self.client.name:
            return
        if event.error:
            self.notify(f"host {name}: {event.error}", title="Host", severity="error")
        elif self.client.capabilities.daemon and old and old.state == "running" \
                and event.status is not None and event.status.state != "running":
            self.notify(f"the daemon of host {name} stopped; queued jobs wait until the next "
                        f"submit starts it (its log: {event.status.details.get('log')})",
                        title="Daemon", severity="warning", timeout=10)
        self.host_state = (name, kind, event.status, event.error)

    # ---- errors -----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            group = event.worker.group or "work"
            self.notify(describe_error(event.worker.error), title=f"{group} failed",
                        severity="error", timeout=10)

    # ---- navigation, help, themes -----------------------------------------------------------

    def run_on_screen(self, mode: str, action: str) -> None:
        self.switch_mode(mode)
        self.call_after_refresh(lambda: self.screen.run_action(action))

    def action_help(self) -> None:
        from hyper_tui.screens.help_modal import HelpModal

        screen = self.screen
        if screen.id == "help":
            return
        name = type(screen).__name__.removesuffix("Screen")
        bindings = [b for cls in reversed(type(screen).__mro__) for b in getattr(cls, "BINDINGS", [])
                    if isinstance(b, Binding)]
        seen: dict[str, Binding] = {}
        for b in bindings:
            seen[b.key] = b
        self.push_screen(HelpModal([b for b in self.BINDINGS if isinstance(b, Binding)], name,
                                   list(seen.values()), key_display=self.get_key_display))

    def hyper_themes(self) -> list[str]:
        return list(self._hyper_themes) or ["textual-dark", "textual-light"]

    def action_toggle_theme(self) -> None:
        names = self.hyper_themes()
        current = self.current_theme
        # Prefer the next theme of the other darkness.
        others = [n for n in names if n in self.available_themes
                  and self.get_theme(n).dark != current.dark] or names
        self.set_theme(others[0])

    def set_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"no theme named {name!r}", severity="error")
            return
        self.theme = name

    def watch_theme(self, name: str) -> None:
        if getattr(self, "_remember", False) and self.live and name != self.settings.theme:
            self.settings.theme = name
            self.save_settings()

    @work(thread=True, exclusive=True, group="settings", exit_on_error=False)
    def save_settings(self) -> None:
        self.settings.save()


def make_app(host: str | None = None, theme: str | None = None, *,
             clock: Callable[[], float] = time.time, live: bool = True, start: str = "jobs",
             remember: bool = True) -> HyperApp:
    """The app as the CLI runs it; tests pass a fixed ``clock`` and ``live=False`` (no timers)."""
    from hyper_tui import paths

    settings = UiSettings.load() if remember else UiSettings()
    themes = load_themes((paths.config_dir() / "themes",))
    app = HyperApp(host=host, theme=theme, themes=themes, clock=clock, live=live, start=start,
                   settings=settings)
    if theme and remember and theme in app.available_themes and theme != settings.theme:
        settings.theme = theme  # --theme NAME is remembered
        settings.save()
    return app


def run_app(host: str | None = None, theme: str | None = None) -> int:
    app = make_app(host=host, theme=theme)
    app.run()
    return app.return_code or 0
