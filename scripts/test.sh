#!/usr/bin/env bash
# Install everything the tests need into .venv and run lint + the whole test suite.
# The README's test command and CI (.ci/run) both call exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CDK_DISABLE_CLI_TELEMETRY=true
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# compat mode: no import hook in every interpreter the tests start (about 25 ms each); should a
# future setuptools drop that transitional mode, the default editable install still works.
.venv/bin/python -m pip install -q -e '.[dev]' --config-settings editable_mode=compat 2>/dev/null \
  || .venv/bin/python -m pip install -q -e '.[dev]'
# The browser test (tests/browser) drives `hyper-tui serve` in the Debian package's Chromium
# with playwright-core from npm (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "scripts/test.sh: /usr/bin/chromium is missing: apt-get install -y chromium (the browser test fails without it in CI)" >&2
  fi
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)
export HYPER_REQUIRE_BROWSER=1  # installed above: the browser test must run, not skip
# The npm CDK CLI, once, into a cache folder in .venv: tests/aws/test_cfn_deploy.py deploys the
# synthesized stacks with it into moto's CloudFormation.
if [ ! -x .venv/cdk-cli/node_modules/.bin/cdk ]; then
  npm install --prefix .venv/cdk-cli --no-audit --no-fund --loglevel error aws-cdk@2.1148.1 >/dev/null
fi
# The IAM evaluator the same tests run (with node) on the calls they record.
if [ ! -d .venv/iam-sim/node_modules/@cloud-copilot/iam-simulate ]; then
  npm install --prefix .venv/iam-sim --no-audit --no-fund --loglevel error \
    @cloud-copilot/iam-simulate@0.1.173 >/dev/null
fi
.venv/bin/ruff check .
# The import contracts of pyproject.toml: the arrows point down (core, host kinds, front ends).
.venv/bin/lint-imports
# Two workers for most of the suite; the fault-injection suite runs alone (it kills processes
# and times recoveries) and prints one RELIABILITY line per scenario. Both together must stay
# under 15 minutes on a 2-core machine: the slowest tests are listed at the end of each run.
# --dist loadgroup keeps each xdist_group on one worker (tests/conftest.py, tests/aws/cfn_env.py).
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadgroup --ignore=tests/reliability \
  --durations=25
.venv/bin/python -m pytest -q -p no:cacheprovider -s tests/reliability --durations=10
