"""The resource model: hosts, regions, clusters, queues, images and job definitions.

Every field of the original system (see ``shared/reference/cyclone.md`` §3) has a place here,
with real booleans and numbers. The original's spellings are accepted as aliases so its config
files and commands keep working (``max_vCPUs``, ``computeEnvironment``, ``"True"`` ...).

Each field's ``description`` is the help text shown by ``--help`` and by the TUI wizards, and
``json_schema_extra`` carries the wizard step (``step``), the CLI flags (``flags``), the host
kinds a field means something on (``kinds``: a local host's wizard hides NAT gateways, and
``--help`` says "aws hosts only") and a default that depends on the host (``local_default``:
``"cpu_count"`` for a cluster's vCPUs on a local host), so one declaration drives every front end.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from hyper_tui.core.scaling import LOCAL_SLOTS_PER_CPU

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
AWS_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
VPC_ID_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")


def _to_bool(value: Any) -> Any:
    """Accept the original's ``"True"``/``"False"`` strings (and yes/no, 1/0) as booleans."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "y", "1", "on"):
            return True
        if low in ("false", "no", "n", "0", "off"):
            return False
    return value


def _empty_to_none(value: Any) -> Any:
    """The original stored "nothing" as ``""`` or ``"null"``."""
    if isinstance(value, str) and value.strip().lower() in ("", "null", "none"):
        return None
    return value


Bool = Annotated[bool, BeforeValidator(_to_bool)]


def field(
    default: Any = ...,
    *,
    help: str,
    step: str = "General",
    flags: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    local_default: str | None = None,
    **kwargs: Any,
) -> Any:
    """A model field with its help text, wizard step, CLI flags and accepted aliases; ``kinds``
    names the host kinds it applies to (empty: every kind)."""
    extra: dict[str, Any] = {"step": step, "flags": list(flags)}
    if kinds:
        extra["kinds"] = list(kinds)
    if local_default:
        extra["local_default"] = local_default
    if aliases:
        kwargs["validation_alias"] = AliasChoices("__self__", *aliases)
    return Field(default, description=help, json_schema_extra=extra, **kwargs)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    def public_dict(self) -> dict[str, Any]:
        """The model as plain data, without defaults that say nothing, for YAML and JSON."""
        return self.model_dump(mode="json", exclude_none=True)


def _fix_aliases(cls: type[BaseModel]) -> None:
    """Replace the ``__self__`` placeholder of :func:`field` aliases with the field's own name."""
    changed = False
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and "__self__" in alias.choices:
            info.validation_alias = AliasChoices(
                *[name if c == "__self__" else c for c in alias.choices]
            )
            changed = True
    if changed:
        cls.model_rebuild(force=True)


# --------------------------------------------------------------------------------------------
# Hosts


class HostKind(str, Enum):
    LOCAL = "local"
    AWS = "aws"


class HostSettings(Model):
    enable_dashboard: Bool = field(
        True, help="Create the CloudWatch dashboard.", aliases=("enableDashboard",), kinds=("aws",),
    )
    private_api: Bool = field(False, help="Make the submit API private to the VPC.", kinds=("aws",))
    job_retention_days: int = field(
        30, ge=1, le=3650, help="Days a finished job, its logs and metrics are kept."
    )
    worker_idle_timeout_s: float = field(
        30.0, gt=0, le=86400, help="Seconds an idle worker waits for work before it exits."
    )
    daemon_idle_exit_s: float = field(
        900.0, ge=5, le=7 * 86400,
        help="The daemon stops after this long with no jobs and no workers "
             "(the next qsub starts it again).", kinds=("local",))
    lease_seconds: float = field(
        15.0, ge=1, le=3600, help="A worker silent for this long is lost; its job is requeued."
    )
    log_cap_bytes: int = field(
        1 << 30, ge=1024, help="Bytes of output kept per job; past it, output is dropped with a note."
    )
    table_capacity: Literal["on_demand", "provisioned"] = field(
        "on_demand", help="The jobs table's capacity: on_demand (pay per request) or provisioned "
        "(auto scaled between the table_min/max units: cheaper for steady loads).", kinds=("aws",),
    )
    table_min_write_units: int = field(
        50, ge=1, le=1_000_000, help="Provisioned capacity: the fewest write units a second the "
        "table and each index scale down to.", kinds=("aws",),
    )
    table_max_write_units: int = field(
        40_000, ge=1, le=1_000_000, help="Provisioned capacity: the most write units a second "
        "the table and each index scale up to.", kinds=("aws",),
    )
    table_min_read_units: int = field(
        20, ge=1, le=1_000_000, help="Provisioned capacity: the fewest read units a second.",
        kinds=("aws",),
    )
    table_max_read_units: int = field(
        10_000, ge=1, le=1_000_000, help="Provisioned capacity: the most read units a second.",
        kinds=("aws",),
    )
    table_peak_jobs_per_s: int = field(
        0, ge=0, le=1_000_000, help="The jobs a second a new host should take from its first "
        "minute: the table is pre-warmed for it (WarmThroughput; 0: DynamoDB's default).",
        kinds=("aws",),
    )


class Host(Model):
    name: str = field(help="Host name: letters, digits, - and _, starting with a letter.")
    kind: HostKind = field(HostKind.LOCAL, help="local (this machine) or aws.")
    account: str | None = field(None, help="AWS account id, 12 digits (aws hosts).")
    main_region: str = field("local", help="The main region: an AWS region code for aws hosts.")
    settings: HostSettings = Field(default_factory=HostSettings)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("account", mode="before")
    @classmethod
    def _account(cls, v: Any) -> Any:
        v = _empty_to_none(v)
        if v is None:
            return v
        v = str(v)
        if not ACCOUNT_RE.match(v):
            raise ValueError("an AWS account id is 12 digits, e.g. 123456789012")
        return v

    @model_validator(mode="after")
    def _aws_needs(self) -> Host:
        if self.kind is HostKind.AWS:
            if not self.account:
                raise ValueError("an aws host needs an account (--account 123456789012)")
            if not AWS_REGION_RE.match(self.main_region):
                raise ValueError(
                    f"an aws host needs an AWS region as main region, not {self.main_region!r} "
                    "(--region us-east-1)"
                )
        return self


def check_name(v: str) -> str:
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise ValueError(
            f"{v!r} is not a valid name: use 1-63 letters, digits, - or _, starting with a letter"
        )
    return v


# --------------------------------------------------------------------------------------------
# Regions


class SubnetConfig(str, Enum):
    PUBLIC = "PUBLIC"
    PRIVATE_ISOLATED = "PRIVATE_ISOLATED"
    PRIVATE_WITH_NAT = "PRIVATE_WITH_NAT"


class VpcEndpoints(str, Enum):
    OFF = "OFF"
    DATA_OPTIMISED = "DATA_OPTIMISED"
    FOR_PRIVATE_VPC = "FOR_PRIVATE_VPC"


class Region(Model):
    KIND: ClassVar[str] = "region"

    name: str = field(
        help="Region code (us-east-1) on an aws host; any name for a local worker pool.",
        aliases=("region",),
    )
    main: Bool = field(
        False, help="The main region holds the control plane; exactly one.", aliases=("main_region",)
    )
    vpc_cidr: str | None = field(
        None,
        step="Network",
        help="CIDR of a new VPC, e.g. 10.0.0.0/16 (or import one with vpc_id).",
        aliases=("cidr",), kinds=("aws",),
    )
    vpc_id: str | None = field(None, step="Network", help="Import this VPC (vpc-...) instead.", kinds=("aws",))
    subnet_config: SubnetConfig = field(
        SubnetConfig.PRIVATE_WITH_NAT, step="Network", help="Subnet layout of a new VPC.", kinds=("aws",),
    )
    nat_gateways: int = field(
        2, ge=0, le=6, step="Network", help="NAT gateways for PRIVATE_WITH_NAT subnets.", kinds=("aws",),
    )
    vpc_endpoints: VpcEndpoints = field(
        VpcEndpoints.OFF,
        step="Network",
        help="VPC endpoints: OFF, DATA_OPTIMISED (S3, DynamoDB, ECR, SQS) or FOR_PRIVATE_VPC (all).",
        aliases=("deploy_vpc_endpoints",), kinds=("aws",),
    )
    peer_with_main: Bool = field(
        False,
        step="Network",
        help="Peer this hub's VPC with the main region's VPC.",
        aliases=("peer_with_main_region",), kinds=("aws",),
    )
    worker_slots: int | None = field(
        None,
        ge=1,
        step="Local",
        help=f"Most workers this pool runs at once (default: {LOCAL_SLOTS_PER_CPU} per CPU; the "
             "cluster's max vCPUs caps them too).", kinds=("local",),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if AWS_REGION_RE.match(v):
            return v
        return check_name(v)

    @field_validator("vpc_cidr", "vpc_id", mode="before")
    @classmethod
    def _none(cls, v: Any) -> Any:
        return _empty_to_none(v)

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError:
            raise ValueError(f"{v!r} is not a CIDR block; write it like 10.0.0.0/16") from None
        if net.version != 4 or not 16 <= net.prefixlen <= 28:
            raise ValueError(f"{v!r}: a VPC CIDR is IPv4 with a prefix from /16 to /28")
        return v

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, v: str | None) -> str | None:
        if v is not None and not VPC_ID_RE.match(v):
            raise ValueError(f"{v!r} is not a VPC id; it looks like vpc-0a1b2c3d")
        return v

    @model_validator(mode="after")
    def _rules(self) -> Region:
        if self.vpc_cidr and self.vpc_id:
            raise ValueError("give vpc_cidr (create a VPC) or vpc_id (import one), not both")
        if self.main and self.peer_with_main:
            raise ValueError("the main region cannot peer with itself; set peer_with_main false")
        return self

    @property
    def import_vpc(self) -> bool:
        return self.vpc_id is not None


# --------------------------------------------------------------------------------------------
# Clusters


class CapacityType(str, Enum):
    SPOT = "SPOT"
    ON_DEMAND = "ON_DEMAND"


class AllocationStrategy(str, Enum):
    SPOT_CAPACITY_OPTIMIZED = "SPOT_CAPACITY_OPTIMIZED"
    SPOT_PRICE_CAPACITY_OPTIMIZED = "SPOT_PRICE_CAPACITY_OPTIMIZED"
    BEST_FIT_PROGRESSIVE = "BEST_FIT_PROGRESSIVE"
    BEST_FIT = "BEST_FIT"


def _capacity_type(v: Any) -> Any:
    if isinstance(v, str) and v.strip().upper() in ("ONDEMAND", "EC2", "ON-DEMAND"):
        return "ON_DEMAND"
    return v.strip().upper() if isinstance(v, str) else v


class Cluster(Model):
    KIND: ClassVar[str] = "cluster"

    name: str = field(help="Cluster name.", aliases=("clusterName",))
    instance_types: list[str] = field(
        ["optimal"],
        step="Capacity",
        help='EC2 instance types, or ["optimal"] to let AWS Batch choose.',
        aliases=("instance_list",), kinds=("aws",),
    )
    type: Annotated[CapacityType, BeforeValidator(_capacity_type)] = field(
        CapacityType.SPOT, step="Capacity", help="SPOT or ON_DEMAND capacity.", kinds=("aws",),
    )
    allocation_strategy: AllocationStrategy = field(
        AllocationStrategy.SPOT_CAPACITY_OPTIMIZED,
        step="Capacity",
        help="How AWS Batch picks instances.", kinds=("aws",),
    )
    bid_percentage: int = field(
        100, ge=1, le=100, step="Capacity", help="Most a spot instance may cost, in % of on-demand.", kinds=("aws",),
    )
    max_vcpus: int = field(
        1000,
        ge=1,
        le=1_000_000,
        step="Capacity",
        help="Most vCPUs the cluster uses in each region.",
        aliases=("max_vCPUs", "maxvCpus"), local_default="cpu_count",
    )
    compute_envs: int = field(
        3, ge=1, le=3, step="Capacity", help="Compute environments per region (1-3).",
        aliases=("compute_environments",), kinds=("aws",),
    )
    tags: dict[str, str] = field(
        {}, step="Extras", help="Tags on the EC2 instances.", aliases=("compute_resources_tags",), kinds=("aws",),
    )
    iam_policies: list[str] = field(
        [], step="Extras", help="Extra customer-managed IAM policies for the instance role.", kinds=("aws",),
    )
    ami_name: str | None = field(
        None,
        step="Extras",
        help="Custom AMI name in the main region (copied to hubs).",
        aliases=("main_region_image_name",), kinds=("aws",),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("ami_name", mode="before")
    @classmethod
    def _none(cls, v: Any) -> Any:
        return _empty_to_none(v)

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError('give at least one instance type, or ["optimal"]')
        bad = [t for t in v if not re.match(r"^(optimal|[a-z0-9-]+(\.[a-z0-9]+)?)$", t)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an instance type (like m5.large or c6i)")
        return v

    @model_validator(mode="after")
    def _rules(self) -> Cluster:
        spot_only = (
            AllocationStrategy.SPOT_CAPACITY_OPTIMIZED,
            AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
        )
        if self.type is CapacityType.ON_DEMAND and self.allocation_strategy in spot_only:
            # The original left this inconsistent; pick the on-demand equivalent quietly.
            object.__setattr__(self, "allocation_strategy", AllocationStrategy.BEST_FIT_PROGRESSIVE)
        if self.compute_envs > self.max_vcpus and "compute_envs" not in self.model_fields_set:
            # The default (3) on a small cluster (a 2-core local host): one env per vCPU at most.
            object.__setattr__(self, "compute_envs", self.max_vcpus)
        if self.compute_envs > self.max_vcpus:
            raise ValueError(
                f"compute_envs ({self.compute_envs}) cannot exceed max_vcpus ({self.max_vcpus})"
            )
        return self


# --------------------------------------------------------------------------------------------
# Queues


def _weights(v: Any) -> Any:
    if isinstance(v, list):  # [[region, weight], ...] from repeated -rw flags
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in v):
            raise ValueError("give weights as region: weight, or as [region, weight] pairs")
        v = {r: w for r, w in v}
    if isinstance(v, dict):
        out = {}
        for k, w in v.items():
            if isinstance(w, str) and w.strip().lower() == "auto":
                out[k] = "auto"
            elif isinstance(w, str) and w.strip().lstrip("-").isdigit():
                out[k] = int(w)
            else:
                out[k] = w
        return out
    return v


class Queue(Model):
    KIND: ClassVar[str] = "queue"

    name: str = field(help="Queue name.", aliases=("queue_name",))
    cluster: str = field(
        help="The cluster whose workers run this queue's jobs.",
        aliases=("computeEnvironment", "compute_environment"),
    )
    weights: Annotated[dict[str, int | Literal["auto"]], BeforeValidator(_weights)] = field(
        {},
        step="Regions",
        help="Region -> integer weight (0 = unused), or 'auto' for spot placement scores. "
        "Empty: every region weight 1.",
        aliases=("region_distribution_weights",),
    )
    optimise_spot_cost: Bool = field(
        False,
        step="Regions",
        help="Weigh regions by EC2 spot placement scores ('auto' weights).",
        aliases=("optimise_lowest_spot_cost_region", "automate_region_weights"), kinds=("aws",),
    )
    max_running: int | None = field(
        None, ge=1, step="Limits", help="Most jobs of this queue running at once (none: no limit)."
    )
    failover_after_s: int | None = field(
        None, ge=0, le=86400, step="Regions",
        help="Region failover: a region whose worker launches fail, or whose workers wait "
        "RUNNABLE longer than this many seconds, hands its share to the queue's other regions "
        "until it recovers (none: 900; 0: never).",
        aliases=("failover_after_seconds", "runnable_limit_s"), kinds=("aws",),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("weights")
    @classmethod
    def _weights_ok(cls, v: dict[str, Any]) -> dict[str, Any]:
        kinds = {w == "auto" for w in v.values()}
        if len(kinds) > 1:
            raise ValueError("weights are either all integers or all 'auto', not a mix")
        for region, w in v.items():
            if w != "auto" and (not isinstance(w, int) or w < 0 or w > 1000):
                raise ValueError(f"weight of {region!r} must be an integer from 0 to 1000")
        if v and kinds == {False} and sum(v.values()) == 0:
            raise ValueError("at least one region needs a weight above 0")
        return v

    @model_validator(mode="after")
    def _auto(self) -> Queue:
        if self.weights and all(w == "auto" for w in self.weights.values()):
            object.__setattr__(self, "optimise_spot_cost", True)
        return self


# --------------------------------------------------------------------------------------------
# Images


class Image(Model):
    KIND: ClassVar[str] = "image"

    name: str = field(help="Image name (the tag in each region's ECR repository).", aliases=("imageName",))
    directory: str = field(
        help="Docker build context: a directory with a Dockerfile based on worker/Dockerfile.",
        aliases=("local_build_directory",),
    )
    build_args: dict[str, str] = field(
        {}, help="docker build arguments.", aliases=("build_arguments",)
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("build_args", mode="before")
    @classmethod
    def _none(cls, v: Any) -> Any:
        return {} if _empty_to_none(v) is None else v


# --------------------------------------------------------------------------------------------
# Job definitions


class LogDriver(str, Enum):
    AWSLOGS = "awslogs"
    FLUENTD = "fluentd"
    GELF = "gelf"
    JOURNALD = "journald"
    JSON_FILE = "json-file"
    LOGENTRIES = "logentries"
    SPLUNK = "splunk"
    SYSLOG = "syslog"


def _log_driver(v: Any) -> Any:
    v = _empty_to_none(v)
    if isinstance(v, str):
        return v.strip().lower().replace("_", "-")
    return v


class MountPoint(Model):
    container_path: str = field(help="Path inside the container.")
    source_volume: str = field(help="A host volume's name.")
    read_only: Bool = field(False, help="Mount read-only.")


class HostVolume(Model):
    name: str = field(help="Volume name, used by mount points.")
    source_path: str = field(help="Path on the instance.")


class Ulimit(Model):
    name: str = field(help="Limit name, e.g. nofile, core.", aliases=("UlimitName",))
    soft_limit: int = field(help="Soft limit.", ge=0)
    hard_limit: int = field(help="Hard limit.", ge=0)

    @model_validator(mode="after")
    def _order(self) -> Ulimit:
        if self.soft_limit > self.hard_limit:
            raise ValueError(f"ulimit {self.name}: soft_limit exceeds hard_limit")
        return self


class LinuxParameters(Model):
    init_process_enabled: Bool = field(False, help="Run an init process (reaps zombies).")
    shared_memory_size: int | None = field(None, ge=1, help="/dev/shm size in MiB.")
    max_swap: int | None = field(None, ge=0, help="Swap the container may use, MiB.")
    swappiness: int | None = field(None, ge=0, le=100, help="Swappiness 0-100.")


class Definition(Model):
    KIND: ClassVar[str] = "definition"

    name: str = field(help="Job definition name.", aliases=("jobDefinitionName",))
    image: str | None = field(
        None,
        step="Image",
        help="Name of an image of this host (built and replicated by hyper-tui).",
        aliases=("cyclone_image_name",), kinds=("aws",),
    )
    image_uri: str | None = field(
        None,
        step="Image",
        help="Or any image URI; _REGION_ is replaced by each region's code.", kinds=("aws",),
    )
    has_agent: Bool = field(
        False, step="Image",
        help="The image_uri is built FROM the hyper-tui worker base image (it has the agent "
             "and /start.sh; hyper-tui images init writes such a Dockerfile).", kinds=("aws",),
    )
    vcpus: int = field(1, ge=1, le=256, step="Resources", help="vCPUs each worker reserves.")
    memory_mib: int = field(
        1024, ge=4, le=2_000_000, step="Resources", help="Memory each worker reserves, MiB.",
        aliases=("memory_limit_mib", "memory"),
    )
    gpus: int = field(0, ge=0, le=16, step="Resources", help="GPUs each worker reserves.",
                      aliases=("gpu_count",))
    jobs_to_workers_ratio: float = field(
        1,
        gt=0,
        le=1_000_000,
        step="Resources",
        help="Queued jobs per worker started: 10 starts one worker per 10 queued jobs.",
    )
    retries: int = field(
        2, ge=0, le=100, step="Behaviour",
        help="Default retries of a job after a lost worker (qsub -r overrides).",
    )
    retry_exit_codes: list[int] = field(
        [], step="Behaviour", help="Exit codes that retry the job instead of failing it."
    )
    job_timeout_s: int | None = field(
        None, ge=1, step="Behaviour",
        help="Default per-job timeout in seconds (qsub --timeout overrides); none: no limit.",
    )
    timeout_minutes: int | None = field(
        None, ge=1, step="Behaviour", help="AWS Batch attempt timeout of a whole worker, minutes.", kinds=("aws",),
    )
    enable_qlog: Bool = field(True, step="Behaviour", help="Keep job output for qlog.")
    environment: dict[str, str] = field({}, step="Container", help="Environment variables.")
    mount_points: list[MountPoint] = field([], step="Container", help="Volumes mounted in the container.",
                                           kinds=("aws",))
    host_volumes: list[HostVolume] = field([], step="Container", help="Host paths offered as volumes.", kinds=("aws",))
    ulimits: list[Ulimit] = field([], step="Container", help="ulimits of the container.")
    linux_parameters: LinuxParameters | None = field(
        None, step="Container", help="Linux parameters (init process, /dev/shm size, swap).", kinds=("aws",),
    )
    privileged: Bool = field(False, step="Container", help="Run the container privileged.", kinds=("aws",))
    user: str | None = field(None, step="Container", help="User the container runs as.", kinds=("aws",))
    iam_policies: list[str] = field([], step="Container", help="Extra IAM policies of the job role.", kinds=("aws",))
    log_driver: Annotated[LogDriver | None, BeforeValidator(_log_driver)] = field(
        None, step="Container", help="Container log driver (default awslogs).", kinds=("aws",),
    )
    log_options: dict[str, str] = field({}, step="Container", help="Log driver options.", kinds=("aws",))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator(
        "image", "image_uri", "user", "timeout_minutes", "job_timeout_s", "linux_parameters",
        mode="before",
    )
    @classmethod
    def _none(cls, v: Any) -> Any:
        return _empty_to_none(v)

    @field_validator("environment", "log_options", "ulimits", "mount_points", "host_volumes",
                     "iam_policies", "retry_exit_codes", mode="before")
    @classmethod
    def _empty(cls, v: Any) -> Any:
        if _empty_to_none(v) is None:
            return [] if not isinstance(v, dict) else {}
        return v

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, v: Any) -> Any:
        return 0 if _empty_to_none(v) is None else v

    @field_validator("retry_exit_codes")
    @classmethod
    def _codes(cls, v: list[int]) -> list[int]:
        for c in v:
            if not 1 <= c <= 255:
                raise ValueError(f"exit code {c} is out of range; exit codes to retry are 1-255")
        return v

    @model_validator(mode="after")
    def _rules(self) -> Definition:
        if self.image and self.image_uri:
            raise ValueError("give image (a host image) or image_uri, not both")
        volumes = {v.name for v in self.host_volumes}
        for m in self.mount_points:
            if m.source_volume not in volumes:
                raise ValueError(
                    f"mount point {m.container_path!r} uses volume {m.source_volume!r}, "
                    "which is not in host_volumes"
                )
        return self

    def image_for_region(self, region: str, account: str | None, repo: str) -> str | None:
        """The container image a worker of this definition uses in ``region``."""
        if self.image_uri:
            return self.image_uri.replace("_REGION_", region)
        if self.image:
            return f"{account}.dkr.ecr.{region}.amazonaws.com/{repo}:{self.image}"
        return None


RESOURCE_MODELS: dict[str, type[Model]] = {
    "regions": Region,
    "clusters": Cluster,
    "queues": Queue,
    "images": Image,
    "definitions": Definition,
}

for _cls in (HostSettings, Host, Region, Cluster, Queue, Image, Definition, MountPoint, HostVolume,
             Ulimit, LinuxParameters):
    _fix_aliases(_cls)


def field_names(cls: type[BaseModel]) -> list[str]:
    """Every accepted spelling of the fields of ``cls``: names and aliases."""
    names: list[str] = []
    for name, info in cls.model_fields.items():
        names.append(name)
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.extend(c for c in alias.choices if isinstance(c, str) and c != name)
    return names
