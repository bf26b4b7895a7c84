"""The scaler's config travels as a file in its Lambda asset: the scaler loads it, and
import-deployment finds it in the function's code archive."""

from __future__ import annotations

import io
import zipfile

import pytest

from hyper_tui.aws import schema
from hyper_tui.aws.discovery import config_from_code
from hyper_tui.aws.scaler_config import (
    CONFIG_FILE,
    CONFIG_FILE_ENV,
    PairConfig,
    ScalerConfig,
    load_scaler_config,
)


def _config() -> ScalerConfig:
    pair = PairConfig(queue="q", definition="d", cluster="c", work_queue_url="u", ratio=1.0,
                      vcpus=1, max_vcpus=4, weights={"us-east-1": 1})
    return ScalerConfig(host="h", account="123456789012", main_region="us-east-1",
                        jobs_table="t", namespace="n", pairs=[pair])


def test_the_scaler_loads_its_file_relative_to_the_task_root(tmp_path):
    sc = _config()
    (tmp_path / CONFIG_FILE).parent.mkdir(parents=True)
    (tmp_path / CONFIG_FILE).write_text(sc.to_json())
    env = {CONFIG_FILE_ENV: CONFIG_FILE, "LAMBDA_TASK_ROOT": str(tmp_path)}
    assert load_scaler_config(env) == sc
    # older deployments: the JSON itself in the environment
    assert load_scaler_config({schema.SCALER_CONFIG_ENV: sc.to_json()}) == sc
    with pytest.raises(KeyError, match=CONFIG_FILE_ENV):
        load_scaler_config({})


def test_discovery_reads_the_config_from_the_code_archive():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hyper_tui/__init__.py", "")
        z.writestr(CONFIG_FILE, _config().to_json())
    assert ScalerConfig.from_json(config_from_code(buf.getvalue())) == _config()
    assert config_from_code(buf.getvalue(), "missing.json") is None
    assert config_from_code(b"not a zip") is None
