"""``glofwatch fetch`` against a real STAC API and range file server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from glofwatch.bench.loopback import free_port
from glofwatch.cli.app import app
from glofwatch.errors import InputError
from glofwatch.io.files import read_json
from glofwatch.scene.acquire import fetch
from glofwatch.scene.read import read_scene


@pytest.fixture(scope="module")
def fetched(loopback, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    loopback.log.clear()
    out = tmp_path_factory.mktemp("fetched")
    result = fetch(loopback.bbox, "2023-10-01", "2023-10-31", out, catalog=loopback.api, max_cloud=20, timeout_s=10)
    return result, out, loopback.log.snapshot()


def test_dates_ranked_by_cloud_inside_the_bbox(loopback, fetched) -> None:  # noqa: ANN001
    result, out, _ = fetched
    assert sorted(result.dates) == ["2023-10-05"] and result.new == ["2023-10-05"]
    assert result.rejected["2023-10-20"].startswith("cloud ") and "> --max-cloud 20" in result.rejected["2023-10-20"]
    doc = read_json(out / "items.json")
    by_id = {p["id"]: p for p in doc["items"]}
    clear, cloudy = by_id[loopback.ids["clear"]], by_id[loopback.ids["cloudy"]]
    # the tile-wide figure (90 % vs 1 %) says the opposite of the bbox window's SCL
    assert (clear["tile_cloud_pct"], cloudy["tile_cloud_pct"]) == (90.0, 1.0)
    assert clear["bbox_cloud_pct"] == 0.0 and cloudy["bbox_cloud_pct"] > 50.0
    assert (clear["status"], cloudy["status"], by_id[loopback.ids["cloudy_late"]]["status"]) == \
        ("fetched", "not needed", "cloudy")
    assert doc["dates"]["2023-10-05"]["used"] == [loopback.ids["clear"]]
    assert clear["baseline"] == "05.09" and clear["offset"] == -1000.0 and clear["offset_from"] == "STAC raster:bands"
    assert clear["license"] == "proprietary" and clear["hrefs"]["B08"].endswith(f"{loopback.ids['clear']}/nir.tif")
    assert clear["datetime"].startswith("2023-10-05T04:57:09")
    assert doc["query"] == {"bbox": list(loopback.bbox), "start": "2023-10-01", "end": "2023-10-31",
                            "catalog": loopback.api, "collection": "sentinel-2-l2a", "max_cloud_pct": 20}


def test_cog_holds_the_exact_window_its_scl_and_offset(loopback, fetched) -> None:  # noqa: ANN001
    result, out, _ = fetched
    path = out / "2023-10-05.tif"
    row, col = loopback.window
    with rasterio.open(path) as ds, rasterio.open(loopback.clear) as src:
        assert ds.descriptions == ("B02", "B03", "B04", "B08", "SCL") and ds.crs.to_epsg() == 32645
        assert ds.tags()["BOA_ADD_OFFSET"] == "-1000" and ds.tags()["PROCESSING_BASELINE"] == "05.09"
        assert ds.tags()["STAC_ITEMS"] == loopback.ids["clear"] and ds.nodata == 0
        assert ds.offsets[:4] == pytest.approx((-0.1,) * 4) and ds.scales[:4] == (1e-4,) * 4
        # the bbox grid snaps to whole 10 m of the same zone: pixels are the source's, unresampled
        r0 = int(round((src.transform.f - ds.transform.f) / 10))
        c0 = int(round((ds.transform.c - src.transform.c) / 10))
        # the bbox is the window's lon/lat bounds, so its grid is the window or a pixel more on a side
        assert row - 1 <= r0 <= row and col - 1 <= c0 <= col
        assert loopback.win <= ds.height <= loopback.win + 2 and loopback.win <= ds.width <= loopback.win + 2
        window = ((r0, r0 + ds.height), (c0, c0 + ds.width))
        np.testing.assert_array_equal(ds.read([1, 2, 3, 4]), src.read([1, 2, 3, 4], window=window))
        scl10 = src.read(5)
        scl20 = np.repeat(np.repeat(scl10[::2, ::2], 2, 0), 2, 1)  # the 20 m SCL asset on the 10 m grid
        np.testing.assert_array_equal(ds.read(5), scl20[r0:r0 + ds.height, c0:c0 + ds.width])
    scene = read_scene(path)
    assert scene.bands == ("B02", "B03", "B04", "B08") and scene.scl.index == 5 and scene.date == "2023-10-05"
    assert scene.dn_offset(scene.bands).offset == -1000.0


def test_only_byte_ranges_and_a_small_share_of_the_files_are_read(loopback, fetched) -> None:  # noqa: ANN001
    _, _, log = fetched
    gets = [e for e in log if e["method"] == "GET"]
    assert gets and all(e["range"] and e["range"].startswith("bytes=") and e["status"] == 206 for e in gets)
    assert {e["method"] for e in log} <= {"GET", "HEAD"}
    clear = loopback.root / "catalog" / loopback.ids["clear"]
    for asset in ("blue", "green", "red", "nir"):
        path = f"/catalog/{loopback.ids['clear']}/{asset}.tif"
        read = sum(e["bytes"] for e in gets if e["path"] == path)
        size = (clear / f"{asset}.tif").stat().st_size
        assert 0 < read < 0.1 * size, (asset, read, size)
    # the cloudy items' bands were never read, only their SCL
    cloudy = [e["path"] for e in gets if loopback.ids["cloudy"] in e["path"]
              or loopback.ids["cloudy_late"] in e["path"]]
    assert cloudy and all(p.endswith("/scl.tif") for p in cloudy)


def test_a_second_fetch_writes_nothing(loopback, fetched) -> None:  # noqa: ANN001
    _, out, _ = fetched
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    loopback.log.clear()
    again = fetch(loopback.bbox, "2023-10-01", "2023-10-31", out, catalog=loopback.api, max_cloud=20, timeout_s=10)
    assert again.new == [] and sorted(again.dates) == ["2023-10-05"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not [e for e in loopback.log.snapshot() if "/blue.tif" in e["path"]]  # no band read again


def test_bbox_on_two_utm_zones_is_read_onto_one(loopback, tmp_path: Path) -> None:
    result = fetch(loopback.across_bbox, "2023-11-01", "2023-11-01", tmp_path, catalog=loopback.api, max_cloud=100,
                   timeout_s=10)
    assert result.grid.crs == "EPSG:32644" and result.new == ["2023-11-01"]
    assert result.notes == ["the bbox spans UTM zones 44, 45; every date is read onto EPSG:32644 (the zone of its "
                            "centre)"]
    with rasterio.open(tmp_path / "2023-11-01.tif") as ds:
        assert ds.crs.to_epsg() == 32644 and ds.res == (10.0, 10.0)
        data = ds.read()
    assert (data[:4] > 0).all(axis=0).mean() > 0.99  # the zone-45 scene covers the whole bbox
    assert set(np.unique(data[4])) <= set(range(1, 12))


def test_no_items_unreachable_and_silent_catalogs(loopback, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no sentinel-2-l2a items over .* from 2020-01-01 to 2020-12-31"):
        fetch(loopback.bbox, "2020-01-01", "2020-12-31", tmp_path, catalog=loopback.api, timeout_s=10)
    empty = fetch(loopback.bbox, "2020-01-01", "2020-12-31", tmp_path, catalog=loopback.api, allow_empty=True)
    assert empty.dates == {} and empty.items == []
    port = free_port()  # nothing listens there
    with pytest.raises(InputError, match=rf"cannot reach the STAC API http://127.0.0.1:{port} \(connection failed\)"):
        fetch(loopback.bbox, "2023-10-01", "2023-10-31", tmp_path, catalog=f"http://127.0.0.1:{port}", timeout_s=2)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        stop = threading.Event()

        def hold() -> None:
            conns = []
            silent.settimeout(0.2)
            while not stop.is_set():
                try:
                    conns.append(silent.accept()[0])
                except OSError:
                    pass
            for c in conns:
                c.close()

        worker = threading.Thread(target=hold, daemon=True)
        worker.start()
        try:
            url = f"http://127.0.0.1:{silent.getsockname()[1]}"
            with pytest.raises(InputError, match=r"cannot reach the STAC API .* \(no answer within 1 s\)"):
                fetch(loopback.bbox, "2023-10-01", "2023-10-31", tmp_path, catalog=url, timeout_s=1)
        finally:
            stop.set()
            worker.join(timeout=5)


def test_missing_assets_are_named(loopback) -> None:
    from glofwatch.scene.acquire import _candidate

    item = {"id": "x", "properties": {"datetime": "2023-10-05T04:57:09Z"},
            "assets": {"blue": {"href": "b.tif"}, "green": {"href": "g.tif"}, "red": {"href": "r.tif"},
                       "visual": {"href": "v.tif"}}}
    with pytest.raises(InputError, match=r"item x: no asset for B08 \(assets: blue, green, red, visual\)"):
        _candidate(item, None)


def test_cli_fetch(loopback, tmp_path: Path) -> None:
    w, s, e, n = loopback.bbox
    args = ["fetch", "--bbox", str(w), str(s), str(e), str(n), "--start", "2023-10-01", "--end", "2023-10-31",
            "--catalog", loopback.api, "--out", str(tmp_path), "--timeout", "10"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "3 item(s) on 2 date(s): 1 date(s) fetched, 0 kept, 1 rejected" in res.output
    assert "2023-10-20: cloudy" in res.output and (tmp_path / "2023-10-05.tif").is_file()
    res = CliRunner().invoke(app, [*args[:-4], "--max-cloud", "120", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--max-cloud 120 must be a percentage in 0..100" in res.output


def test_polygon_area_leaves_the_rest_of_the_bbox_nodata(loopback, tmp_path: Path) -> None:  # noqa: ANN001
    from glofwatch.scene.acquire import polygon_mask

    w, s, e, n = loopback.bbox
    triangle = [(w, s), (e, s), (w, n)]  # the south-west half of the bbox
    result = fetch(loopback.bbox, "2023-10-05", "2023-10-05", tmp_path, catalog=loopback.api, max_cloud=20,
                   timeout_s=10, polygon=triangle)
    inside = polygon_mask(triangle, result.grid)
    assert 0.4 < inside.mean() < 0.6 and inside[-3, 2] and not inside[2, -3]
    with rasterio.open(tmp_path / "2023-10-05.tif") as ds:
        data = ds.read()
    assert (data[:, ~inside] == 0).all() and (data[:4, inside] > 0).all()
