"""Deploy an aws host: synth (offline), ``cdk diff``, a scoped ``cdk bootstrap``, then
``cdk deploy`` of exactly the assembly the diff showed, with progress per stack.

``diff(cfg)`` synthesizes the host's stacks (``hyper_tui.aws.synth``), finds the CDK CLI
(``cdk`` on PATH, else npm package ``aws-cdk`` installed once into the user cache directory)
and runs ``cdk diff``; :func:`parse_diff` (pure) splits its output per stack
(:class:`StackDiff`: lines and the count of resources to add, change and remove).
``deploy(cfg, assembly_dir=diff.assembly, approval=APPROVED)`` bootstraps (``run_bootstrap``:
the execution policy and permissions boundary of ``infra/bootstrap.py`` created in IAM, then
``cdk bootstrap --cloudformation-execution-policies ... --custom-permissions-boundary ...``;
API Gateway's CloudWatch Logs role of the account kept or set, ``account_settings``), merges
the host's ECR replication rule into the registry's configuration, and runs::

    cdk deploy --app <cloud assembly> --all --require-approval <never|broadening>
               --progress events --no-notices --no-color --ci --outputs-file <dir>/outputs.json

with ``CDK_DISABLE_CLI_TELEMETRY=true``; ``never`` only when a person approved the diff.
Each output line becomes a :class:`DeployEvent` ``(stack, status, line)`` — :func:`parse_line`
is pure, so the TUI and the CLI show the same progress. At the end every resource of the host
gets its status (ACTIVE, or FAILED when a stack it lives in did not deploy) and the relevant
log lines in the store, and the store keeps the last deploy (``last_deploy``).
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
_FAILED = re.compile(r"^\s*❌\s+(?P<stack>\S+) failed(?::| to deploy)")
_REASON = re.compile(r"^\s*‣\s+(?P<why>.+)$")  # the line after a failure: its cause
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
    reason_due: bool = False  # the line after the first failure may give its cause

    def feed(self, raw: str) -> DeployEvent:
        event = parse_line(raw, self.stacks)
        self.lines.setdefault(event.stack, []).append(event.line)
        if event.stack is not None and event.status not in (LOG, OUTPUT):
            if self.status.get(event.stack) not in (ACTIVE, FAILED) or event.status == FAILED:
                self.status[event.stack] = event.status
        if event.status == FAILED and self.failure is None:
            self.failure = event.line.strip()
            self.reason_due = True
        elif self.reason_due:
            self.reason_due = False
            if (m := _REASON.match(event.line)) and self.failure is not None:
                self.failure = f"{self.failure}: {m['why'].strip()}"
        return event

    def final(self, returncode: int) -> dict[str, str]:
        """ACTIVE or FAILED for every stack (a stack never reached failed with the run)."""
        del returncode  # a stack that printed its tick deployed, whatever came after it
        return {s: ACTIVE if self.status.get(s) == ACTIVE else FAILED for s in self.stacks}


_DIFF_STACK = re.compile(r"^Stack (?P<stack>\S+)(?: \(aws://[^)]*\))?\s*$")
# notes cdk prints between stacks (an environment not bootstrapped yet: diff still works)
_DIFF_NOISE = re.compile(r"^(SSM parameter /cdk-bootstrap/|Parameter /cdk-bootstrap/|\(node:\d+\))")
_DIFF_END = re.compile(r"^\s*✨\s+Number of stacks with differences")
_DIFF_ITEM = re.compile(r"^\[(?P<op>[+~-])\] (?P<type>\S+) ")
NO_DIFFERENCES = "There were no differences"


@dataclass
class StackDiff:
    """What ``cdk diff`` says about one stack: its lines and the count of each change."""

    stack: str
    lines: list[str] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def differs(self) -> bool:
        return bool(self.added or self.changed or self.removed) or (
            bool(self.lines) and not any(NO_DIFFERENCES in ln for ln in self.lines))

    def summary(self) -> str:
        if not self.differs:
            return "no differences"
        return f"{self.added} to add, {self.changed} to change, {self.removed} to remove"


def parse_diff(raw_lines: Iterable[str], stacks: Iterable[str]) -> dict[str, StackDiff]:
    """``cdk diff`` output split per stack (pure). Lines before the first ``Stack X`` header
    (synth and credential notes) belong to no stack and are dropped here."""
    known = list(stacks)
    out = {s: StackDiff(s) for s in known}
    current: StackDiff | None = None
    for raw in raw_lines:
        line = clean(raw)
        if m := _DIFF_STACK.match(line):
            name = m["stack"]
            current = out.setdefault(name, StackDiff(name))
            continue
        if _DIFF_END.match(line):
            current = None
            continue
        if current is None or _DIFF_NOISE.match(line):
            continue
        current.lines.append(line)
        if (m := _DIFF_ITEM.match(line)) and m["type"].startswith(("AWS::", "Custom::")):
            attr = {"+": "added", "~": "changed", "-": "removed"}[m["op"]]
            setattr(current, attr, getattr(current, attr) + 1)
    for d in out.values():  # trailing blank lines
        while d.lines and not d.lines[-1].strip():
            d.lines.pop()
    return out


@dataclass
class DiffResult:
    """Every stack's diff, and the cloud assembly it was computed on: deploying that same
    assembly (``deploy(assembly_dir=result.assembly)``) deploys what was shown."""

    assembly: Path
    stacks: dict[str, StackDiff]   # in deployment order
    log_path: Path | None = None

    @property
    def differs(self) -> bool:
        return any(d.differs for d in self.stacks.values())

    def text(self) -> str:
        """The diff as a person reads it: each stack's header, summary and lines."""
        parts = []
        for d in self.stacks.values():
            parts.append(f"Stack {d.stack}: {d.summary()}")
            if d.differs:
                parts.extend(f"  {ln}" for ln in d.lines)
        return "\n".join(parts)


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


# --require-approval: "never" only when a person approved the diff that ``diff`` showed (the
# CLI's --yes or its y/N question, the TUI's confirm): that diff holds cdk's own IAM-statement
# and security-group tables, what cdk's approval question would show. Otherwise cdk's
# default, "broadening": an IAM or security-group widening is refused (cdk gets no terminal).
APPROVED, BROADENING = "never", "broadening"


def deploy_command(cdk: list[str], assembly: Path, outputs: Path,
                   stacks: list[str] | None = None, *, approval: str = BROADENING) -> list[str]:
    if approval not in (APPROVED, BROADENING):
        raise ValueError(f"approval {approval!r}")
    return [*cdk, "deploy", "--app", str(assembly), *(stacks or ["--all"]),
            "--require-approval", approval, "--progress", "events", "--no-notices",
            "--no-color", "--ci", "--outputs-file", str(outputs)]


def diff_command(cdk: list[str], assembly: Path, stacks: list[str] | None = None) -> list[str]:
    """``cdk diff`` of every stack against what CloudFormation holds (a stack that does not
    exist yet shows every resource added)."""
    return [*cdk, "diff", "--app", str(assembly), *(stacks or []), "--no-notices",
            "--no-color", "--no-change-set"]


@dataclass(frozen=True)
class BootstrapPolicies:
    """What ``cdk bootstrap`` is given instead of AdministratorAccess (``infra/bootstrap.py``)."""

    execution_policy_arn: str   # --cloudformation-execution-policies
    boundary: str               # --custom-permissions-boundary (a policy name)


def environments(cfg: HostConfig) -> list[str]:
    """``aws://ACCOUNT/REGION`` of every region the host's stacks go to."""
    regions = sorted({cfg.host.main_region, *cfg.regions})
    return [f"aws://{cfg.host.account}/{r}" for r in regions]


def bootstrap_command(cdk: list[str], envs: list[str],
                      policies: BootstrapPolicies | None = None) -> list[str]:
    scoped = [] if policies is None else [
        "--cloudformation-execution-policies", policies.execution_policy_arn,
        "--custom-permissions-boundary", policies.boundary]
    return [*cdk, "bootstrap", *envs, *scoped, "--no-notices", "--no-color", "--ci"]


def cli_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(ENV)
    return env


def run_lines(argv: list[str], *, cwd: Path, env: dict[str, str],
              cancel: threading.Event | None = None) -> Iterator[str | int]:
    """Run ``argv``; yield each output line (stdout and stderr), then the exit code.
    Setting ``cancel`` terminates the process (the CDK CLI stops its deployment cleanly).
    The process never reads a terminal: cdk asks its approval question only when its output
    is a terminal (here a pipe), so approval is decided before it runs (``APPROVED``)."""
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
                                "failure": result.failure, "log": str(result.log_path or "")}),))

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


def ensure_policy(iam: Any, arn: str, document: dict[str, Any], description: str) -> str:
    """Create the customer managed policy ``arn`` with ``document``, or make ``document`` its
    default version when it differs (IAM keeps 5 versions: the oldest other one goes)."""
    from urllib.parse import unquote

    name = arn.rsplit("/", 1)[1]
    text = json.dumps(document, sort_keys=True)
    try:
        iam.create_policy(PolicyName=name, PolicyDocument=text, Description=description)
        return "created"
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    held = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
    if isinstance(held, str):
        held = json.loads(unquote(held))
    if held == json.loads(text):
        return "unchanged"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= 5:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]),
                     key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)
    return "updated"


def ensure_bootstrap_policies(cfg: HostConfig, emit: Callable[[DeployEvent], None],
                              session: Any = None) -> BootstrapPolicies:
    """The execution policy and permissions boundary (``infra/bootstrap.py``), created or
    brought up to date in the host's account (IAM is global, bootstrap per account and region:
    one pair per account, shared by its hosts)."""
    from hyper_tui.aws.infra import bootstrap as policies
    from hyper_tui.aws.session import AwsSession, aws_errors

    account, region = cfg.host.account, cfg.host.main_region
    partition = schema.partition(region)
    iam = (session or AwsSession(region)).client("iam")
    execution = policies.policy_arn(account, policies.execution_policy_name(), partition)
    boundary = policies.policy_arn(account, policies.boundary_name(), partition)
    with aws_errors("the bootstrap policies (IAM)", region=region):
        for arn, doc, what in (
                (boundary, policies.permissions_boundary(account, partition),
                 "hyper-tui: the most any role of a hyper-tui host may do"),
                (execution, policies.execution_policy(account, partition),
                 "hyper-tui: what CloudFormation may do for hyper-tui hosts")):
            state = ensure_policy(iam, arn, doc, what)
            emit(DeployEvent(None, LOG, f"policy {arn}: {state}"))
    # The execution role is bounded by its own policy: attaching more to it later gains nothing.
    return BootstrapPolicies(execution, policies.execution_policy_name())


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], cancel: threading.Event | None,
         on_line: Callable[[str], None]) -> int:
    code = 1
    for item in run_lines(argv, cwd=cwd, env=env, cancel=cancel):
        if isinstance(item, int):
            code = item
        else:
            on_line(item)
    return code


def bootstrapped_with(session: Any, region: str, scoped: BootstrapPolicies) -> bool:
    """Whether the region's CDKToolkit stack is complete with these scoped policies."""
    try:
        stack = session.client("cloudformation", region).describe_stacks(
            StackName="CDKToolkit")["Stacks"][0]
    except Exception:  # noqa: BLE001 - not bootstrapped, or not readable: bootstrap
        return False
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return (stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
            and scoped.execution_policy_arn in params.get("CloudFormationExecutionPolicies", "")
            and params.get("InputPermissionsBoundary") == scoped.boundary)


def run_bootstrap(cfg: HostConfig, cdk: list[str], emit: Callable[[DeployEvent], None], *,
                  cancel: threading.Event | None = None, session: Any = None,
                  log_path: Path | None = None, force: bool = False) -> BootstrapPolicies:
    """``cdk bootstrap`` of every environment (account, region) of the host, with the scoped
    execution policy and permissions boundary instead of AdministratorAccess. Environments
    bootstrapped with them already are left alone unless ``force``."""
    from hyper_tui.aws.account_settings import ensure_apigateway_logs_role
    from hyper_tui.aws.infra import bootstrap as policies
    from hyper_tui.aws.session import AwsSession

    session = session or AwsSession(cfg.host.main_region)
    scoped = ensure_bootstrap_policies(cfg, emit, session)
    ensure_apigateway_logs_role(
        cfg, session, lambda line: emit(DeployEvent(None, LOG, line)),
        boundary_arn=policies.policy_arn(cfg.host.account, policies.boundary_name(),
                                         schema.partition(cfg.host.main_region)))
    envs = environments(cfg)
    if not force:
        envs = [e for e in envs if not bootstrapped_with(session, e.rsplit("/", 1)[1], scoped)]
        if not envs:
            emit(DeployEvent(None, LOG, "every region is bootstrapped with the scoped policies"))
            return scoped
    cwd = paths.host_data_dir(cfg.host.name)
    code = _run(bootstrap_command(cdk, envs, scoped), cwd=cwd, env=cli_env(),
                cancel=cancel, on_line=lambda ln: emit(DeployEvent(None, LOG, clean(ln))))
    if code != 0:
        raise UnavailableError(f"cdk bootstrap failed (exit {code})",
                               fix=f"see {log_path}" if log_path else "see its output above")
    return scoped


def bootstrap(cfg: HostConfig, *, on_event: Callable[[DeployEvent], None] | None = None,
              which: Callable[[str], str | None] = shutil.which,
              cancel: threading.Event | None = None, session: Any = None) -> BootstrapPolicies:
    """``hyper-tui bootstrap``: the scoped policies, then ``cdk bootstrap`` of every region."""
    run = _Run(cfg, "bootstrap", on_event)
    try:
        cdk = ensure_cdk(cache_dir(), run.emit, which)
        return run_bootstrap(cfg, cdk, run.emit, cancel=cancel, session=session,
                             log_path=run.log_path, force=True)
    finally:
        run.log.close()


class _Run:
    """One CLI run of a host (diff or deploy): its log file, emit, and the cloud assembly."""

    def __init__(self, cfg: HostConfig, what: str, on_event: Callable[[DeployEvent], None] | None):
        self.cfg = cfg
        self.on_event = on_event
        log_dir = paths.ensure_private_dir(paths.host_data_dir(cfg.host.name) / "deploy-logs")
        self.log_path = log_dir / time.strftime(f"{what}-%Y%m%d-%H%M%S.log")
        # deploy output may name account details: owner only
        self.log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                             "w", encoding="utf-8")

    def emit(self, event: DeployEvent) -> None:
        self.log.write(event.line + "\n")
        self.log.flush()
        if self.on_event is not None:
            self.on_event(event)

    def assembly(self, lookups: dict[str, Any] | None, out_dir: Path | None,
                 assembly_dir: Path | None) -> Path:
        if assembly_dir is not None:
            return Path(assembly_dir)
        from hyper_tui.aws.synth import synth

        host = self.cfg.host.name
        target = Path(out_dir or paths.host_data_dir(host) / "cdk.out")
        self.emit(DeployEvent(None, LOG, f"synthesizing {host} into {target}"))
        synth(self.cfg, target, lookups=lookups)
        return target


def _lookups(cfg: HostConfig, lookups: dict[str, Any] | None,
             assembly_dir: Path | None) -> dict[str, Any] | None:
    if assembly_dir is None and lookups is None:
        from hyper_tui.aws.synth import stored_lookups

        lookups = stored_lookups(cfg.host.name)
    refuse_placeholders(cfg, lookups, assembly_dir)
    return lookups


def diff(cfg: HostConfig, *, lookups: dict[str, Any] | None = None,
         out_dir: Path | None = None, assembly_dir: Path | None = None,
         on_event: Callable[[DeployEvent], None] | None = None,
         which: Callable[[str], str | None] = shutil.which,
         cancel: threading.Event | None = None) -> DiffResult:
    """Synthesize (unless ``assembly_dir`` is given) and run ``cdk diff`` of every stack against
    what CloudFormation holds; nothing is changed. ``on_event`` gets each output line."""
    lookups = _lookups(cfg, lookups, assembly_dir)
    run = _Run(cfg, "diff", on_event)
    lines: list[str] = []
    try:
        assembly = run.assembly(lookups, out_dir, assembly_dir)
        stacks = stack_order(assembly)
        cdk = ensure_cdk(cache_dir(), run.emit, which)

        def line(raw: str) -> None:
            lines.append(raw)
            run.emit(DeployEvent(None, LOG, clean(raw)))

        code = _run(diff_command(cdk, assembly), cwd=assembly, env=cli_env(), cancel=cancel,
                    on_line=line)
        if code != 0:
            last = next((clean(x).strip() for x in reversed(lines) if clean(x).strip()), "")
            raise UnavailableError(f"cdk diff failed (exit {code}): {last}",
                                   fix=f"see {run.log_path}")
        return DiffResult(assembly, parse_diff(lines, stacks), run.log_path)
    finally:
        run.log.close()


def deploy(cfg: HostConfig, *, lookups: dict[str, Any] | None = None,
           out_dir: Path | None = None, assembly_dir: Path | None = None,
           on_event: Callable[[DeployEvent], None] | None = None, bootstrap: bool = True,
           which: Callable[[str], str | None] = shutil.which,
           cancel: threading.Event | None = None,
           approval: str = BROADENING) -> DeployResult:
    """Synthesize (unless ``assembly_dir`` is a ready cloud assembly, e.g. the one a
    :func:`diff` showed), bootstrap with the scoped policies (``bootstrap``), and deploy every
    stack of ``cfg``'s host, calling ``on_event`` per output line; record the outcome.

    ``approval`` is ``APPROVED`` only when a person approved the diff (``--yes``, y to the
    CLI's question, or the TUI's confirm); otherwise cdk refuses security-sensitive changes."""
    lookups = _lookups(cfg, lookups, assembly_dir)
    run = _Run(cfg, "deploy", on_event)
    emit, log_path = run.emit, run.log_path
    progress: Progress | None = None
    try:
        assembly_dir = run.assembly(lookups, out_dir, assembly_dir)
        stacks = stack_order(assembly_dir)
        cdk = ensure_cdk(cache_dir(), emit, which)
        env = cli_env()
        if bootstrap:
            run_bootstrap(cfg, cdk, emit, cancel=cancel, log_path=log_path)
        from hyper_tui.aws.account_settings import ensure_replication
        from hyper_tui.aws.session import AwsSession

        ensure_replication(cfg, AwsSession(cfg.host.main_region),
                           lambda line: emit(DeployEvent(None, LOG, line)))
        outputs_file = assembly_dir / "outputs.json"
        outputs_file.unlink(missing_ok=True)
        progress = Progress(stacks)
        code = 1
        for item in run_lines(deploy_command(cdk, assembly_dir, outputs_file, approval=approval),
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
        run.log.close()
    record(cfg, result, progress)
    return result
