"""vectorize_mask: geodesic areas of hand-made lakes, holes, filters, probabilities, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
from affine import Affine

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.lakes.vectorize import (
    LAKE_COLUMNS,
    LakeProbability,
    geodesic_area_perimeter,
    read_lakes,
    vectorize_mask,
    write_lakes,
)

# UTM 45N near the central meridian (87 E): the grid scale factor is 0.9996, so a
# 10 m pixel covers (10 / 0.9996)^2 m2 on the ellipsoid.
UTM_GRID = GeoGrid("EPSG:32645", Affine(10, 0, 500000, 0, -10, 3100000), 100, 100, 0)
K0 = 0.9996


def squares() -> np.ndarray:
    m = np.zeros((100, 100), np.uint8)
    m[10:40, 10:40] = 1  # 30 x 30 px = 0.09 km2, with a 5 x 5 px island
    m[20:25, 20:25] = 0
    m[60:62, 60:62] = 1  # 2 x 2 px = 400 m2: below the default 1000 m2
    m[70:90, 50:90] = 1  # 20 x 40 px = 0.08 km2
    m[0:5, 0:5] = 255  # nodata is never lake
    return m


def test_square_lake_areas_perimeters_and_holes() -> None:
    lakes = vectorize_mask(squares(), UTM_GRID)
    assert list(lakes.columns) == [*LAKE_COLUMNS, "geometry"]
    assert lakes["lake_id"].tolist() == [1, 2]  # raster order; the 2x2 pond is dropped
    first, second = lakes.iloc[0], lakes.iloc[1]
    assert first.area_km2 == pytest.approx((900 - 25) * 100 / K0**2 / 1e6, rel=2e-4)
    assert second.area_km2 == pytest.approx(800 * 100 / K0**2 / 1e6, rel=2e-4)
    assert len(first.geometry.interiors) == 1 and len(second.geometry.interiors) == 0
    # perimeter counts the island's shore: 4*300 m + 4*50 m
    assert first.perimeter_m == pytest.approx((1200 + 200) / K0, rel=2e-4)
    assert second.perimeter_m == pytest.approx(1200 / K0, rel=2e-4)
    assert lakes.crs.to_epsg() == 32645
    assert first.geometry.area == pytest.approx(87500.0)  # planar area in the scene CRS


def test_geodesic_measure_counts_rings_by_role_not_by_winding() -> None:
    import shapely

    to_ll = pyproj.Transformer.from_crs(32645, 4326, always_xy=True)
    x, y = 500000.0, 3100000.0
    cw = [(x, y), (x, y + 100), (x + 100, y + 100), (x + 100, y)]  # clockwise shell
    hole_same_way = [(x + 40, y + 40), (x + 40, y + 60), (x + 60, y + 60), (x + 60, y + 40)]
    lake = shapely.Polygon(cw, holes=[hole_same_way])
    two = shapely.MultiPolygon([shapely.Polygon(cw), shapely.box(x - 300, y, x - 250, y + 50)])  # ccw box
    area, perim = geodesic_area_perimeter(np.array([lake, two, shapely.box(x, y, x + 10, y + 10)]), to_ll)
    assert area[0] == pytest.approx((100 * 100 - 20 * 20) / K0**2, rel=1e-4)  # the hole subtracts
    assert perim[0] == pytest.approx((400 + 80) / K0, rel=1e-4)  # and adds shore
    assert area[1] == pytest.approx((100 * 100 + 50 * 50) / K0**2, rel=1e-4)  # the parts add up
    assert perim[1] == pytest.approx((400 + 200) / K0, rel=1e-4)
    assert area[2] == pytest.approx(100 / K0**2, rel=1e-4)
    assert geodesic_area_perimeter(np.array([], dtype=object), to_ll)[0].shape == (0,)


def test_centroid_lon_lat() -> None:
    lakes = vectorize_mask(squares(), UTM_GRID)
    # lake 2 spans x 500500..500900, y 3099300..3099100 -> centre (500700, 3099200)
    lon, lat = pyproj.Transformer.from_crs(32645, 4326, always_xy=True).transform(500700, 3099200)
    assert lakes.iloc[1].centroid_lon == pytest.approx(lon, abs=1e-9)
    assert lakes.iloc[1].centroid_lat == pytest.approx(lat, abs=1e-9)


def test_min_area_filter_and_empty_result() -> None:
    assert len(vectorize_mask(squares(), UTM_GRID, min_area_m2=300)) == 3
    assert len(vectorize_mask(squares(), UTM_GRID, min_area_m2=0.085e6)) == 1
    empty = vectorize_mask(np.zeros((100, 100), np.uint8), UTM_GRID)
    assert len(empty) == 0 and list(empty.columns) == [*LAKE_COLUMNS, "geometry"]


def test_mean_and_max_probability() -> None:
    prob = np.zeros((100, 100), np.float32)
    prob[70:80, 50:90] = 0.6
    prob[80:90, 50:90] = 0.8
    prob[85, 60] = 0.99
    lakes = vectorize_mask(squares(), UTM_GRID, probability=prob, date="2020-08-01")
    expected_mean = (400 * 0.6 + 399 * 0.8 + 0.99) / 800
    assert lakes.iloc[1].mean_prob == pytest.approx(expected_mean, rel=1e-6)
    assert lakes.iloc[1].max_prob == pytest.approx(0.99, rel=1e-6)
    assert lakes["date"].tolist() == ["2020-08-01", "2020-08-01"]
    assert np.isnan(vectorize_mask(squares(), UTM_GRID).iloc[0].mean_prob)


def test_lake_probability_of_the_lake_pixels_alone_gives_the_same_means() -> None:
    mask = squares()
    prob = np.random.default_rng(3).random(mask.shape, dtype=np.float32)
    at = np.flatnonzero(mask.reshape(-1) == 1)
    # in two parts, as the scene mapper keeps them strip by strip
    half = at.size // 2
    record = LakeProbability.concat([(at[:half], prob.reshape(-1)[at[:half]]),
                                     (at[half:], prob.reshape(-1)[at[half:]])], mask.size)
    assert record.index.dtype == np.uint32
    dense = vectorize_mask(mask, UTM_GRID, probability=prob)
    sparse = vectorize_mask(mask, UTM_GRID, probability=record)
    shuffled = np.random.default_rng(4).permutation(at.size)  # in any order
    mixed = vectorize_mask(mask, UTM_GRID, probability=LakeProbability(at[shuffled], prob.reshape(-1)[at[shuffled]]))
    for col in ("mean_prob", "max_prob", "area_km2"):
        assert np.allclose(dense[col], sparse[col], rtol=1e-12), col
        assert np.allclose(dense[col], mixed[col], rtol=1e-12), col
    inside = prob[70:90, 50:90]  # lake 2 by hand
    assert sparse.iloc[1].mean_prob == pytest.approx(float(inside.astype(np.float64).mean()), rel=1e-9)
    assert sparse.iloc[1].max_prob == pytest.approx(float(inside.max()), rel=1e-7)
    with pytest.raises(InputError, match=r"holds \d+ pixels but the mask has \d+ lake pixels"):
        vectorize_mask(mask, UTM_GRID, probability=LakeProbability(at[1:], prob.reshape(-1)[at[1:]]))
    off = at.copy()
    off[0] = np.flatnonzero(mask.reshape(-1) == 0)[0]  # right count, one pixel that is not lake
    with pytest.raises(InputError, match=r"names pixels that are not lake"):
        vectorize_mask(mask, UTM_GRID, probability=LakeProbability(off, prob.reshape(-1)[off]))
    with pytest.raises(InputError, match=r"\(3,\) indices for \(2,\) values"):
        LakeProbability(np.arange(3), np.zeros(2, np.float32))


def test_geographic_crs_uses_geodesic_area() -> None:
    d = 0.0001  # degrees per pixel
    grid = GeoGrid("EPSG:4326", Affine(d, 0, 86.0, 0, -d, 28.0), 50, 50, None)
    m = np.zeros((50, 50), np.uint8)
    m[10:30, 10:30] = 1
    lakes = vectorize_mask(m, grid, min_area_m2=100)
    geod = pyproj.Geod(ellps="WGS84")
    lons = [86.001, 86.003, 86.003, 86.001]
    lats = [27.999, 27.999, 27.997, 27.997]
    area, _ = geod.polygon_area_perimeter(lons, lats)
    assert lakes.iloc[0].area_km2 == pytest.approx(abs(area) / 1e6, rel=1e-6)


def test_errors() -> None:
    with pytest.raises(InputError, match=r"mask is 10x10 but its grid is 100x100"):
        vectorize_mask(np.zeros((10, 10), np.uint8), UTM_GRID)
    with pytest.raises(InputError, match=r"lake mask: raster has no CRS"):
        vectorize_mask(np.zeros((5, 5), np.uint8), GeoGrid.plain(5, 5))


def test_write_gpkg_in_scene_crs_and_geojson_in_wgs84(tmp_path: Path) -> None:
    lakes = vectorize_mask(squares(), UTM_GRID, date="2020-08-01")
    write_lakes(lakes, tmp_path / "lakes.gpkg")
    write_lakes(lakes, tmp_path / "lakes.geojson")
    back = read_lakes(tmp_path / "lakes.gpkg")
    assert back.crs.to_epsg() == 32645 and back["area_km2"].tolist() == pytest.approx(lakes["area_km2"].tolist())
    assert back.geometry.iloc[0].equals(lakes.geometry.iloc[0])
    gj = read_lakes(tmp_path / "lakes.geojson")
    assert gj.crs.to_epsg() == 4326 and len(gj) == 2
    assert gj.geometry.iloc[1].centroid.x == pytest.approx(lakes.iloc[1].centroid_lon, abs=1e-6)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files
    write_lakes(vectorize_mask(np.zeros((100, 100), np.uint8), UTM_GRID), tmp_path / "none.gpkg")
    assert len(read_lakes(tmp_path / "none.gpkg")) == 0
    with pytest.raises(InputError, match=r"lakes\.shp: unknown lake file type '\.shp'; use \.gpkg or \.geojson"):
        write_lakes(lakes, tmp_path / "lakes.shp")


def test_synthetic_truth_lakes_areas_and_counts(tmp_path: Path) -> None:
    """Vectorising the truth mask of a synthetic scene gives its known lakes (areas within 5 %)."""
    import shapely

    from glofwatch.io.raster import read_raster
    from glofwatch.scene.synth import write_synthetic_scene

    files = write_synthetic_scene(tmp_path, size=256, seed=6)
    truth = read_lakes(files.lakes_truth)
    mask, grid = read_raster(files.lakes_mask)
    assert (mask == 255).any()  # the nodata wedge is never lake
    lakes = vectorize_mask(mask, grid, min_area_m2=0)
    assert lakes.crs == truth.crs
    # lakes that touch merge into one 4-connected polygon: count the parts of the union of the truth
    parts = shapely.get_parts(shapely.unary_union(truth.geometry.to_numpy()))
    assert len(lakes) == len(parts) >= 4
    assert lakes["area_km2"].sum() == pytest.approx(truth["area_km2"].sum(), rel=0.05)
    matched = 0
    for _, t in truth.iterrows():  # every lake drawn apart from the others is found with its area
        hits = lakes[lakes.intersects(t.geometry.representative_point())]
        assert len(hits) == 1
        if hits.geometry.iloc[0].symmetric_difference(t.geometry).area < 1.0:
            assert hits.iloc[0].area_km2 == pytest.approx(t.area_km2, rel=0.05)
            matched += 1
    assert matched >= 3
    default = vectorize_mask(mask, grid)  # the 1000 m2 minimum drops the smallest ponds only
    assert len(default) == int((lakes["area_km2"] >= 0.001).sum())


def test_lakes_crossing_trace_bands_are_whole(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tracing in bands of rows (memory) gives the same lakes as tracing the whole mask at once."""
    import glofwatch.lakes.vectorize as vec
    from glofwatch.io.raster import write_mask, write_probability
    from glofwatch.lakes.vectorize import vectorize_raster

    rng = np.random.default_rng(1)
    from scipy import ndimage

    m = (ndimage.gaussian_filter(rng.random((100, 100)), 3) > 0.5).astype(np.uint8)
    prob = rng.random((100, 100)).astype(np.float32)
    whole = vectorize_mask(m, UTM_GRID, prob, min_area_m2=0)
    monkeypatch.setattr(vec, "_BAND_ROWS", 7)
    banded = vectorize_mask(m, UTM_GRID, prob, min_area_m2=0)
    assert len(banded) == len(whole) >= 5
    assert all(a.equals(b) for a, b in zip(banded.geometry, whole.geometry, strict=True))
    np.testing.assert_allclose(banded["mean_prob"], whole["mean_prob"], rtol=1e-9)
    np.testing.assert_allclose(banded["max_prob"], whole["max_prob"], rtol=1e-6)
    write_mask(tmp_path / "m.tif", m, UTM_GRID)
    write_probability(tmp_path / "p.tif", prob, UTM_GRID)
    from_files = vectorize_raster(tmp_path / "m.tif", tmp_path / "p.tif", min_area_m2=0)
    np.testing.assert_allclose(from_files["area_km2"], whole["area_km2"])
    np.testing.assert_allclose(from_files["mean_prob"], whole["mean_prob"], rtol=1e-6)
