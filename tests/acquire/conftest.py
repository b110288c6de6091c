"""A loopback STAC API (rustac) and range file server (RangeHTTPServer) over COGs of synthetic scenes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.warp import transform_bounds

from glofwatch.bench.loopback import RequestLog, build_catalog, serve_files, serve_stac
from glofwatch.scene.synth import write_synthetic_scene

SIZE = 1024
BLOCK = 128
WIN = 40
"""Side in pixels of the small bbox: inside one 128 px COG block."""


@dataclass
class Loopback:
    """What the fixture serves."""

    api: str
    log: RequestLog
    root: Path
    clear: Path
    cloudy: Path
    bbox: tuple[float, float, float, float]
    window: tuple[int, int]
    ids: dict[str, str]
    across_bbox: tuple[float, float, float, float]
    win: int = WIN


def _cloudiest_block_window(scene: Path) -> tuple[int, int]:
    """(row, col) of a WIN px square centred in the 128 px block where the scene's SCL is cloudiest."""
    with rasterio.open(scene) as ds:
        scl = ds.read(5)
    best, where = -1.0, (0, 0)
    for r in range(0, SIZE, BLOCK):
        for c in range(0, SIZE, BLOCK):
            r0, c0 = r + (BLOCK - WIN) // 2, c + (BLOCK - WIN) // 2
            share = float(np.isin(scl[r0:r0 + WIN, c0:c0 + WIN], (3, 8, 9, 10)).mean())
            if share > best:
                best, where = share, (r0, c0)
    assert best > 0.5
    return where


@pytest.fixture(scope="session")
def loopback(tmp_path_factory: pytest.TempPathFactory, monkeypatch_session) -> Iterator[Loopback]:
    root = tmp_path_factory.mktemp("loopback")
    common = dict(size=SIZE, seed=1, processing_baseline="05.09", scl=True, nodata_border_px=0)
    clear = write_synthetic_scene(root / "clear", **common).scene
    cloudy = write_synthetic_scene(root / "cloudy", cloud_cover=0.5, **common).scene
    # a scene straddling 84 E, the boundary of UTM zones 44 and 45, on the zone 45 grid
    x84, y = Transformer.from_crs(4326, 32645, always_xy=True).transform(84.0, 28.0)
    origin = (round(x84 / 10) * 10 - 1280.0, round(y / 10) * 10 + 1280.0)
    across = write_synthetic_scene(root / "across", size=256, seed=2, processing_baseline="05.09", scl=True,
                                   nodata_border_px=0, origin=origin).scene
    row, col = _cloudiest_block_window(cloudy)
    x0, y0 = 440000.0 + col * 10, 3100000.0 - row * 10
    bbox = transform_bounds("EPSG:32645", "EPSG:4326", x0 + 1, y0 - WIN * 10 + 1, x0 + WIN * 10 - 1, y0 - 1)
    mid = dt.datetime(2023, 10, 5, 4, 57, 9)
    scenes = [(mid, clear), (mid, cloudy), (dt.datetime(2023, 10, 20, 4, 57, 9), cloudy),
              (dt.datetime(2023, 11, 1, 5, 7, 9), across)]
    with serve_files(root) as (base, log):
        items, collection = build_catalog(scenes, root / "catalog", f"{base}/catalog", block=BLOCK)
        doc = json.loads(items.read_text())
        ids = {"clear": doc["features"][0]["id"], "cloudy": doc["features"][1]["id"],
               "cloudy_late": doc["features"][2]["id"], "across": doc["features"][3]["id"]}
        # the tile-wide figures say the opposite of the bbox: ranking must use the SCL window
        doc["features"][0]["properties"]["eo:cloud_cover"] = 90.0
        doc["features"][1]["properties"]["eo:cloud_cover"] = 1.0
        items.write_text(json.dumps(doc))
        with serve_stac(items, collection) as api:
            yield Loopback(api, log, root, clear, cloudy, tuple(bbox), (row, col), ids,
                           (83.993, 27.995, 84.003, 28.005))


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    """Loopback traffic never goes through a proxy the environment may name."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")
    mp.setenv("no_proxy", "127.0.0.1,localhost")
    yield mp
    mp.undo()
