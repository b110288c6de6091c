"""Area uncertainty: sigma_A = perimeter x pixel / 2, changes in quadrature, real change beyond k sigma."""

from __future__ import annotations

import math

import numpy as np
import pytest
from glof_monitor_helpers import circle, square, track

from glofwatch.changes.uncertainty import area_sigma_km2, classify_change, combined_sigma
from glofwatch.errors import ConfigError

# a 1 km2 circle: r = sqrt(1e6 / pi) = 564.19 m, perimeter 2 pi r = 2 sqrt(pi) km = 3544.9077 m
CIRCLE_1KM2_PERIMETER = 2 * math.sqrt(math.pi) * 1000.0
CIRCLE_1KM2_SIGMA_10M = 0.0177245  # 3544.9077 m x 10 m / 2 = 17724.5 m2


def test_sigma_formula_by_hand() -> None:
    assert float(area_sigma_km2(CIRCLE_1KM2_PERIMETER, 10.0)) == pytest.approx(CIRCLE_1KM2_SIGMA_10M, abs=1e-7)
    assert float(area_sigma_km2(4000.0, 10.0)) == pytest.approx(0.02)  # 1 km square at Sentinel-2
    assert float(area_sigma_km2(4000.0, 30.0)) == pytest.approx(0.06)  # ... at Landsat
    assert float(combined_sigma(0.03, 0.04)) == pytest.approx(0.05)
    assert float(combined_sigma(0.02, 0.024)) == pytest.approx(math.sqrt(0.000976))


def test_sigma_of_measured_circle_and_square(tmp_path) -> None:
    tracked = track(tmp_path, {"2019-10-15": [circle(1.0), square(1000.0, 5000.0, 0.0)]})
    obs = tracked.observations.set_index("source_row")
    assert obs.loc[0, "area_km2"] == pytest.approx(1.0, rel=1e-4)
    assert obs.loc[0, "perimeter_m"] == pytest.approx(CIRCLE_1KM2_PERIMETER, rel=1e-4)
    assert obs.loc[0, "area_uncertainty_km2"] == pytest.approx(CIRCLE_1KM2_SIGMA_10M, rel=1e-4)
    assert obs.loc[1, "area_km2"] == pytest.approx(1.0, rel=1e-4)
    assert obs.loc[1, "perimeter_m"] == pytest.approx(4000.0, rel=1e-4)
    assert obs.loc[1, "area_uncertainty_km2"] == pytest.approx(0.02, rel=1e-4)


def test_change_uncertainty_combines_two_dates(tmp_path) -> None:
    # 1000 m square -> 1200 m square: sigmas 0.02 and 0.024, combined sqrt(0.000976) = 0.031241
    tracked = track(tmp_path, {"2019-10-15": [square(1000.0)], "2020-10-15": [square(1200.0)]})
    lake = tracked.tracks.iloc[0]
    assert lake["change_km2"] == pytest.approx(0.44, rel=1e-4)
    assert lake["change_uncertainty_km2"] == pytest.approx(0.031241, rel=1e-3)
    assert lake["status"] == "growing"
    # 366 days (2020 is a leap year) = 1.00205 years: 44 % / 1.00205 = 43.910 % per year
    assert lake["growth_pct_per_year"] == pytest.approx(44.0 / (366 / 365.25), rel=1e-3)


@pytest.mark.parametrize(("side_m", "k", "status"), [
    (1015.0, 1.0, "growing"),  # change 0.030225 > combined sigma 0.028498 (1.06 sigma)
    (1015.0, 1.1, "stable"),  # ... but not beyond 1.1 sigma = 0.031348
    (1013.0, 1.0, "stable"),  # change 0.026169 < combined sigma 0.028469 (0.92 sigma)
])  # fmt: skip
def test_change_is_real_only_beyond_k_sigma(tmp_path, side_m: float, k: float, status: str) -> None:
    tracked = track(tmp_path, {"2019-10-15": [square(1000.0)], "2020-10-15": [square(side_m)]}, k_sigma=k)
    assert tracked.tracks.iloc[0]["status"] == status


def test_classify_change_by_hand() -> None:
    prev = np.array([1.0, 1.0, 1.0, 1.63, 1.0, 1.0])
    now = np.array([1.05, 0.95, 0.75, 0.60, 0.69, 1.01])
    sigma = np.full(6, 0.03)
    expected = ["growing", "shrinking", "shrinking", "drained", "drained", "stable"]
    assert classify_change(prev, now, sigma).tolist() == expected
    assert classify_change(prev, now, sigma, drain_threshold=0.2).tolist()[2] == "drained"  # 25 % loss
    assert classify_change(prev, now, sigma, k_sigma=2.0).tolist()[:2] == ["stable", "stable"]  # 0.05 < 0.06
    # a 40 % loss within the uncertainty is no drainage
    assert classify_change(np.array([0.001]), np.array([0.0006]), np.array([0.0007])).tolist() == ["stable"]


@pytest.mark.parametrize(("k", "threshold"), [(-1.0, 0.3), (1.0, 0.0), (1.0, 1.0), (float("nan"), 0.3)])
def test_bad_parameters_are_one_line_errors(k: float, threshold: float) -> None:
    with pytest.raises(ConfigError, match="k_sigma|drain threshold"):
        classify_change(np.array([1.0]), np.array([1.0]), np.array([0.1]), k_sigma=k, drain_threshold=threshold)
