"""``glofwatch models`` lists the registry as a table or JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.models import MODELS

runner = CliRunner()


def test_models_table_lists_every_name():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in MODELS.names():
        assert name in result.output
    assert "U-Net EfficientNetB0" in result.output
    assert "imagenet (offline)" in result.output  # EfficientNet-Lite0 ships with a package


def test_models_json():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == set(MODELS.names())
    assert rows["unet"]["params_m"] == 31.03  # 31,031,745 (see test_plain_unet.py)
    assert rows["unet"]["default_weights"] is None and rows["unet"]["imagenet_offline"] is None
    assert rows["unet-efflite0"]["imagenet_offline"] is True
    assert rows["deeplabv3plus-resnet50"]["study_row"] == "DeepLabV3+ ResNet50"
    assert rows["deeplabv3plus-resnet50"]["stride"] == 16
    assert rows["tiny-unet"]["for_tests"] is True
