"""Config files: validation on load with file:line errors, cross-resource rules, atomic writes."""

import os

import pytest

from hyper_tui import config, paths
from hyper_tui.core.errors import ConflictError, NotFoundError, ValidationError
from hyper_tui.hosts.registry import default_local_config
from hyper_tui.model import Cluster, Image, Queue

GOOD = """\
host: {name: h, kind: local, main_region: local}
regions:
  local: {main: true}
clusters:
  c1:
    max_vcpus: 8
queues:
  q1: {cluster: c1}
definitions:
  d1: {vcpus: 2}
"""


def parse(text):
    return config.parse_config(text, "r.yaml")


def test_good_file_round_trips():
    cfg = parse(GOOD)
    again = parse(cfg.to_yaml())
    assert again.to_data() == cfg.to_data()
    assert cfg.clusters["c1"].max_vcpus == 8


@pytest.mark.parametrize("text,expected", [
    (GOOD.replace("max_vcpus: 8", "max_vcpus: lots"),
     "r.yaml:6: clusters.c1.max_vcpus: must be a whole number (got 'lots')"),
    (GOOD.replace("max_vcpus: 8", "max_vcpu: 8"), "r.yaml:6: clusters.c1.max_vcpu: unknown field "
     "'max_vcpu'; did you mean 'max_vcpus'?"),
    (GOOD.replace("{vcpus: 2}", "{vcpus: 2, memory_mb: 5}"), "did you mean 'memory_mib'?"),
    (GOOD.replace("{cluster: c1}", "{cluster: c9}"), "r.yaml:8: queues.q1.cluster: no cluster named 'c9'"),
    (GOOD.replace("local: {main: true}", "local: {main: false}"), "no main region"),
    (GOOD.replace("queues:", "queus:"), "unknown section 'queus'; did you mean 'queues'?"),
    (GOOD.replace("host: {name: h, kind: local, main_region: local}", "host: {name: h, kind: cloud}"),
     "r.yaml:1: host.kind"),
    ("host: {name: h\n  bad: [", "r.yaml:2: broken YAML"),
    ("- just\n- a list\n", "must be a mapping"),
    (GOOD.replace("{cluster: c1}", "{cluster: c1, weights: {mars: 1}}"), "no region named 'mars'"),
    (GOOD + "images: {}\n", "duplicate"),
])
def test_bad_files_give_one_line_with_place_and_fix(text, expected):
    if expected == "duplicate":  # a repeated section is still valid YAML (last wins): no error
        parse(text)
        return
    with pytest.raises(ValidationError) as err:
        parse(text)
    msg = str(err.value)
    assert expected in msg
    assert "\n" not in msg


def test_definition_image_must_exist():
    text = GOOD.replace("{vcpus: 2}", "{vcpus: 2, image: nope}")
    with pytest.raises(ValidationError, match="no image named 'nope'"):
        parse(text)


def test_two_main_regions():
    text = GOOD.replace("local: {main: true}", "local: {main: true}\n  other: {main: true}")
    with pytest.raises(ValidationError, match="2 main regions"):
        parse(text)


def test_add_duplicate_and_delete_referenced():
    cfg = parse(GOOD)
    with pytest.raises(ConflictError, match="exists already"):
        cfg.add("clusters", Cluster(name="c1"))
    with pytest.raises(ConflictError, match="in use by queue q1"):
        cfg.delete("clusters", "c1")
    cfg.add("images", Image(name="img", directory="/tmp"))
    cfg.update("definitions", "d1", {"image": "img"})
    with pytest.raises(ConflictError, match="definition d1"):
        cfg.delete("images", "img")
    cfg.update("queues", "q1", {"weights": {"local": 1}})
    with pytest.raises(ConflictError, match="queue q1"):
        cfg.delete("regions", "local")
    with pytest.raises(NotFoundError, match="did you mean 'q1'"):
        cfg.get("queues", "q")


def test_failed_add_or_update_leaves_config_unchanged():
    cfg = parse(GOOD)
    before = cfg.to_data()
    with pytest.raises(ValidationError):
        cfg.add("queues", Queue(name="q2", cluster="missing"))
    with pytest.raises(ValidationError):
        cfg.update("queues", "q1", {"cluster": "missing"})
    with pytest.raises(ValidationError):
        cfg.update("clusters", "c1", {"max_vcpus": "many"})
    assert cfg.to_data() == before


def test_save_is_atomic_and_private(home):
    cfg = default_local_config("h")
    path = config.save(cfg)
    assert path == paths.host_config_file("h")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert config.load("h").to_data() == cfg.to_data()


def test_save_refuses_inconsistent_config(home):
    cfg = default_local_config("h")
    config.save(cfg)
    before = paths.host_config_file("h").read_text()
    cfg.queues["x"] = Queue(name="x", cluster="nope")
    with pytest.raises(ValidationError):
        config.save(cfg)
    assert paths.host_config_file("h").read_text() == before


def test_atomic_write_failure_keeps_old_file(home, monkeypatch):
    target = home / "f.txt"
    paths.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        paths.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_load_unknown_host(home):
    with pytest.raises(NotFoundError, match="no host named 'ghost'"):
        config.load("ghost")
