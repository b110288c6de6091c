"""Regional lake inventories: each lake once where map tiles overlap, by date or for all files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from glof_monitor_helpers import UTM, square, write_inventory
from typer.testing import CliRunner

from glofwatch.changes.inventory import UNDATED, read_inventory
from glofwatch.changes.regional import LAKE_COLUMNS, regional_inventory
from glofwatch.cli.app import app
from glofwatch.errors import ConfigError
from glofwatch.geo import GeoGrid
from glofwatch.lakes.vectorize import read_lakes, vectorize_mask, write_lakes

GRID = GeoGrid(UTM, Affine(10, 0, 500000, 0, -10, 3100000), 60, 100)
"""A 60 x 100 px scene of 10 m pixels on UTM 45N, cut below into two tiles that share columns 40-59."""


def scene_mask() -> np.ndarray:
    """Four lakes: one in tile A only, one in B only, one inside the overlap, one across A's right edge."""
    mask = np.zeros(GRID.shape, np.uint8)
    mask[5:15, 5:15] = 1  # A only: 100 px
    mask[40:52, 80:95] = 1  # B only: 180 px
    mask[37:40, 80:95] = 2  # SCL cloud along its north shore
    mask[20:30, 44:52] = 1  # in both tiles: 80 px
    mask[35:45, 50:70] = 1  # cut at column 60 by A's edge (100 px in A), whole in B: 200 px
    return mask


def map_tiles(root: Path, date: str | None = "2026-10-01") -> tuple[Path, Path]:
    """The two tiles' lake files, as `glofwatch map` writes them (OUT/<scene>/lakes.gpkg)."""
    mask = scene_mask()
    paths = []
    for name, c0, c1 in (("A", 0, 60), ("B", 40, 100)):
        lakes = vectorize_mask(mask[:, c0:c1], GRID.window(0, c0, GRID.height, c1 - c0), date=date)
        (root / name).mkdir(parents=True, exist_ok=True)
        paths.append(write_lakes(lakes, root / name / "lakes.gpkg"))
    return paths[0], paths[1]


def test_overlapping_tiles_count_each_lake_once(tmp_path: Path) -> None:
    a, b = map_tiles(tmp_path / "out")
    assert len(read_lakes(a)) + len(read_lakes(b)) == 6  # what summing the files counts: two lakes twice
    whole = vectorize_mask(scene_mask(), GRID).sort_values("area_km2").reset_index(drop=True)

    region = regional_inventory([tmp_path / "out"])
    lakes = region.lakes.sort_values("area_km2").reset_index(drop=True)
    assert list(region.lakes.columns) == [*LAKE_COLUMNS, "geometry"] and str(region.lakes.crs) == "EPSG:4326"
    assert len(lakes) == 4
    # each lake has the area of the whole scene's lake, measured the way `glofwatch map` measures it (up to the
    # round trip of the outlines through the equal-area CRS: 1e-4 m2 here)
    np.testing.assert_allclose(lakes["area_km2"], whole["area_km2"], rtol=1e-7)
    np.testing.assert_allclose(lakes["perimeter_m"], whole["perimeter_m"], rtol=1e-7)
    np.testing.assert_allclose(lakes[["centroid_lon", "centroid_lat"]], whole[["centroid_lon", "centroid_lat"]],
                               atol=1e-9)
    # 80, 100, 180 and 200 px: the overlap lake and the cut lake come from both tiles
    assert lakes["outlines"].tolist() == [2, 1, 1, 2]
    # the cut lake reads as partly unobserved in tile A (A's edge is beside it) but is whole in B: the merged
    # lake takes B's outline and its fraction, as in the whole scene; the lake beside the cloud keeps its own
    in_a = read_lakes(a)
    assert (in_a["unobserved_fraction"] > 0).sum() == 1 and whole["unobserved_fraction"].iloc[3] == 0
    np.testing.assert_allclose(lakes["unobserved_fraction"], whole["unobserved_fraction"], rtol=1e-12)
    assert lakes["unobserved_fraction"].tolist()[2] > 0 and (lakes["unobserved_fraction"] > 0).sum() == 1
    assert lakes["scenes"].tolist() == ["A;B", "A", "B", "A;B"]
    assert set(lakes["inventory"]) == {"2026-10-01"} and set(lakes["date"]) == {"2026-10-01"}
    (only,) = region.groups
    assert only.summary() == {"inventory": "2026-10-01", "scenes": ["A", "B"], "outlines": 6, "lakes": 4,
                              "folded": 2, "partly_unobserved": 1}
    assert region.lakes["lake_id"].tolist() == [1, 2, 3, 4]
    again = regional_inventory([a, tmp_path / "out"])  # tile A given twice: read once
    assert [g.summary()["outlines"] for g in again.groups] == [6] and len(again.lakes) == 4


def test_a_tile_without_lakes_is_still_a_scene_of_its_inventory(tmp_path: Path) -> None:
    from glofwatch.lakes.vectorize import empty_lakes

    map_tiles(tmp_path / "out")
    # no lake, so no date column value: the date comes from the folder name, as for a real product's folder
    empty = write_lakes(empty_lakes(UTM), tmp_path / "out" / "C_20261001" / "lakes.gpkg")
    region = regional_inventory([tmp_path / "out"])
    assert [g.summary() for g in region.groups] == [{"inventory": "2026-10-01", "scenes": ["A", "B", "C_20261001"],
                                                     "outlines": 6, "lakes": 4, "folded": 2, "partly_unobserved": 1}]
    nothing = regional_inventory([write_lakes(empty_lakes(UTM), tmp_path / "D" / "lakes.gpkg")])
    assert len(nothing.lakes) == 0 and list(nothing.lakes.columns) == [*LAKE_COLUMNS, "geometry"]
    assert [(g.name, g.outlines, g.lakes) for g in nothing.groups] == [("undated", 0, 0)]
    assert regional_inventory([empty]).groups[0].name == "2026-10-01"


def test_tiles_in_two_utm_zones_still_fold(tmp_path: Path) -> None:
    lake = square(300.0, 500000.0, 3100000.0)
    east = write_inventory(tmp_path / "east_2026-10-01.gpkg", [lake, square(200.0, 503000.0, 3100000.0)], crs=UTM)
    # the same lake read from a tile of UTM 44N (its outline reprojected), plus one lake of its own
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries([lake], crs=UTM)).to_crs("EPSG:32644")
    west = write_inventory(tmp_path / "west_2026-10-01.gpkg",
                           [frame.geometry.iloc[0], square(100.0, 480000.0, 3100000.0)], crs="EPSG:32644")
    region = regional_inventory([east, west])
    assert len(region.lakes) == 3
    shared = region.lakes[region.lakes["outlines"] == 2]
    assert shared["scenes"].tolist() == ["east_2026-10-01;west_2026-10-01"]
    one = regional_inventory([east]).lakes
    assert float(shared["area_km2"].iloc[0]) == pytest.approx(float(one["area_km2"].iloc[0]), rel=1e-6)
    # 300 m square on the central meridian, k0 = 0.9996: 0.09 km2 / k0^2
    assert float(one["area_km2"].iloc[0]) == pytest.approx(0.09 / 0.9996**2, rel=1e-5)


def test_dates_are_inventoried_apart_and_all_merges_them(tmp_path: Path) -> None:
    one = square(300.0, 500000.0, 3100000.0)
    grown = square(400.0, 500000.0, 3100000.0)
    d1 = write_inventory(tmp_path / "lakes_2025-10-01.gpkg", [one], crs=UTM)
    d2 = write_inventory(tmp_path / "lakes_2026-10-01.gpkg", [grown, square(100.0, 510000.0, 3100000.0)], crs=UTM)
    undated = write_inventory(tmp_path / "lakes.gpkg", [square(100.0, 520000.0, 3100000.0)], crs=UTM)

    by_date = regional_inventory([d2, undated, d1])
    assert [g.name for g in by_date.groups] == ["2025-10-01", "2026-10-01", "undated"]
    assert [(g.outlines, g.lakes, g.folded) for g in by_date.groups] == [(1, 1, 0), (2, 2, 0), (1, 1, 0)]
    assert by_date.lakes["inventory"].tolist() == ["2025-10-01", "2026-10-01", "2026-10-01", "undated"]
    assert by_date.lakes["date"].isna().tolist() == [False, False, False, True]
    assert by_date.areas("2025-10-01") == pytest.approx([0.09 / 0.9996**2], rel=1e-5)

    composite = regional_inventory([d1, d2, undated], group="all")
    (g,) = composite.groups
    assert (g.name, g.outlines, g.lakes, g.folded) == ("all", 4, 3, 1)
    # the lake seen on both dates counts once, at its larger extent (the union of the two outlines)
    assert composite.lakes["area_km2"].max() == pytest.approx(0.16 / 0.9996**2, rel=1e-5)
    assert composite.lakes["date"].isna().all()

    # one date per file overrides what the names say: both files on one date fold their shared lake
    given = regional_inventory([d1, d2], dates=[dt.date(2026, 10, 1)] * 2)
    assert [(g.name, g.outlines, g.lakes) for g in given.groups] == [("2026-10-01", 3, 2)]


def test_an_undated_file_is_read_only_when_asked(tmp_path: Path) -> None:
    path = write_inventory(tmp_path / "lakes.gpkg", [square(100.0, 500000.0, 3100000.0)], crs=UTM)
    inv = read_inventory(path, undated_ok=True)
    assert (inv.date, inv.date_from, inv.summary()["date"]) == (UNDATED, "none", None)
    from glofwatch.errors import InputError

    with pytest.raises(InputError, match="no date found"):
        read_inventory(path)


def test_regional_errors(tmp_path: Path) -> None:
    path = write_inventory(tmp_path / "lakes_2026.gpkg", [square(100.0, 500000.0, 3100000.0)], crs=UTM)
    with pytest.raises(ConfigError, match=r"--group 'dates' is not one of date, all; did you mean 'date'\?"):
        regional_inventory([path], group="dates")
    with pytest.raises(ConfigError, match=r"--min-overlap 1.5 must be in \[0, 1\)"):
        regional_inventory([path], min_overlap=1.5)


def test_inventory_cli_over_a_region_of_tiles(tmp_path: Path) -> None:
    map_tiles(tmp_path / "out")
    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "out"), "--out", str(tmp_path / "inv.json"),
                                   "--lakes", str(tmp_path / "region.gpkg")])
    assert res.exit_code == 0, res.output
    assert ("Lake inventory 2026-10-01: 4 lakes from 2 scene(s); 2 outline(s) from overlapping tiles folded into "
            "another; 1 partly unobserved (cloud, nodata or a scene edge beside them: their outlines may be cut)"
            in " ".join(res.output.split()))
    doc = json.loads((tmp_path / "inv.json").read_text())
    assert doc["group_by"] == "date" and doc["min_overlap"] == 0.1
    assert doc["groups"] == [{"inventory": "2026-10-01", "scenes": ["A", "B"], "outlines": 6, "lakes": 4,
                              "folded": 2, "partly_unobserved": 1}]
    assert [i["path"] for i in doc["inputs"]] == [str(tmp_path / "out" / s / "lakes.gpkg") for s in "AB"]
    by = {r["size_class"]: r for r in doc["classes"]}
    # 80 px is 0.0080 km2; 100 px is 0.0100 km2 / k^2 = 0.010008 km2, so it is in 0.01-0.05 with 180 and 200 px
    assert by["<0.01"]["lakes"] == 1 and by["0.01-0.05"]["lakes"] == 3 and by["total"]["lakes"] == 4
    whole = vectorize_mask(scene_mask(), GRID)
    assert by["total"]["area_km2"] == pytest.approx(float(whole["area_km2"].sum()), rel=1e-7)
    back = read_lakes(tmp_path / "region.gpkg")
    assert len(back) == 4 and back.crs.to_epsg() == 4326
    assert sorted(back["outlines"]) == [1, 1, 2, 2]

    res = CliRunner().invoke(app, ["inventory", str(tmp_path / "out"), "--group", "al"])
    assert res.exit_code == 2 and "did you mean 'all'" in res.output
