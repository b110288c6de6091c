"""A lake change read from an outline cut by cloud, nodata or a scene's edge is ``obscured``, not a drainage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from glof_monitor_helpers import UTM, square, write_inventory

from glofwatch.changes.monitor import load_observations, run_monitor
from glofwatch.changes.tracks import track_observations
from glofwatch.geo import GeoGrid
from glofwatch.lakes.vectorize import vectorize_mask, write_lakes

GRID = GeoGrid(UTM, Affine(10, 0, 500000, 0, -10, 3100000), 100, 100)
D0, D1 = "2025-10-01", "2026-10-01"


def mapped(root: Path, masks: dict[str, np.ndarray]) -> list[Path]:
    """Each date's mask vectorized as `glofwatch map` does, in OUT/<date>/lakes.gpkg beside its mask.tif."""
    paths = []
    for date, mask in masks.items():
        (root / date).mkdir(parents=True, exist_ok=True)
        write_mask(mask, root / date / "mask.tif")
        paths.append(write_lakes(vectorize_mask(mask, GRID, date=date), root / date / "lakes.gpkg"))
    return paths


def write_mask(mask: np.ndarray, path: Path) -> Path:
    with rasterio.open(path, "w", **GRID.profile(dtype="uint8", count=1, nodata=255)) as ds:
        ds.write(mask, 1)
    return path


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


def test_a_lake_gone_under_cloud_is_obscured_not_vanished(tmp_path: Path) -> None:
    lake = lake_mask(slice(20, 40), slice(20, 40))  # 400 px
    lake[60:80, 60:80] = 1  # a second lake, to stay seen
    hidden = lake_mask(slice(60, 80), slice(60, 80))
    hidden[10:50, 10:50] = 2  # the first lake's place under cloud on the later date
    gone = lake_mask(slice(60, 80), slice(60, 80))  # its place observed, and dry
    edge = lake_mask(slice(60, 80), slice(60, 80))
    edge[10:50, 10:29] = 2  # under cloud over 9 of its 20 columns: 55 % observed, still vanished
    statuses = {}
    for name, later in (("hidden", hidden), ("gone", gone), ("edge", edge)):
        result = run_monitor(mapped(tmp_path / name, {D0: lake, D1: later}), tmp_path / f"monitor-{name}")
        first = result.tracks.loc[result.tracks["centroid_lat"].idxmax()]  # the northern lake
        statuses[name] = first["status"]
        assert result.summary["counts"]["by_status"][first["status"]] == 1
    assert statuses == {"hidden": "obscured", "gone": "vanished", "edge": "vanished"}


def test_the_observed_share_of_an_outline(tmp_path: Path) -> None:
    import shapely

    from glofwatch.changes.visibility import observed_share

    mask = np.zeros(GRID.shape, np.uint8)
    mask[:, 50:] = 2  # east half not observed
    mask[:, 90:] = 255  # nodata at the east edge
    path = write_mask(mask, tmp_path / "mask.tif")
    # 40 px wide square over columns 30-69: 20 observed columns of 40
    square_m = shapely.box(500300, 3099600, 500700, 3100000)
    assert observed_share(square_m, UTM, [path]) == pytest.approx(0.5)
    # half beyond the raster's west edge: 10 of 20 columns inside, all observed
    off = shapely.box(499900, 3099600, 500100, 3100000)
    assert observed_share(off, UTM, [path]) == pytest.approx(0.5)
    # the best of two masks, and NaN without one
    clear = write_mask(np.zeros(GRID.shape, np.uint8), tmp_path / "clear.tif")
    assert observed_share(square_m, UTM, [path, clear]) == 1.0
    assert np.isnan(observed_share(square_m, UTM, []))


def test_a_lake_outside_every_later_map_is_obscured(tmp_path: Path) -> None:
    from glofwatch.changes.visibility import obscure_unseen

    early = lake_mask(slice(20, 40), slice(20, 40))
    early[60:80, 60:80] = 1
    east = GRID.window(0, 50, 100, 50)  # the later date was mapped over the east half only
    (tmp_path / D0).mkdir()
    (tmp_path / D1).mkdir()
    write_mask(early, tmp_path / D0 / "mask.tif")
    write_lakes(vectorize_mask(early, GRID, date=D0), tmp_path / D0 / "lakes.gpkg")
    later = early[:, 50:].copy()
    with rasterio.open(tmp_path / D1 / "mask.tif", "w", **east.profile(dtype="uint8", count=1, nodata=255)) as ds:
        ds.write(later, 1)
    write_lakes(vectorize_mask(later, east, date=D1), tmp_path / D1 / "lakes.gpkg")
    loaded = load_observations([tmp_path / D0 / "lakes.gpkg", tmp_path / D1 / "lakes.gpkg"])
    tracked = track_observations(loaded.frame, loaded.dates)
    assert sorted(tracked.tracks["status"]) == ["stable", "vanished"]
    assert obscure_unseen(tracked.tracks, tracked.dates, loaded.inventories) == 1
    assert sorted(tracked.tracks["status"]) == ["obscured", "stable"]
    # without masks (published inventories) nothing can be told
    for date in (D0, D1):
        (tmp_path / date / "mask.tif").unlink()
    again = track_observations(loaded.frame, loaded.dates)
    assert obscure_unseen(again.tracks, again.dates, loaded.inventories) == 0
