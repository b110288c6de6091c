"""A STAC API and a range-capable file server on 127.0.0.1, over COGs built from synthetic scenes.

What ``glofwatch bench fetch`` and the acquisition tests run ``glofwatch fetch``
against, with no network:

* :func:`build_catalog` writes each synthetic scene as an Earth Search-like
  item: one COG per asset (``blue green red nir`` uint16 at 10 m, ``scl`` uint8
  at 20 m, built with rio-cogeo), ``raster:bands`` offset/scale,
  ``s2:processing_baseline``, ``eo:cloud_cover`` from its SCL, and a collection
  with its licence;
* :func:`serve_files` serves a folder with ``RangeHTTPServer`` (HTTP Range
  requests) and logs every request: method, path, ``Range`` header, status and
  bytes sent (:class:`RequestLog`);
* :func:`serve_stac` runs ``rustac serve`` (a STAC API with an in-memory
  backend) over the items; pystac-client cannot search a bare static catalog.

Both bind 127.0.0.1 on a free port and are stopped when their ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError
from glofwatch.runtime import stop_process

COLLECTION = "sentinel-2-l2a"
ASSETS = (("blue", "B02"), ("green", "B03"), ("red", "B04"), ("nir", "B08"))
START_TIMEOUT_S = 30.0
"""Seconds to wait for a server to answer before giving up."""


@dataclass
class RequestLog:
    """The file server's log: one dict per request (``method``, ``path``, ``range``, ``status``, ``bytes``)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: dict[str, Any]) -> None:
        """Record one request."""
        with self.lock:
            self.entries.append(entry)

    def clear(self) -> None:
        """Forget the requests so far."""
        with self.lock:
            self.entries.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of the entries."""
        with self.lock:
            return list(self.entries)

    def bytes_sent(self, suffix: str = "") -> int:
        """Bytes of response bodies, for paths ending with ``suffix``."""
        return sum(e["bytes"] for e in self.snapshot() if e["path"].endswith(suffix))


def _handler(log: RequestLog):  # noqa: ANN202 - handler class
    from RangeHTTPServer import RangeRequestHandler

    class LoggingRangeHandler(RangeRequestHandler):
        """RangeRequestHandler that records what it sent instead of printing to stderr."""

        def send_head(self):  # noqa: ANN202
            self._sent = 0
            self._status = None
            return super().send_head()

        def send_response(self, code, message=None):  # noqa: ANN001, ANN202
            self._status = code
            super().send_response(code, message)

        def send_header(self, keyword, value):  # noqa: ANN001, ANN202
            if keyword.lower() == "content-length":
                self._sent = int(value)
            super().send_header(keyword, value)

        def end_headers(self):  # noqa: ANN202 - every header is known here, the body follows
            log.add({"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                     "status": int(getattr(self, "_status", 0) or 0),
                     "bytes": getattr(self, "_sent", 0) if self.command == "GET" else 0})
            super().end_headers()

        def log_request(self, code="-", size="-"):  # noqa: ANN001, ANN202
            pass

        def log_message(self, format, *args):  # noqa: A002, ANN001, ANN202
            pass

    return LoggingRangeHandler


@contextlib.contextmanager
def serve_files(root: str | Path) -> Iterator[tuple[str, RequestLog]]:
    """Serve ``root`` over HTTP with Range support on 127.0.0.1; yields (base URL, request log)."""
    from http.server import ThreadingHTTPServer

    log = RequestLog()
    handler = functools.partial(_handler(log), directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rustac_binary() -> str:
    """The ``rustac`` command (from the PyPI package rustac)."""
    import sys

    here = Path(sys.executable).parent / "rustac"
    found = str(here) if here.is_file() else shutil.which("rustac")
    if not found:
        raise ConfigError("the STAC API test server needs the rustac command; install the package: pip install rustac")
    return found


@contextlib.contextmanager
def serve_stac(*hrefs: str | Path) -> Iterator[str]:
    """Run ``rustac serve`` over item and collection files on 127.0.0.1; yields the API URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([rustac_binary(), "serve", *map(str, hrefs), "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        while True:
            try:
                with opener.open(f"{url}/collections", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace")[-300:] if proc.stderr else ""
                raise ConfigError(f"the rustac STAC server did not start on {url} ({err.strip() or 'no answer'})")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(proc, timeout_s=5)


def write_cog(path: Path, array: np.ndarray, grid, block: int, description: str) -> Path:  # noqa: ANN001 - GeoGrid
    """One-band COG (deflate, predictor 2, overviews) of ``array`` on ``grid``, nodata 0."""
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    profile = {"driver": "GTiff", "height": grid.height, "width": grid.width, "count": 1, "dtype": array.dtype.name,
               "crs": grid.crs, "transform": grid.transform, "nodata": 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(array, 1)
            ds.set_band_description(1, description)
        cog = cog_profiles.get("deflate")
        cog.update(blockxsize=block, blockysize=block, predictor=2)
        with mem.open() as src:
            cog_translate(src, str(path), cog, in_memory=True, quiet=True)
    return path


def build_catalog(scenes: list[tuple[dt.datetime, Path]], root: str | Path, base_url: str,
                  block: int = 256, baseline: str = "05.09") -> tuple[Path, Path]:
    """Write synthetic scenes as Earth Search-like items over per-asset COGs under ``root``.

    Args:
        scenes: (acquisition time, 5-band ``scene.tif`` with bands B02 B03 B04 B08 SCL) per item.
        root: folder for the COGs (``<item id>/<asset>.tif``), ``items.json`` and ``collection.json``.
        base_url: URL ``root`` is served at.
        block: COG block side in pixels (Earth Search uses 1024).
        baseline: ``s2:processing_baseline`` of every item (its offset goes in ``raster:bands``).

    Returns:
        (the items FeatureCollection file, the collection file).
    """
    import rasterio
    from rasterio.warp import transform_bounds, transform_geom
    from shapely.geometry import box, mapping

    from glofwatch.geo import GeoGrid
    from glofwatch.scene.products import baseline_offset

    root = Path(root)
    offset = baseline_offset(baseline)
    features = []
    for k, (when, scene) in enumerate(scenes):
        item_id = f"S2B_45RUL_{when:%Y%m%d}_{k}_L2A"
        with rasterio.open(scene) as ds:
            grid = GeoGrid.from_profile(ds.profile)
            names = ds.descriptions
            data = {n: ds.read(i + 1) for i, n in enumerate(names)}
        if "SCL" not in data:
            raise ConfigError(f"{scene}: no SCL band; write the scene with scl=True")
        raster = {"nodata": 0, "data_type": "uint16", "spatial_resolution": 10, "scale": 1e-4, "offset": offset * 1e-4}
        assets: dict[str, Any] = {}
        for key, band in ASSETS:
            write_cog(root / item_id / f"{key}.tif", data[band].astype(np.uint16), grid, block, band)
            assets[key] = {"href": f"{base_url}/{item_id}/{key}.tif", "type": "image/tiff; application=geotiff; "
                           "profile=cloud-optimized", "roles": ["data", "reflectance"],
                           "eo:bands": [{"name": band, "common_name": key}], "raster:bands": [raster]}
        scl = data["SCL"][::2, ::2].astype(np.uint8)
        t = grid.transform
        from affine import Affine

        g20 = GeoGrid(grid.crs, Affine(t.a * 2, 0, t.c, 0, t.e * 2, t.f), scl.shape[0], scl.shape[1], 0)
        write_cog(root / item_id / "scl.tif", scl, g20, max(64, block // 2), "SCL")
        assets["scl"] = {"href": f"{base_url}/{item_id}/scl.tif", "type": "image/tiff; application=geotiff; "
                         "profile=cloud-optimized", "roles": ["data"],
                         "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]}
        valid = scl != 0
        cloud = float(np.isin(scl[valid], (3, 8, 9, 10)).mean() * 100) if valid.any() else 100.0
        bounds = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
        geom = transform_geom(grid.crs, "EPSG:4326", mapping(box(*grid.bounds)))
        features.append({
            "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": COLLECTION,
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
            "geometry": geom, "bbox": list(bounds),
            "properties": {"datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "eo:cloud_cover": round(cloud, 3),
                           "s2:processing_baseline": baseline, "proj:epsg": int(str(grid.crs).split(":")[-1]),
                           "platform": "sentinel-2b", "earthsearch:boa_offset_applied": False},
            "links": [], "assets": assets,
        })  # fmt: skip
    items = root / "items.json"
    items.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    lons = [f["bbox"][0] for f in features] + [f["bbox"][2] for f in features]
    lats = [f["bbox"][1] for f in features] + [f["bbox"][3] for f in features]
    times = sorted(f["properties"]["datetime"] for f in features)
    collection = root / "collection.json"
    collection.write_text(json.dumps({
        "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION, "license": "proprietary",
        "description": "Synthetic Sentinel-2 L2A scenes served on loopback for tests and benchmarks",
        "links": [{"rel": "license", "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"}],
        "extent": {"spatial": {"bbox": [[min(lons), min(lats), max(lons), max(lats)]]},
                   "temporal": {"interval": [[times[0], times[-1]]]}},
    }))  # fmt: skip
    return items, collection
