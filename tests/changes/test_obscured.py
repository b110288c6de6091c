"""A lake change read from an outline cut by cloud, nodata or a scene's edge is ``obscured``, not a drainage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from glof_monitor_helpers import UTM, square, write_inventory

from glofwatch.changes.monitor import load_observations, run_monitor
from glofwatch.changes.tracks import track_observations
from glofwatch.geo import GeoGrid
from glofwatch.lakes.vectorize import vectorize_mask, write_lakes

GRID = GeoGrid(UTM, Affine(10, 0, 500000, 0, -10, 3100000), 100, 100)
D0, D1 = "2025-10-01", "2026-10-01"


def mapped(root: Path, masks: dict[str, np.ndarray]) -> list[Path]:
    """Each date's mask vectorized as `glofwatch map` does, in OUT/<date>/lakes.gpkg."""
    paths = []
    for date, mask in masks.items():
        (root / date).mkdir(parents=True, exist_ok=True)
        paths.append(write_lakes(vectorize_mask(mask, GRID, date=date), root / date / "lakes.gpkg"))
    return paths


def lake_mask(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(GRID.shape, np.uint8)
    mask[rows, cols] = 1
    return mask


def test_a_lake_half_under_cloud_is_obscured_not_drained(tmp_path: Path) -> None:
    clear = lake_mask(slice(20, 80), slice(20, 80))  # 3600 px
    cloudy = clear.copy()
    cloudy[20:80, 50:100] = 2  # SCL cloud over the east half on the later date: 1800 px left
    result = run_monitor(mapped(tmp_path, {D0: clear, D1: cloudy}), tmp_path / "monitor")
    lake = result.tracks.iloc[0]
    assert lake["area_last_km2"] == pytest.approx(lake["area_prev_km2"] / 2, rel=1e-6)  # half the area "lost"
    assert lake["status"] == "obscured"
    assert result.summary["counts"]["by_status"]["obscured"] == 1 and result.summary["counts"]["by_status"][
        "drained"] == 0

    # the same loss with the remnant seen all round is a drainage
    drained = lake_mask(slice(20, 80), slice(20, 50))
    real = run_monitor(mapped(tmp_path / "real", {D0: clear, D1: drained}), tmp_path / "monitor-real")
    assert real.tracks.iloc[0]["status"] == "drained"


def test_growth_over_an_outline_cut_on_the_earlier_date_is_obscured(tmp_path: Path) -> None:
    cut = lake_mask(slice(20, 80), slice(20, 80))
    cut[20:80, 50:100] = 2  # the earlier date: half under cloud
    whole = lake_mask(slice(20, 80), slice(20, 80))
    assert track_observations(load_observations(mapped(tmp_path, {D0: cut, D1: whole})).frame).tracks.iloc[0][
        "status"] == "obscured"
    # a lake cut on the later date that still grew did grow
    small = lake_mask(slice(30, 70), slice(30, 50))
    later = lake_mask(slice(20, 80), slice(20, 80))
    later[20:80, 70:100] = 2
    grew = track_observations(load_observations(mapped(tmp_path / "g", {D0: small, D1: later})).frame).tracks
    assert grew.iloc[0]["status"] == "growing"


def test_outlines_without_an_unobserved_fraction_keep_their_status(tmp_path: Path) -> None:
    # a published inventory records no unobserved ground: a loss there is what it says
    d0 = write_inventory(tmp_path / f"lakes_{D0}.gpkg", [square(600.0, 500000.0, 3100000.0)], crs=UTM)
    d1 = write_inventory(tmp_path / f"lakes_{D1}.gpkg", [square(300.0, 500000.0, 3100000.0)], crs=UTM)
    loaded = load_observations([d0, d1])
    assert loaded.frame["unobserved_fraction"].isna().all()
    assert track_observations(loaded.frame).tracks.iloc[0]["status"] == "drained"
