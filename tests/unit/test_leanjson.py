"""leanjson must be json: same values, same text, same errors, and no ``re`` imported."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyper_tui import leanjson

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(values)
def test_dumps_is_json_dumps_compact(value):
    assert leanjson.dumps(value) == json.dumps(value, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from(["", " ", "\n\t ", "\r\n"]))
def test_loads_reads_what_json_writes(value, pad):
    text = pad + json.dumps(value, indent=1 if isinstance(value, dict) else None) + pad
    assert leanjson.loads(text) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_loads_of_any_text_is_json_loads(text):
    try:
        expected = json.loads(text)
    except ValueError as e:
        with pytest.raises(type(e)) as got:
            leanjson.loads(text)
        assert str(got.value) == str(e)
    else:
        got = leanjson.loads(text)
        assert got == expected or (isinstance(got, float) and math.isnan(got))


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "\ufeff{}", "[1,]", "'a'", "nul"])
def test_bad_json_gives_json_s_own_error(text):
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        leanjson.loads(text)
    assert str(got.value) == str(want.value)


def test_special_floats_and_errors_match_json():
    assert leanjson.dumps([float("inf"), -float("inf")]) == "[Infinity,-Infinity]"
    assert math.isnan(leanjson.loads("NaN"))
    with pytest.raises(TypeError, match="not JSON serializable"):
        leanjson.dumps({"a": object()})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        leanjson.dumps(loop)


def test_bad_json_before_json_is_imported_gives_json_s_error():
    code = ("import hyper_tui.leanjson as j\n"
            "try:\n    j.loads('{bad')\nexcept ValueError as e:\n"
            "    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ("JSONDecodeError Expecting property name enclosed in double "
                                  "quotes: line 1 column 2 (char 1)")


def test_importing_and_using_it_does_not_import_re():
    code = ("import sys, hyper_tui.leanjson as j; j.loads(j.dumps({'a': [1, 'x', None]})); "
            "print('re' in sys.modules, 'json' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
