"""Temperature scaling, calibration error, and the NDWI baseline, on numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.calibration import calibrate, expected_calibration_error, fit_temperature
from glofwatch.infer.ndwi import NDWIPredictor, dataset_bands, ndwi, otsu_threshold, parse_threshold


def test_temperature_of_a_known_logit_set() -> None:
    """Logits +-ln 3 that are right 2 times in 3: the best probability is 2/3 = sigmoid(ln 2), so T = ln 3 / ln 2."""
    z = torch.tensor([math.log(3)] * 3 + [-math.log(3)] * 3)
    y = torch.tensor([1, 1, 0, 0, 0, 1])
    assert fit_temperature(z, y) == pytest.approx(math.log(3) / math.log(2), rel=1e-4)


def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, 200_000)
    y = rng.random(z.size) < 1 / (1 + np.exp(-z / 2.5))  # labels drawn from sigmoid(z / 2.5)
    out = calibrate(z.astype(np.float32), y.astype(np.uint8))
    assert out["temperature"] == pytest.approx(2.5, rel=0.03)
    assert out["ece_after"] < 0.01 < out["ece_before"]


def test_expected_calibration_error_by_hand() -> None:
    # bin of 0.9: lake 1 of 2 -> |0.5 - 0.9| = 0.4; bin of 0.1: lake 0 of 2 -> 0.1; weights 1/2 each
    assert expected_calibration_error(np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 0, 0, 0])) == pytest.approx(0.25)
    with pytest.raises(InputError, match="one truth value per probability"):
        expected_calibration_error(np.array([0.5]), np.array([1, 0]))


def test_ndwi_of_known_reflectances() -> None:
    assert ndwi(np.array([0.30]), np.array([0.10]))[0] == pytest.approx(0.5)    # water
    assert ndwi(np.array([0.08]), np.array([0.32]))[0] == pytest.approx(-0.6)   # vegetation-like
    assert ndwi(np.array([0.0]), np.array([0.0]))[0] == 0.0                      # no signal, no division by zero


def test_otsu_on_a_bimodal_histogram() -> None:
    values = np.r_[np.full(500, -0.4), np.full(300, 0.5)]
    t = otsu_threshold(values)
    assert -0.4 < t < 0.5
    assert otsu_threshold(np.full(10, 0.2)) == 0.2


def test_ndwi_predictor_on_a_false_colour_crop() -> None:
    """False colour (B08, B04, B03): a lake square has NIR 20 / green 80 (NDWI 0.6), land NIR 100 / green 50 (-1/3)."""
    image = np.zeros((8, 8, 3), np.float32)
    image[..., 0], image[..., 1], image[..., 2] = 100, 60, 50
    image[:3, :3, 0], image[:3, :3, 2] = 20, 80
    image[7, 7] = 0  # nodata pixel
    otsu = NDWIPredictor(("B08", "B04", "B03"), "otsu").predict_image(image)
    expect = np.zeros((8, 8), np.uint8)
    expect[:3, :3] = 1
    assert (otsu.mask == expect).all() and not otsu.valid[7, 7] and otsu.probability[7, 7] == 0
    fixed = NDWIPredictor(("B08", "B04", "B03"), 0.0).predict_image(image)
    assert fixed.probability[0, 0] == pytest.approx((0.6 + 1) / 2)
    assert fixed.probability[5, 5] == pytest.approx((1 - 1 / 3) / 2)
    assert (fixed.mask == expect).all()
    # one scene-wide threshold for every tile
    scene = NDWIPredictor(("B08", "B04", "B03"), "otsu").for_scene(image)
    assert isinstance(scene.ndwi_threshold, float) and -1 / 3 < scene.ndwi_threshold < 0.6


def test_ndwi_refuses_true_colour_and_bad_thresholds(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match=r"NDWI needs the green \(B03\) and near-infrared \(B08\).*no B08"):
        NDWIPredictor(("B04", "B03", "B02"))
    with pytest.raises(ConfigError, match="NDWI threshold 1.5 is outside"):
        parse_threshold("1.5")
    assert parse_threshold("OTSU") == "otsu" and parse_threshold("0.1") == 0.1
    with pytest.raises(ConfigError, match="band order is unknown; pass --bands"):
        dataset_bands(tmp_path, 3)
    assert dataset_bands(tmp_path, 3, "B08,B04,B03") == ("B08", "B04", "B03")
    assert dataset_bands(tmp_path, 4) == ("B02", "B03", "B04", "B08")
