"""Reading inventories: dates from --dates, a column or the name; any CRS; 3D; repairs; pixel size; errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from glof_monitor_helpers import LAEA, UTM, circle, write_inventory

from glofwatch.changes.inventory import parse_date, parse_dates_option, read_inventory
from glofwatch.changes.monitor import load_observations
from glofwatch.errors import InputError


@pytest.mark.parametrize(("name", "expected"), [
    ("lakes_2020-10-15.gpkg", dt.date(2020, 10, 15)),
    ("inventory_2018.shp", dt.date(2018, 1, 1)),
    ("glacial_lakes_2017_09.geojson", dt.date(2017, 9, 1)),
    ("S2B_MSIL2A_20231015T045709_N0509_R119_T45RVL_20231015T080000.gpkg", dt.date(2023, 10, 15)),
    ("scene_2048px_2016-10-02.gpkg", dt.date(2016, 10, 2)),  # 2048 is a size, not a year
])  # fmt: skip
def test_date_from_file_name(tmp_path, name: str, expected: dt.date) -> None:
    inv = read_inventory(write_inventory(tmp_path / name, [circle(0.1)]))
    assert inv.date == expected and inv.date_from == "file name"


def test_date_from_map_output_folder(tmp_path) -> None:
    path = write_inventory(tmp_path / "S2A_MSIL2A_20211012T045701_N0301_R119_T45RVL" / "lakes.gpkg", [circle(0.1)])
    inv = read_inventory(path)
    assert inv.date == dt.date(2021, 10, 12) and inv.date_from == "folder name" and inv.layer == "lakes"


def test_date_from_column(tmp_path) -> None:
    two_lakes = [circle(0.1), circle(0.1, 5000)]
    one = read_inventory(write_inventory(tmp_path / "a.gpkg", two_lakes, date=["2015-09-30"] * 2))
    assert one.date == dt.date(2015, 9, 30) and one.date_from == "column 'date'"
    year = read_inventory(write_inventory(tmp_path / "b.gpkg", [circle(0.1)], YEAR=[2010]))
    assert year.date == dt.date(2010, 1, 1) and year.date_from == "column 'YEAR'"
    mixed = read_inventory(write_inventory(tmp_path / "c.gpkg", [circle(0.1, x) for x in (0, 3e3, 6e3)],
                                           img_date=["2000-10-01", "2000-10-09", "2000-11-20"]))
    assert mixed.date == dt.date(2000, 10, 9) and "median" in mixed.notes[0]


def test_dates_option_overrides_and_is_checked(tmp_path) -> None:
    path = write_inventory(tmp_path / "lakes_2020-10-15.gpkg", [circle(0.1)], date=["2001-01-01"])
    assert read_inventory(path, date=dt.date(2022, 10, 1)).date_from == "--dates"
    assert parse_dates_option("2019-10-15, 2020", 2) == [dt.date(2019, 10, 15), dt.date(2020, 1, 1)]
    with pytest.raises(InputError, match="gives 1 date.* for 2 inventories"):
        parse_dates_option("2019-10-15", 2)
    with pytest.raises(InputError, match="'last-year' is not a date"):
        parse_dates_option("last-year", 1)


@pytest.mark.bad_input
def test_no_date_is_a_one_line_error(tmp_path) -> None:
    path = write_inventory(tmp_path / "lakes.gpkg", [circle(0.1)])
    with pytest.raises(InputError) as err:
        read_inventory(path)
    message = str(err.value)
    assert str(path) in message and "--dates" in message and "\n" not in message


def test_parse_date() -> None:
    assert parse_date("2023-02-30") is None and parse_date("no date") is None and parse_date(None) is None
    assert parse_date(20191015) == dt.date(2019, 10, 15)
    assert parse_date(dt.datetime(2019, 10, 15, 4, 57)) == dt.date(2019, 10, 15)


def test_areas_agree_in_geographic_equal_area_and_utm_inputs(tmp_path) -> None:
    import geopandas as gpd

    lake = gpd.GeoSeries([circle(1.0)], crs=LAEA)  # 1 km2 on the ellipsoid
    files = []
    for date, crs in (("2019-10-15", "EPSG:4326"), ("2020-10-15", "EPSG:6933"), ("2021-10-15", UTM)):
        geom = lake.to_crs(crs).iloc[0]
        files.append(write_inventory(tmp_path / f"lakes_{date}.gpkg", [geom], crs=crs, area_km2=[42.0]))
    loaded = load_observations(files)
    from glofwatch.changes.tracks import track_observations

    tracked = track_observations(loaded.frame)
    areas = tracked.observations["area_km2"].to_numpy()
    assert np.ptp(areas) / areas.mean() < 0.005  # the same within 0.5 % (in fact within 1e-5)
    geodesic, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(lake.to_crs("EPSG:4326").iloc[0])
    assert areas == pytest.approx(abs(geodesic) / 1e6, rel=1e-3)  # never the area_km2 attribute (42)
    assert [inv.crs for inv in loaded.inventories] == ["EPSG:4326", "EPSG:6933", "EPSG:32645"]
    assert len(tracked.tracks) == 1 and tracked.tracks.iloc[0]["status"] == "stable"
    # UTM by hand: a circle drawn as 1 km2 in UTM at the central meridian (scale 0.9996) is 1 / 0.9996^2 km2
    utm = write_inventory(tmp_path / "utm_2019.gpkg", [circle(1.0, 500000.0, 3100000.0)], crs=UTM)
    utm_obs = track_observations(load_observations([utm]).frame).observations.iloc[0]
    assert utm_obs["area_km2"] == pytest.approx(1 / 0.9996**2, rel=1e-5)


def test_3d_polygons_lose_z(tmp_path) -> None:
    flat = circle(0.5)
    lifted = shapely.force_3d(flat, 5100.0)
    inv = read_inventory(write_inventory(tmp_path / "lakes_2019.gpkg", [lifted]))
    geom = inv.frame.geometry.iloc[0]
    assert not geom.has_z and geom.area == pytest.approx(flat.area)


@pytest.mark.bad_input
def test_invalid_repaired_empty_and_points_dropped(tmp_path) -> None:
    bowtie = shapely.Polygon([(0, 0), (200, 200), (200, 0), (0, 200)])  # self-intersecting: two 100 x 100 triangles
    geoms = [bowtie, shapely.Polygon(), circle(0.1, 5000), shapely.Point(9000, 0), None]
    inv = read_inventory(write_inventory(tmp_path / "lakes_2019.gpkg", geoms))
    assert (inv.n_read, len(inv.frame), inv.n_repaired, inv.n_empty, inv.n_not_polygon) == (5, 2, 1, 2, 1)
    assert inv.frame["source_row"].tolist() == [0, 2]
    repaired = inv.frame.geometry.iloc[0]
    assert repaired.is_valid and repaired.area == pytest.approx(2 * 0.5 * 200 * 100)
    assert any("repaired 1 invalid geometry" in n for n in inv.notes)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.bad_input
def test_no_crs_is_a_one_line_error(tmp_path) -> None:
    path = write_inventory(tmp_path / "lakes_2019.shp", [circle(0.1)], crs=None)
    with pytest.raises(InputError) as err:
        read_inventory(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "has no CRS" in message and "-a_srs" in message and "\n" not in message


@pytest.mark.bad_input
def test_only_points_is_an_error(tmp_path) -> None:
    path = write_inventory(tmp_path / "lakes_2019.gpkg", [shapely.Point(0, 0)])
    with pytest.raises(InputError, match="no usable lake polygons"):
        read_inventory(path)


def test_pixel_size_from_raster_beside_option_or_default(tmp_path) -> None:
    folder = tmp_path / "2019-10-15"
    path = write_inventory(folder / "lakes.gpkg", [circle(0.1)], crs=UTM)
    assert read_inventory(path).pixel_size_m == 10.0 and read_inventory(path).pixel_size_from == "default"
    assert "assuming 10 m" in read_inventory(path).notes[0]
    profile = {"driver": "GTiff", "height": 4, "width": 4, "count": 1, "dtype": "uint8", "crs": UTM,
               "transform": Affine(30.0, 0, 500000.0, 0, -30.0, 3100000.0)}
    with rasterio.open(folder / "mask.tif", "w", **profile) as ds:
        ds.write(np.zeros((1, 4, 4), np.uint8))
    inv = read_inventory(path)
    assert inv.pixel_size_m == 30.0 and inv.pixel_size_from.endswith("mask.tif")
    assert read_inventory(path, pixel_size_m=20.0).pixel_size_m == 20.0
    with pytest.raises(InputError, match="--pixel-size -1"):
        read_inventory(path, pixel_size_m=-1.0)


@pytest.mark.bad_input
def test_missing_file_and_empty_folder(tmp_path) -> None:
    from glofwatch.changes.inventory import find_inventories

    with pytest.raises(InputError, match="not found"):
        find_inventories([tmp_path / "nope.gpkg"])
    with pytest.raises(InputError, match="holds no lakes.gpkg"):
        find_inventories([tmp_path])
    (tmp_path / "b").mkdir()
    write_inventory(tmp_path / "b" / "lakes.gpkg", [circle(0.1)])
    write_inventory(tmp_path / "a" / "lakes.gpkg", [circle(0.1)])
    assert [p.parent.name for p in find_inventories([tmp_path])] == ["a", "b"]
