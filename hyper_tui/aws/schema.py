"""The contract between infra/ (CDK), the aws client, the scaler and the aws worker transport.

Every AWS resource name of an aws host is derived here, in one place, so the stacks that
create them and the code that uses them can never disagree. Standard library only.

Data layout (designed for 10,000+ submissions per second per queue):

* Jobs table ``<host>-jobs``: partition key ``id`` (S), a job id that starts with a time part
  and ends with random characters, so writes spread over every partition (no hot key).
  Attributes: ``queue, definition, name, state, reason, attempt (N), retries (N), command,
  argv, env, cwd, timeout (N), priority (N), submitted (N), started (N), ended (N),
  exit_code (N), worker, array_id, idx (N), heartbeat (N)``.
  GSI ``by_queue``: partition ``queue_shard`` = ``f"{queue}#{shard}"`` with shard in
  ``range(QUEUE_SHARDS)`` from the id, sort key ``id`` (listing a queue = QUEUE_SHARDS queries).
  A single job has its own entry; the jobs of a multi-job submission (``qsub --stdin``, an
  array's tasks, a submit-API request of several jobs in a queue) have none: one *group*
  item ``{greatest member id}#group`` per submission and queue names them and is their entry
  (``hyper_tui.aws.groups``; listings expand it into its members, in id order).
  Sparse GSI ``by_name``: partition ``name_shard`` = ``f"{name}#{shard}"``, present only when
  the user named the job (the default names, DEFAULT_NAMES, are shared by every unnamed job:
  one hot key), sort key ``id``. No index per array (one partition per array is a hot key
  while it runs): task ``i`` of array ``A`` is item ``A-i`` (``array_task_id``) and the
  array's spec item ``spec#A`` records its range of indices (``tasks``: start, stop, step).
  Sparse GSI ``by_active``: partition ``active_shard`` = ``f"{queue}#{group}#{shard}"``,
  present only while the job is PENDING, QUEUED or RUNNING, where the group is ``PENDING`` for
  a PENDING job and ``QUEUED`` for a QUEUED or RUNNING one (``ACTIVE_GROUPS``): a job's start
  (QUEUED -> RUNNING) leaves its index entry alone, a final state removes it (the job leaves
  the sparse index), so the dependency release (PENDING only), ``qstat -s QUEUED|RUNNING`` and
  ``qdel --all`` read active jobs only, however many finished jobs the table keeps, and the
  jobs running (bounded by the workers) are the only others a QUEUED lookup reads.
  Shard counts: see QUEUE_SHARDS; every partition stays under 500 writes/s at 10,000 jobs/s
  into one queue. ``INDEXES`` lists them all, for the stack, the tests' tables and the IAM
  policies.
  Every index projects its keys only (KEYS_ONLY): an index entry is written when the job
  enters or leaves it and never when a job's state, heartbeat or result changes. A short job
  then costs 6 write units end to end: submit 3 (the item, by_queue, by_active), start 1 (the
  item), report 2 (the item, leaving by_active); a job of a batch 5 (no by_queue entry of its
  own) plus its share of the group item. A listing reads ids from an index and the
  items they name with BatchGetItem (``table.hydrate``); counts come from the counter items
  (``hyper_tui.aws.counters``), never from the indexes.
* Work queue per (queue, definition): SQS ``<host>-<queue>-<definition>``, visibility timeout
  = the lease, redrive to ``...-dlq`` after MAX_RECEIVES; messages carry up to 10 job ids.
* Logs: CloudWatch Logs group ``/hyper/<host>/jobs``, one stream per *worker*
  (``worker_log_stream_name``: PutLogEvents takes one stream per call and CreateLogStream is
  rate-limited, so a stream per job would cost two requests per job); each event's message is
  ``<job item id> TYPE | data`` (SYSTEM, STDOUT, STDERR, METRICS). A job's item records the
  workers of its attempts (``worker``, ``history``), so qlog knows which streams to read.
* Metrics: CloudWatch namespace ``HyperTui/<host>``.
* Discovery: SSM parameters under ``/hyper/<host>/`` and stack outputs (see OUTPUTS).
"""

from __future__ import annotations

import hashlib
import re

from hyper_tui.core.jobs import ACTIVE_STATES, FINAL_STATES  # noqa: F401 (the table speaks these)

# Shard counts: every index partition stays under 500 writes/s (half DynamoDB's 1,000) at
# 10,000 jobs/s into one queue (tests/aws/test_key_heat.py). The indexes project keys only, so
# a job writes its by_queue and by_name partitions once (at submit; a batch's jobs write
# by_queue once per group item, not per job), its by_active partitions twice per group
# (entering and leaving it).
QUEUE_SHARDS = 128
ACTIVE_SHARDS = 64
NAME_SHARDS = 128
ACTIVE_KEY = "active_shard"  # by_active: ``{queue}#{group}#{shard}`` while a job is active
# The by_active group of each active state: QUEUED and RUNNING share theirs, so a job's start
# does not move its index entry (a key change writes the index twice).
ACTIVE_GROUPS = {"PENDING": "PENDING", "QUEUED": "QUEUED", "RUNNING": "QUEUED"}
NAME_KEY = "name_shard"      # by_name: ``{name}#{shard}``, only for a name the user gave
# The names a job gets when the user gives none (qsub --stdin, qsub -c, the API): shared by
# every such job, so they are kept out of the by_name index (a hot key otherwise).
DEFAULT_NAMES = ("STDIN", "command", "job")
# The jobs table's GSIs: (name, partition key, its type, sort key, its type).
# (No index per array: an array's tasks are found by their ids, ``array_task_id``, over the
# range of indices its spec item records.)
INDEXES = (("by_queue", "queue_shard", "S", "id", "S"),
           ("by_active", ACTIVE_KEY, "S", "id", "S"),
           ("by_name", NAME_KEY, "S", "id", "S"))
# What the indexes project besides their own keys and ``id``: nothing (KEYS_ONLY). An
# attribute an index projected would write that index again on every change of it.
INDEX_ATTRIBUTES: tuple[str, ...] = ()
PROJECTION = "KEYS_ONLY"


def index_attributes(index: str) -> tuple[str, ...]:
    """What ``index`` projects, less its own keys (always projected): nothing."""
    next(name for name, *_ in INDEXES if name == index)  # a known index
    return INDEX_ATTRIBUTES


MAX_RECEIVES = 5
LEASE_SECONDS = 60
MAX_BATCH = 1000  # jobs per submit API request

OUTPUTS = ("ApiUrl", "JobsTableName", "LogGroupName", "ApiKeyId", "MetricsNamespace")

# Environment of a worker container (set by the Batch job definition and the scaler).
WORKER_ENV = (
    "HYPER_HOST",          # host name
    "HYPER_MAIN_REGION",   # where the jobs table and the work queues are
    "HYPER_JOBS_TABLE",
    "HYPER_WORK_QUEUE_URL",
    "HYPER_LOG_GROUP",
    "HYPER_QUEUE",
    "HYPER_DEFINITION",
    "HYPER_REGION",        # the region the worker runs in
)
# The role the worker agent assumes for its jobs (set by the job definition; the agent hands
# the job temporary credentials of it: hyper_tui/agent/job_credentials.py).
JOB_ROLE_ENV = "HYPER_JOB_ROLE_ARN"

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def partition(region: str) -> str:
    """The AWS partition of ``region`` (the ``arn:<partition>:`` of its ARNs)."""
    return ("aws-cn" if region.startswith("cn-")
            else "aws-us-gov" if region.startswith("us-gov-") else "aws")


def _safe(text: str) -> str:
    return _SAFE.sub("-", text)


def stack_prefix(host: str) -> str:
    return f"hyper-{_safe(host)}"


def control_stack_name(host: str, region: str) -> str:
    return f"{stack_prefix(host)}-control-{region}"


def compute_stack_name(host: str, region: str) -> str:
    return f"{stack_prefix(host)}-compute-{region}"


def jobs_table_name(host: str) -> str:
    return f"{_safe(host)}-jobs"


def work_queue_name(host: str, queue: str, definition: str) -> str:
    name = f"{_safe(host)}-{_safe(queue)}-{_safe(definition)}"
    if len(name) > 76:  # SQS allows 80 characters, and "-dlq" must still fit
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:67]}-{digest}"
    return name


def dead_letter_queue_name(host: str, queue: str, definition: str) -> str:
    return work_queue_name(host, queue, definition) + "-dlq"


def control_queue_prefix(host: str) -> str:
    """What every control queue of ``host`` is named with first (hyper_tui.aws.control; the
    IAM statements of workers, clients and the scaler name ``{prefix}*``)."""
    return f"{_safe(host)}-ctl-"


def control_queue_name(host: str, worker_id: str) -> str:
    """The control queue of one worker agent (hyper_tui.aws.control): 80 characters at most."""
    name = control_queue_prefix(host) + _safe(worker_id)
    if len(name) > 80:
        digest = hashlib.sha1(name.encode()).hexdigest()[:12]
        name = f"{name[:67]}-{digest}"
    return name


def log_group_name(host: str) -> str:
    return f"/hyper/{_safe(host)}/jobs"


def metrics_namespace(host: str) -> str:
    return f"HyperTui/{_safe(host)}"


def ssm_prefix(host: str) -> str:
    return f"/hyper/{_safe(host)}/"


def batch_job_queue_name(host: str, cluster: str) -> str:
    return f"{_safe(host)}-{_safe(cluster)}"


def batch_job_definition_name(host: str, definition: str) -> str:
    return f"{_safe(host)}-{_safe(definition)}"


def compute_environment_name(host: str, cluster: str, index: int) -> str:
    return f"{_safe(host)}-{_safe(cluster)}-{index}"


def ecr_repository_name(host: str) -> str:
    return f"hyper-{_safe(host).lower()}"


def _shard(job_id: str, shards: int) -> int:
    return int(hashlib.blake2s(job_id.encode(), digest_size=2).hexdigest(), 16) % shards


def queue_shard(queue: str, job_id: str) -> str:
    """The job's by_queue partition: ``{queue}#{shard}``."""
    return f"{queue}#{_shard(job_id, QUEUE_SHARDS)}"


def queue_partitions(queue: str) -> list[str]:
    """Every by_queue partition of a queue (listing a queue queries them all)."""
    return [f"{queue}#{s}" for s in range(QUEUE_SHARDS)]


def active_key(queue: str, state: str, job_id: str) -> str:
    """The job's by_active partition while it is in ``state`` (PENDING, QUEUED, RUNNING):
    ``{queue}#{group}#{shard}`` (``ACTIVE_GROUPS``), so a lookup of PENDING jobs reads only
    those, one of QUEUED or RUNNING jobs only jobs in either."""
    return f"{queue}#{ACTIVE_GROUPS[state]}#{_shard(job_id, ACTIVE_SHARDS)}"


def active_partitions(queue: str, states: tuple[str, ...] | str = ACTIVE_STATES) -> list[str]:
    """Every by_active partition of ``queue`` holding jobs of ``states``."""
    states = (states,) if isinstance(states, str) else states
    groups = sorted({ACTIVE_GROUPS[st] for st in states})
    return [f"{queue}#{g}#{s}" for g in groups for s in range(ACTIVE_SHARDS)]


def name_key(name: str | None, job_id: str) -> str | None:
    """The job's by_name partition, ``{name}#{shard}``; None for a default name (the job is
    then not in by_name: a name every unnamed job shares would be one hot partition)."""
    if not name or name in DEFAULT_NAMES:
        return None
    return f"{name}#{_shard(job_id, NAME_SHARDS)}"


def name_partitions(name: str) -> list[str]:
    """Every by_name partition of a name the user gave (none for a default name)."""
    if not name or name in DEFAULT_NAMES:
        return []
    return [f"{name}#{s}" for s in range(NAME_SHARDS)]


def shard_keys(queue: str, job_id: str, *, state: str = "QUEUED",
               name: str | None = None) -> dict[str, str]:
    """The index keys of a new job's item: ``queue_shard``, ``active_shard`` (for its first
    state, PENDING or QUEUED) and, for a name the user gave, ``name_shard``."""
    keys = {"queue_shard": queue_shard(queue, job_id), ACTIVE_KEY: active_key(queue, state, job_id)}
    named = name_key(name, job_id)
    if named:
        keys[NAME_KEY] = named
    return keys


# ---- added for infra/ (CDK) and the submit API ---------------------------------------------

# Environment variable of the scaler Lambda holding its JSON config in older deployments
# (see hyper_tui.aws.infra.components.scaler.construct).
SCALER_CONFIG_ENV = "HYPER_SCALER_CONFIG"


def peering_stack_name(host: str, region: str) -> str:
    """The main-region stack holding the main VPC's routes to peered hubs."""
    return f"{stack_prefix(host)}-peering-{region}"


def worker_log_group_name(host: str) -> str:
    """Per-region CloudWatch Logs group of the worker containers' own output (awslogs driver)."""
    return f"/hyper/{_safe(host)}/workers"


def ssm_parameter_name(host: str, key: str) -> str:
    """SSM parameter of one discovery value, e.g. ``/hyper/<host>/ApiUrl``."""
    return f"{ssm_prefix(host)}{key}"


_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"


def new_job_id(now: float | None = None) -> str:
    """A job id: 12 hex digits of epoch milliseconds (sorts by time) + 8 random base-32 chars."""
    import secrets
    import time

    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:012x}" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


# CloudWatch metrics in metrics_namespace(host), published by the scaler (and workers); the
# dashboard of infra/ draws these.
METRIC_JOBS = "Jobs"            # dimensions Queue, State (PENDING, QUEUED, RUNNING): a gauge
METRIC_SUBMITTED = "Submitted"  # dimension Queue: jobs submitted in the period (a count)
METRIC_FINISHED = "Finished"    # dimension Queue: jobs that ended in the period (a count)
METRIC_WORKERS = "Workers"      # dimension Region: worker containers running
METRIC_VCPUS = "VCpus"          # dimension Region: vCPUs those workers reserve


def network_parameter_name(host: str, region: str, key: str) -> str:
    """SSM parameter (in ``region``) of a network value shared across regions: ``vpc-id``,
    ``peering-id`` (a hub's peering connection to the main VPC)."""
    return f"{ssm_prefix(host)}network/{region}/{key}"


# ---- added for the aws data plane (worker transport, client, scaler) ---------------------------

IDS_PER_MESSAGE = 10      # job ids per work-queue message at most: {"ids": [...], "t": ...}
SPREAD_MESSAGES = 64      # a burst goes out in at least this many messages (up to one a job)


def ids_per_message(jobs: int) -> int:
    """Job ids per message for a send of ``jobs`` jobs to one work queue: a small burst goes
    one job a message, so that every idle worker takes one and the scaler (one new worker per
    visible message at most) launches a worker per job; a big one 10 a message (SQS requests
    are what a short job costs there): ``ceil(jobs / SPREAD_MESSAGES)``, 1 to 10. 8 jobs of
    30 s on 4 workers then take 60 s, not 240 s (tests/aws/test_bursts.py)."""
    return max(1, min(IDS_PER_MESSAGE, -(-int(jobs) // SPREAD_MESSAGES)))

TTL_ATTRIBUTE = "expires"  # epoch seconds; set when a job reaches a final state (table TTL)
META_WEIGHTS_ID = "meta#weights"  # jobs-table item: {"weights": {queue: {region: int}}}, the
                                  # refreshed 'auto' weights the scaler applies every pass
METRIC_BACKLOG = "Backlog"        # dimension Definition: queued jobs (a gauge)
METRIC_DEAD_LETTERED = "DeadLettered"  # dimension Queue: jobs failed by the dead-letter sweep

# Further job-item attributes: ``lease (N)`` seconds a RUNNING job's heartbeat stays valid;
# ``queued (N)`` when it last became QUEUED; ``history (L)`` of ``{attempt, worker, started,
# ended, exit_code, outcome}`` maps; ``params (M)`` array substitutions; ``retry_exit_codes
# (L)``; ``spec`` the id of a shared spec item (``command, argv, env, cwd``) an array's tasks
# point to instead of repeating the script; ``expires (N)`` the TTL; ``held (BOOL)`` present
# only while a PENDING job is held; ``deps (L)`` of ``{kind, on, whole, ref}`` maps, what a
# PENDING job waits for (hyper_tui.aws.dependencies).


def array_task_id(array_id: str, idx: int) -> str:
    """Item id of task ``idx`` of an array submitted by the client (shown as ``A[idx]``)."""
    return f"{array_id}-{idx}"


def array_spec_id(array_id: str) -> str:
    """Item id of the spec (command, env...) shared by an array's tasks."""
    return f"spec#{array_id}"


def worker_log_stream_name(worker_id: str) -> str:
    """The log stream a worker writes its jobs' records to, in ``log_group_name(host)``."""
    return f"worker/{_safe(worker_id)}"


def worker_batch_job_name(queue: str, definition: str) -> str:
    """Name of the AWS Batch (array) job of workers the scaler submits for a pair."""
    name = f"hyper-{_safe(queue)}--{_safe(definition)}"
    if len(name) > 128:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:119]}-{digest}"
    return name
