"""The Lambda code asset shared by the API and the scaler: the ``hyper_tui`` and ``worker``
packages (the scaler settles dead letters with the worker's aws transport) plus the
``infra/lambdas`` runtime code, nothing else (no tests, no caches, no CDK code)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_lambda as lambda_

# The directory holding the hyper_tui and infra packages (the repository, or site-packages).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

EXCLUDE = [
    "*", ".*",
    "!hyper_tui", "!hyper_tui/**", "!worker", "!worker/*.py",
    "!infra", "!infra/__init__.py", "!infra/lambdas", "!infra/lambdas/**",
    "**/__pycache__", "**/*.pyc", "**/*.tcss", "**/tests",
]

RUNTIME = lambda_.Runtime.PYTHON_3_14


def project_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(PROJECT_ROOT), exclude=EXCLUDE, ignore_mode=IgnoreMode.GLOB)
