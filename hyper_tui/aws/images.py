"""Worker images of an aws host: the base image's URI and ``hyper-tui images init DIR``.

The base image (``worker/Dockerfile``) is Python, the hyper-tui wheel (the agent and its aws
transport, with boto3) and ``/start.sh``, which every job definition runs. It is built from the
package and pushed once per version into the host's own ECR repository of the main region,
tagged ``base-<version>`` (:func:`base_image_uri`; :func:`base_build_commands` says how).

A host image is a directory whose Dockerfile starts ``FROM`` that base (what
:func:`init_image_dir` writes), declared with ``hyper-tui images add-image``: hyper-tui builds
it at deploy (for ``linux/arm64`` when Graviton clusters run it), copies it into the host
repository and replicates it to every hub. An ``image_uri`` built the same way elsewhere is
declared with ``has_agent: true``; any other ``image_uri`` is refused at synth.
"""

from __future__ import annotations

from pathlib import Path

from hyper_tui import __version__
from hyper_tui.aws import schema
from hyper_tui.config import HostConfig
from hyper_tui.core.errors import ConflictError, ValidationError

BASE_TAG = f"base-{__version__}"
LOCAL_BASE = f"hyper-worker:{__version__}"

DOCKERFILE = """\
# A worker image of hyper-tui host {host}: the worker base image (Python, the hyper-tui agent,
# /start.sh, which AWS Batch runs) plus what this host's jobs need.
# Build the base first (README.md); --build-arg BASE=... builds from another copy of it.
ARG BASE={base}
FROM ${{BASE}}

# What the jobs need, for example:
# RUN apt-get update && apt-get install -y --no-install-recommends samtools \\
#     && rm -rf /var/lib/apt/lists/*

# Container setup run before the agent starts (mounts, licences...): each start.d/*.sh is
# sourced by /start.sh in name order.
COPY start.d/ /etc/hyper/start.d/

# Jobs run as the base image's unprivileged user "worker" (uid 1000); keep the base's CMD.
CMD ["/start.sh"]
"""

START_PART = """\
# Sourced by /start.sh (sh, set -eu) before the worker agent starts; runs as root.
# For example: mkdir -p /scratch && mount ...
:
"""

README = """\
# Worker image `{name}` of hyper-tui host `{host}`

Built FROM the worker base image `{base}` (hyper-tui {version}); declare it with
`hyper-tui images add-image --name {name} --directory {directory}` and use it from a
definition (`image: {name}`): `hyper-tui deploy` builds, copies and replicates it.

Build and push the base image once per hyper-tui version (from a checkout of hyper-tui):

{commands}
"""


def base_image_uri(cfg: HostConfig) -> str:
    """Where the host's worker base image lives: its ECR repository in the main region,
    tag ``base-<version>`` (a local tag when the host has no account yet)."""
    host = cfg.host
    if not host.account or not host.main_region:
        return LOCAL_BASE
    return (f"{host.account}.dkr.ecr.{host.main_region}.amazonaws.com/"
            f"{schema.ecr_repository_name(host.name)}:{BASE_TAG}")


def base_build_commands(base: str, platforms: list[str]) -> list[str]:
    """The shell commands that build the base image from the package (for each of
    ``platforms``: one multi-architecture image when there are two) and push it."""
    lines = ["pip wheel --no-deps -w build/worker ."]
    ecr = ".dkr.ecr." in base
    if len(platforms) > 1:
        lines.append(f"docker buildx build --platform {','.join(platforms)} -f worker/Dockerfile "
                     f"-t {base}{' --push' if ecr else ' --load'} build/worker")
    else:
        lines.append(f"docker build --platform {platforms[0]} -f worker/Dockerfile -t {base} "
                     "build/worker")
        if ecr:
            lines.append(f"docker push {base}")
    if ecr:
        registry, region = base.split("/", 1)[0], base.split(".")[3]
        lines.insert(0, f"aws ecr get-login-password --region {region} | docker login "
                        f"--username AWS --password-stdin {registry}")
    return lines


def host_platforms(cfg: HostConfig) -> list[str]:
    """The Docker platforms of the host's clusters (Graviton clusters: linux/arm64)."""
    from hyper_tui.aws.infra.plan import cluster_architecture

    arches = {cluster_architecture(c) for c in cfg.clusters.values()} or {"x86_64"}
    return sorted({"arm64": "linux/arm64", "x86_64": "linux/amd64"}[a] for a in arches)


def init_image_dir(cfg: HostConfig, directory: str | Path, *, name: str | None = None,
                   base: str | None = None, force: bool = False) -> list[Path]:
    """Write a host image's build context into ``directory``: a Dockerfile FROM the base
    image, ``start.d/``, a README. Returns the files written; an existing Dockerfile is kept
    unless ``force``."""
    path = Path(directory).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValidationError(f"images init: {path} is not a directory",
                              fix="give a new or empty directory")
    dockerfile = path / "Dockerfile"
    if dockerfile.exists() and not force:
        raise ConflictError(f"images init: {dockerfile} exists",
                            fix="pass --force to overwrite it, or give another directory")
    base = base or base_image_uri(cfg)
    name = name or path.name
    commands = base_build_commands(base, host_platforms(cfg))
    (path / "start.d").mkdir(parents=True, exist_ok=True)
    files = {
        dockerfile: DOCKERFILE.format(host=cfg.host.name, base=base),
        path / "start.d" / "10-setup.sh": START_PART,
        path / "README.md": README.format(name=name, host=cfg.host.name, base=base,
                                          version=__version__, directory=path,
                                          commands="\n".join(f"    {c}" for c in commands)),
        path / ".dockerignore": "README.md\n",
    }
    for file, text in files.items():
        if file.name == "10-setup.sh" and file.exists() and not force:
            continue
        file.write_text(text)
    return sorted(files)

