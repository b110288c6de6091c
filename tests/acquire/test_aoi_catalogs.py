"""Bbox checks, the bbox grid, named catalogs and GDAL's proxy settings (no network)."""

from __future__ import annotations

import pytest
from pyproj import Transformer

from glofwatch.errors import ConfigError, InputError
from glofwatch.scene.aoi import bbox_grid, check_bbox, utm_crs, utm_zone, zones
from glofwatch.scene.catalogs import CATALOGS, gdal_http_options, resolve_catalog


@pytest.mark.parametrize(("bbox", "message"), [
    ((86.9, 27.9, 86.9, 28.0), "the box is empty (west equals east)"),
    ((86.9, 27.9, 87.0, 27.9), "the box is empty (south equals north)"),
    ((86.9, 28.0, 87.0, 27.9), "the box is inverted (south 28 is north of north 27.9)"),
    ((179.5, -17.0, -179.5, -16.5), "crosses the antimeridian"),
    ((86.0, 27.0, 88.0, 28.0), "fetch at most 110 km on a side"),
    ((10.0, 84.5, 10.1, 84.6), "outside UTM"),
    ((190.0, 27.0, 191.0, 28.0), "longitudes must be in -180..180"),
    ((float("nan"), 27.0, 87.0, 28.0), "finite number"),
])  # fmt: skip
def test_bad_bboxes_are_one_line(bbox: tuple[float, ...], message: str) -> None:
    with pytest.raises(InputError) as info:
        check_bbox(*bbox)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_zone_crs_and_grid_snapped_to_10_m() -> None:
    assert (utm_zone(83.99), utm_zone(84.0), utm_zone(-180.0), utm_zone(180.0)) == (44, 45, 1, 60)
    box = check_bbox(86.90, 27.88, 86.95, 27.91)
    assert utm_crs(box) == "EPSG:32645" and zones(box) == [45]
    assert utm_crs(check_bbox(-70.1, -33.5, -70.0, -33.4)) == "EPSG:32719"
    grid = bbox_grid(box)
    to_utm = Transformer.from_crs(4326, 32645, always_xy=True)
    xs, ys = zip(*(to_utm.transform(lon, lat) for lon in (86.90, 86.95) for lat in (27.88, 27.91)), strict=True)
    left, bottom, right, top = grid.bounds
    assert left % 10 == 0 and top % 10 == 0 and grid.transform.a == 10 and grid.transform.e == -10
    assert left <= min(xs) < left + 10 and right - 10 < max(xs) <= right
    assert bottom <= min(ys) < bottom + 10 and top - 10 < max(ys) <= top
    assert grid.width == (right - left) / 10 and grid.height == (top - bottom) / 10 and grid.nodata == 0
    across = check_bbox(83.95, 28.0, 84.05, 28.05)  # zone 44 | 45 at 84 E; the centre lies on the boundary
    assert zones(across) == [44, 45] and utm_crs(across) == "EPSG:32645"


def test_catalog_names_urls_and_errors() -> None:
    es = resolve_catalog()
    assert es.name == "earth-search" and es.url == "https://earth-search.aws.element84.com/v1"
    assert dict(es.assets) == {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "SCL": "scl"}
    pc = resolve_catalog("planetary-computer", "sentinel-2-l2a")
    assert pc.signer == "planetary-computer" and dict(pc.assets)["SCL"] == "SCL"
    assert set(CATALOGS) == {"earth-search", "planetary-computer"}
    own = resolve_catalog("http://127.0.0.1:9/stac/", "my-l2a")
    assert (own.url, own.collection) == ("http://127.0.0.1:9/stac", "my-l2a")
    with pytest.raises(ConfigError, match="did you mean 'earth-search'"):
        resolve_catalog("earth-serch")


def test_gdal_uses_the_standard_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    base = gdal_http_options("https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/B04.tif", timeout_s=12)
    assert "GDAL_HTTP_PROXY" not in base and base["GDAL_HTTP_TIMEOUT"] == 12
    assert base["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.example:8080")
    assert gdal_http_options("https://data.example/B04.tif")["GDAL_HTTP_PROXY"] == "http://proxy.example:3128"
    assert gdal_http_options("http://data.example/B04.tif")["GDAL_HTTP_PROXY"] == "http://plain.example:8080"
    monkeypatch.setenv("NO_PROXY", "data.example,127.0.0.1")
    assert "GDAL_HTTP_PROXY" not in gdal_http_options("https://data.example/B04.tif")
    assert "GDAL_HTTP_PROXY" not in gdal_http_options("/local/file.tif")
