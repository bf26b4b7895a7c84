"""Random and malformed host configs: ``parse_config`` accepts them or raises one
ValidationError of one line (file, line, field, fix), never anything else; a rejected edit
through the CLI leaves the config on disk unchanged."""

from __future__ import annotations

import copy
import time

import yaml
from hypothesis import given
from hypothesis import strategies as st

from hyper_tui.config import HostConfig, parse_config
from hyper_tui.core.errors import ValidationError
from tests.fuzz.helpers import FUZZ, assert_clean, run_inproc

VALID = {
    "host": {"name": "local", "kind": "local", "main_region": "local",
             "settings": {"lease_seconds": 15, "job_retention_days": 30}},
    "regions": {"local": {"main": True}},
    "clusters": {"default": {"max_vcpus": 4, "compute_envs": 1, "type": "SPOT"}},
    "queues": {"default": {"cluster": "default", "weights": {"local": 1}, "max_running": 3}},
    "images": {"img": {"dockerfile": "Dockerfile"}},
    "definitions": {"default": {"vcpus": 1, "retries": 2, "environment": {"A": "b"},
                                "retry_exit_codes": [75], "image_uri": "python:3.11"}},
}

SCALARS = (st.none() | st.booleans() | st.integers(-10**12, 10**12)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
           | st.sampled_from(["True", "null", "", "SPOT", "local", "auto", "-1", "1e309", "0x10",
                              "~", "yes", "10.0.0.0/16", "vpc-0a1b2c3d", "us-east-1", "*", "{"]))
KEYS = st.sampled_from(["host", "regions", "clusters", "queues", "images", "definitions", "name",
                        "kind", "main", "cluster", "max_vcpus", "weights", "vcpus", "settings",
                        "environment", "retries", "compute_envs", "type", "main_region",
                        "account", "image", "max_running", "lease_seconds"]) | st.text(max_size=12)
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(KEYS, kids, max_size=4), max_leaves=20)


def check(text: str) -> HostConfig | None:
    t0 = time.monotonic()
    try:
        cfg = parse_config(text, "fuzz.yaml")
    except ValidationError as e:
        line = str(e)
        assert line and "\n" not in line, repr(line)
        assert line.startswith("fuzz.yaml"), line
        cfg = None
    assert time.monotonic() - t0 < 5, "parsing took too long"
    return cfg


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text):
    check(text)


@FUZZ
@given(st.dictionaries(KEYS, VALUES, max_size=7))
def test_random_yaml_documents(data):
    check(yaml.safe_dump(data, allow_unicode=True))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))


@FUZZ
@given(st.data())
def test_mutated_valid_config(data):
    """One change to a valid config: a value replaced, a key removed or added."""
    cfg = copy.deepcopy(VALID)
    paths = [p for p in _paths(cfg) if p]
    path = data.draw(st.sampled_from(paths))
    parent = cfg
    for k in path[:-1]:
        parent = parent[k]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = data.draw(VALUES)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent[path[-1]], dict):
        parent[path[-1]][data.draw(KEYS)] = data.draw(VALUES)
    check(yaml.safe_dump(cfg, allow_unicode=True))


@FUZZ
@given(st.text(alphabet=":-{}[]&*!|>'\"#%@`,? \n\tab1", max_size=200))
def test_yaml_syntax_soup(text):
    check("host: {name: local, kind: local}\n" + text)


def test_alias_bomb_is_rejected_quickly():
    """Nested aliases (a "billion laughs") must not make loading explode."""
    lines = ["host: {name: local, kind: local, main_region: local}",
             "regions: {local: {main: true}}", "clusters:", "  c:",
             "    tags: &x0 {a: '1', b: '1', c: '1', d: '1', e: '1', f: '1', g: '1', h: '1', i: '1'}"]
    for i in range(1, 12):
        lines.append(f"    x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]")
    lines.append("    instance_types: *x11")
    t0 = time.monotonic()
    check("\n".join(lines) + "\n")
    lines[-1] = "queues: {q: {cluster: c, weights: *x11}}"
    check("\n".join(lines) + "\n")
    assert time.monotonic() - t0 < 5


# --------------------------------------------------------------------------------------------
# Edits through the CLI: a rejected one leaves the file as it was.

EDITS = st.sampled_from([
    ["clusters", "add-cluster"], ["clusters", "update-cluster", "--name", "default"],
    ["queues", "add-queue"], ["queues", "update-queue", "--name", "default"],
    ["definitions", "add-definition"], ["definitions", "update-definition", "--name", "default"],
    ["regions", "add-region"], ["images", "add-image"], ["queues", "delete-queue"],
    ["clusters", "delete-cluster"], ["definitions", "delete-definition"],
])
FLAGS = st.sampled_from(["--name", "--cluster", "--max-vcpus", "--compute-envs", "--type",
                         "--weights", "--max-running", "--vcpus", "--retries", "--environment",
                         "--retry-exit-codes", "--image", "--image-uri", "--bid-percentage",
                         "--tags", "--instance-types", "--memory-mib", "--jobs-to-workers-ratio",
                         "--main", "--vpc", "-n", "-o"])
ARG_VALUES = (st.sampled_from(["default", "nope", "0", "-1", "99999999", "1.5", "[75]", "{}",
                               '{"a": 1}', "[", "SPOT", "ON_DEMAND", "True", "x" * 70, "local",
                               "json", "a b", "", "q-1", "auto"])
              | st.text(max_size=15))


@FUZZ
@given(EDITS, st.lists(st.tuples(FLAGS, ARG_VALUES), max_size=4))
def test_rejected_edits_leave_the_config_unchanged(fuzz_home, edit, flags):
    cfg_dir = fuzz_home / "config"
    before = {p: p.read_bytes() for p in cfg_dir.rglob("*") if p.is_file()}
    argv = list(edit) + [x for pair in flags for x in pair]
    code, out, err = run_inproc("hyper-tui", argv)
    assert_clean(code, out, err)
    after = {p: p.read_bytes() for p in cfg_dir.rglob("*") if p.is_file()}
    if code != 0:
        assert after == before, f"rejected edit {argv} changed the config"
    else:
        from hyper_tui import config

        config.load("local")  # what was accepted still loads
