"""Deploy an aws host: synth (offline), then the CDK CLI, with progress per stack.

``deploy(cfg, on_event=...)`` synthesizes the host's stacks (``hyper_tui.aws.synth``), finds
the CDK CLI (``cdk`` on PATH, else npm package ``aws-cdk`` installed once into the user cache
directory), optionally bootstraps the host's environments, then runs::

    cdk deploy --app <cloud assembly> --all --require-approval never --progress events
               --no-notices --no-color --ci --outputs-file <dir>/outputs.json

with ``CDK_DISABLE_CLI_TELEMETRY=true``. Each output line becomes a :class:`DeployEvent`
``(stack, status, line)`` — :func:`parse_line` is pure, so the TUI and the CLI show the same
progress. At the end every resource of the host gets its status (ACTIVE, or FAILED when a
stack it lives in did not deploy) and the relevant log lines in the store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from hyper_tui import paths
from hyper_tui.aws import schema
from hyper_tui.config import HostConfig
from hyper_tui.core.errors import UnavailableError, ValidationError

# Statuses of a DeployEvent.
PUBLISHING, DEPLOYING, IN_PROGRESS = "PUBLISHING", "DEPLOYING", "IN_PROGRESS"
ACTIVE, FAILED, OUTPUT, LOG = "ACTIVE", "FAILED", "OUTPUT", "LOG"

CLI_PACKAGE = "aws-cdk"
ENV = {"CDK_DISABLE_CLI_TELEMETRY": "true", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
       "NO_COLOR": "1", "FORCE_COLOR": "0", "CI": "true"}
LOG_LINES_PER_RESOURCE = 60


class DeployEvent(NamedTuple):
    stack: str | None  # None: a line about the whole deployment
    status: str        # PUBLISHING DEPLOYING IN_PROGRESS ACTIVE FAILED OUTPUT LOG
    line: str


# ---- parsing cdk output (pure) -----------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_OK = re.compile(r"^\s*✅\s+(?P<stack>\S+)")
_FAILED = re.compile(r"^\s*❌\s+(?P<stack>\S+) failed:")
_DEPLOY_FAILED = re.compile(r"^\s*❌\s+Deployment failed:")
_EVENT = re.compile(r"^(?P<stack>[A-Za-z][A-Za-z0-9-]*) \|(?:\s*\d+/\d+ \|)?\s*[^|]+\|\s*"
                    r"(?P<status>[A-Z_]+)\s*\|")
_PREFIX = re.compile(r"^(?P<stack>[A-Za-z][A-Za-z0-9-]*)(?::| \|)\s*(?P<rest>.*)$")
_OUTPUT = re.compile(r"^(?P<stack>[A-Za-z][A-Za-z0-9-]*)\.(?P<key>[A-Za-z0-9]+) = ")


def clean(line: str) -> str:
    return _ANSI.sub("", line).rstrip("\r\n")


def parse_line(raw: str, stacks: Iterable[str]) -> DeployEvent:
    """What one line of ``cdk deploy --progress events`` output says, about which stack."""
    line = clean(raw)
    known = set(stacks)
    if m := _OK.match(line):
        if m["stack"] in known:
            return DeployEvent(m["stack"], ACTIVE, line)
    if m := _FAILED.match(line):
        return DeployEvent(m["stack"] if m["stack"] in known else None, FAILED, line)
    if _DEPLOY_FAILED.match(line):
        return DeployEvent(None, FAILED, line)
    if (m := _OUTPUT.match(line)) and m["stack"] in known:
        return DeployEvent(m["stack"], OUTPUT, line)
    if (m := _EVENT.match(line)) and m["stack"] in known:
        return DeployEvent(m["stack"], IN_PROGRESS, line)
    if (m := _PREFIX.match(line)) and m["stack"] in known:
        rest = m["rest"]
        if rest.startswith("fail:"):
            return DeployEvent(m["stack"], FAILED, line)
        if rest.startswith(("start:", "success:", "debug:")):
            return DeployEvent(m["stack"], PUBLISHING, line)
        if rest.startswith(("deploying...", "creating CloudFormation changeset",
                            "updating stack", "checking if")):
            return DeployEvent(m["stack"], DEPLOYING, line)
        return DeployEvent(m["stack"], LOG, line)
    return DeployEvent(None, LOG, line)


@dataclass
class Progress:
    """Folds events: each stack's latest status and its lines."""

    stacks: list[str]
    status: dict[str, str] = field(default_factory=dict)
    lines: dict[str | None, list[str]] = field(default_factory=dict)
    failure: str | None = None

    def feed(self, raw: str) -> DeployEvent:
        event = parse_line(raw, self.stacks)
        self.lines.setdefault(event.stack, []).append(event.line)
        if event.stack is not None and event.status not in (LOG, OUTPUT):
            if self.status.get(event.stack) not in (ACTIVE, FAILED) or event.status == FAILED:
                self.status[event.stack] = event.status
        if event.status == FAILED and self.failure is None:
            self.failure = event.line.strip()
        return event

    def final(self, returncode: int) -> dict[str, str]:
        """ACTIVE or FAILED for every stack (a stack never reached failed with the run)."""
        del returncode  # a stack that printed its tick deployed, whatever came after it
        return {s: ACTIVE if self.status.get(s) == ACTIVE else FAILED for s in self.stacks}


# ---- the CDK CLI -------------------------------------------------------------------------------


def cache_dir() -> Path:
    home = os.environ.get("HYPER_HOME")
    if home:
        return Path(home) / "cache" / "cdk-cli"
    import platformdirs

    return Path(platformdirs.user_cache_dir(paths.APP_NAME)) / "cdk-cli"


@dataclass(frozen=True)
class CdkCli:
    argv: list[str]       # how to run it
    needs_install: bool   # npm install first


def find_cdk(cache: Path, which: Callable[[str], str | None] = shutil.which) -> CdkCli:
    """``cdk`` on PATH; else the copy installed in the cache; else install it there."""
    found = which("cdk")
    if found:
        return CdkCli([found], False)
    local = cache / "node_modules" / ".bin" / "cdk"
    return CdkCli([str(local)], not local.exists())


def install_command(cache: Path) -> list[str]:
    return ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund",
            "--loglevel", "error", CLI_PACKAGE]


def deploy_command(cdk: list[str], assembly: Path, outputs: Path,
                   stacks: list[str] | None = None) -> list[str]:
    return [*cdk, "deploy", "--app", str(assembly), *(stacks or ["--all"]),
            "--require-approval", "never", "--progress", "events", "--no-notices",
            "--no-color", "--ci", "--outputs-file", str(outputs)]


def bootstrap_command(cdk: list[str], assembly: Path) -> list[str]:
    return [*cdk, "bootstrap", "--app", str(assembly), "--no-notices", "--no-color", "--ci"]


def cli_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(ENV)
    return env


def run_lines(argv: list[str], *, cwd: Path, env: dict[str, str],
              cancel: threading.Event | None = None) -> Iterator[str | int]:
    """Run ``argv``; yield each output line (stdout and stderr), then the exit code.
    Setting ``cancel`` terminates the process (the CDK CLI stops its deployment cleanly)."""
    try:
        proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                encoding="utf-8", errors="replace", bufsize=1)
    except FileNotFoundError as err:
        raise UnavailableError(f"cannot run {argv[0]}: {err.strerror}",
                               fix="install Node.js (npm) or the CDK CLI (npm i -g aws-cdk)") \
            from None
    assert proc.stdout is not None
    if cancel is not None:
        def watch() -> None:
            while proc.poll() is None:
                if cancel.wait(0.2):
                    proc.terminate()
                    return
        threading.Thread(target=watch, daemon=True, name="cdk-cancel").start()
    with proc.stdout:
        yield from proc.stdout
    code = proc.wait()
    if cancel is not None and cancel.is_set():
        raise UnavailableError(f"{os.path.basename(argv[0])} was cancelled",
                               fix="run the deploy again to finish it")
    yield code


def ensure_cdk(cache: Path, emit: Callable[[DeployEvent], None],
               which: Callable[[str], str | None] = shutil.which) -> list[str]:
    cli = find_cdk(cache, which)
    if not cli.needs_install:
        return cli.argv
    cache.mkdir(parents=True, exist_ok=True)
    emit(DeployEvent(None, LOG, f"installing the CDK CLI ({CLI_PACKAGE}) into {cache}"))
    code = 1
    for item in run_lines(install_command(cache), cwd=cache, env=cli_env()):
        if isinstance(item, int):
            code = item
        else:
            emit(DeployEvent(None, LOG, clean(item)))
    if code != 0 or not Path(cli.argv[0]).exists():
        raise UnavailableError(f"npm could not install {CLI_PACKAGE} (exit {code})",
                               fix="check the network and npm, or install it: npm i -g aws-cdk")
    return cli.argv


# ---- recording -------------------------------------------------------------------------------


def stacks_of(cfg: HostConfig, kind: str, name: str) -> list[str]:
    """The stacks a resource lives in (its status follows theirs)."""
    host, main = cfg.host.name, cfg.host.main_region
    control = schema.control_stack_name(host, main)
    compute = [schema.compute_stack_name(host, r) for r in sorted(cfg.regions)]
    if kind == "regions":
        out = [schema.compute_stack_name(host, name)]
        region = cfg.regions.get(name)
        if region is not None and region.peer_with_main:
            out.append(schema.peering_stack_name(host, main))
        return out
    if kind == "clusters":
        return compute
    if kind == "definitions":
        return [*compute, control]
    return [control]  # queues, images


@dataclass
class DeployResult:
    status: str                       # ACTIVE or FAILED
    stacks: dict[str, str]            # stack -> ACTIVE / FAILED
    failure: str | None
    log_path: Path | None
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)


def record(cfg: HostConfig, result: DeployResult, progress: Progress | None,
           store: Any = None) -> None:
    """Each resource's status and log lines after a deployment, in the host's store."""
    from hyper_tui.local.apply import open_store

    own = store is None
    store = store or open_store(cfg.host.name)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    now = time.time()

    def lines_for(stacks: list[str]) -> str:
        if progress is None:
            return ""
        picked = [ln for s in stacks for ln in progress.lines.get(s, [])
                  if parse_line(ln, progress.stacks).status in (FAILED, ACTIVE)
                  or "FAILED" in ln]
        return "".join(f"  {ln}\n" for ln in picked[-LOG_LINES_PER_RESOURCE:])

    def tx(db: Any) -> None:
        rows = db.execute("SELECT kind, name, status FROM resources").fetchall()
        for kind, name, _status in rows:
            declared = name in cfg.of_kind(kind)
            stacks = stacks_of(cfg, kind, name) if declared else list(result.stacks)
            ok = all(result.stacks.get(s) == ACTIVE for s in stacks) and (
                declared or result.status == ACTIVE)
            if not declared and ok:
                db.execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name))
                continue
            status = ACTIVE if ok else FAILED
            why = "" if ok else f": {result.failure or 'a stack it lives in did not deploy'}"
            log = f"{stamp} deploy {status}{why}\n" + lines_for(stacks)
            db.execute("UPDATE resources SET status=?, log=log || ?, updated=? "
                       "WHERE kind=? AND name=?", (status, log, now, kind, name))
        if result.outputs:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('aws_outputs', ?)",
                       (json.dumps(result.outputs, sort_keys=True),))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('last_deploy', ?)",
                   (json.dumps({"status": result.status, "at": now, "stacks": result.stacks,
                                "log": str(result.log_path or "")}),))

    try:
        store.write(tx)
    finally:
        if own:
            store.close()


# ---- the whole deployment ----------------------------------------------------------------------


def stack_order(assembly: Path) -> list[str]:
    """Stack names of a cloud assembly, dependencies first."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    arts = {k: v for k, v in manifest.get("artifacts", {}).items()
            if v.get("type") == "aws:cloudformation:stack"}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in arts[name].get("dependencies", []):
            if dep in arts:
                visit(dep)
        order.append(name)

    for name in sorted(arts):
        visit(name)
    return [arts[n].get("properties", {}).get("stackName", n) for n in order]


def refuse_placeholders(cfg: HostConfig, lookups: dict[str, Any] | None,
                        assembly_dir: Path | None) -> None:
    """Raise (one line) when the deployment would use placeholder look-ups: those of a ready
    assembly (recorded by its synth), else those ``lookups`` would need."""
    from hyper_tui.aws.infra.lookups import with_placeholders
    from hyper_tui.aws.synth import placeholders_of

    guessed = placeholders_of(assembly_dir) if assembly_dir is not None \
        else with_placeholders(cfg, lookups)[1]
    if guessed:
        raise ValidationError(f"deploy of host {cfg.host.name!r}: the "
                              f"{guessed.describe()} are placeholders, not looked up",
                              fix="run hyper-tui lookups (it needs AWS credentials), then "
                                  "deploy again")


def deploy(cfg: HostConfig, *, lookups: dict[str, Any] | None = None,
           out_dir: Path | None = None, assembly_dir: Path | None = None,
           on_event: Callable[[DeployEvent], None] | None = None, bootstrap: bool = True,
           which: Callable[[str], str | None] = shutil.which,
           cancel: threading.Event | None = None) -> DeployResult:
    """Synthesize (unless ``assembly_dir`` is a ready cloud assembly) and deploy every stack
    of ``cfg``'s host, calling ``on_event`` per output line; record the outcome."""
    host = cfg.host.name
    if assembly_dir is None and lookups is None:
        from hyper_tui.aws.synth import stored_lookups

        lookups = stored_lookups(host)
    refuse_placeholders(cfg, lookups, assembly_dir)
    data = paths.host_data_dir(host)
    log_dir = paths.ensure_private_dir(data / "deploy-logs")
    log_path = log_dir / time.strftime("deploy-%Y%m%d-%H%M%S.log")
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                    encoding="utf-8")  # deploy output may name account details: owner only

    def emit(event: DeployEvent) -> None:
        log.write(event.line + "\n")
        if on_event is not None:
            on_event(event)

    progress: Progress | None = None
    try:
        if assembly_dir is None:
            from hyper_tui.aws.synth import synth

            assembly_dir = Path(out_dir or data / "cdk.out")
            emit(DeployEvent(None, LOG, f"synthesizing {host} into {assembly_dir}"))
            synth(cfg, assembly_dir, lookups=lookups)
        stacks = stack_order(assembly_dir)
        cdk = ensure_cdk(cache_dir(), emit, which)
        env = cli_env()
        if bootstrap:
            code = 1
            for item in run_lines(bootstrap_command(cdk, assembly_dir), cwd=assembly_dir, env=env,
                                  cancel=cancel):
                if isinstance(item, int):
                    code = item
                else:
                    emit(DeployEvent(None, LOG, clean(item)))
            if code != 0:
                raise UnavailableError(f"cdk bootstrap failed (exit {code})",
                                       fix=f"see {log_path}")
        outputs_file = assembly_dir / "outputs.json"
        progress = Progress(stacks)
        code = 1
        for item in run_lines(deploy_command(cdk, assembly_dir, outputs_file),
                              cwd=assembly_dir, env=env, cancel=cancel):
            if isinstance(item, int):
                code = item
            else:
                emit(progress.feed(item))
        final = progress.final(code)
        ok = code == 0 and all(s == ACTIVE for s in final.values())
        outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else {}
        result = DeployResult(ACTIVE if ok else FAILED, final,
                              None if ok else progress.failure or f"cdk deploy exited {code}",
                              log_path, outputs)
    except Exception as err:  # recorded on the resources, then raised to the caller
        emit(DeployEvent(None, FAILED, str(err)))
        known = progress.stacks if progress else []
        result = DeployResult(FAILED, {s: FAILED for s in known}, str(err), log_path)
        record(cfg, result, progress)
        raise
    finally:
        log.close()
    record(cfg, result, progress)
    return result
