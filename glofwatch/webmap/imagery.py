"""The basemap: each scene's own true-colour imagery as one PNG overlay, warped to Web Mercator.

Leaflet's ``L.imageOverlay`` stretches an image linearly between two corners
in the map's projection (EPSG:3857). So each scene is read decimated (longer
side at most :data:`OVERLAY_MAX_SIDE`), rendered in true colour
(B04/B03/B02) with a 1-99 % percentile stretch
(:func:`glofwatch.io.image.to_display_rgb`), nodata transparent, and warped
to EPSG:3857; its corners, converted to longitude/latitude, are the overlay
bounds. The grids are worked out at start-up from the map outputs' metadata
(no pixel read); a PNG is rendered on its first request and cached under
``DIR/.webmap/overlays``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glofwatch.webmap.cache import RenderCache
from glofwatch.webmap.layout import Layout, MapFolder

OVERLAY_MAX_SIDE = 2048
TRUE_COLOUR = ("B04", "B03", "B02")
WEB_MERCATOR = "EPSG:3857"


@dataclass
class SceneView:
    """One map output's grid and its overlay grid.

    Attributes:
        map: the map output.
        crs: the scene CRS (WKT or EPSG text).
        transform: affine transform of ``probability.tif``.
        height: rows.
        width: columns.
        dst_transform: the overlay's EPSG:3857 transform.
        dst_shape: the overlay's (height, width).
        bounds: [[south, west], [north, east]] of the overlay, in degrees.
    """

    map: MapFolder
    crs: str
    transform: Any
    height: int
    width: int
    dst_transform: Any
    dst_shape: tuple[int, int]
    bounds: list[list[float]]

    def as_dict(self) -> dict[str, Any]:
        """The ``/api/scenes`` entry."""
        s = self.map.summary
        return {
            "key": self.map.key, "name": self.map.name, "date": self.map.date, "crs": self.crs,
            "height": self.height, "width": self.width, "pixel_size_m": s.get("pixel_size_m"),
            "model": s.get("model"), "backend": s.get("backend"), "threshold": s.get("threshold"),
            "n_lakes": s.get("n_lakes"), "lake_area_km2": s.get("lake_area_km2"), "bounds": self.bounds,
            "overlay_url": f"/api/scenes/{self.map.key}/overlay.png" if self.map.scene is not None else None,
            "note": self.map.scene_note,
        }  # fmt: skip


def _view(m: MapFolder) -> SceneView | None:
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import array_bounds
    from rasterio.warp import calculate_default_transform

    with rasterio.open(m.file("probability.tif")) as ds:
        if ds.crs is None:
            return None
        crs, transform, h, w = ds.crs, ds.transform, ds.height, ds.width
    step = max(1, int(np.ceil(max(h, w) / OVERLAY_MAX_SIDE)))
    sh, sw = max(1, h // step), max(1, w // step)
    left, bottom, right, top = array_bounds(h, w, transform)
    dst_transform, dw, dh = calculate_default_transform(crs, WEB_MERCATOR, sw, sh, left, bottom, right, top)
    dl, db, dr, dt = array_bounds(dh, dw, dst_transform)
    to_ll = Transformer.from_crs(WEB_MERCATOR, "EPSG:4326", always_xy=True)
    (west, east), (south, north) = to_ll.transform([dl, dr], [db, dt])
    return SceneView(m, crs.to_string(), transform, h, w, dst_transform, (dh, dw),
                     [[round(south, 7), round(west, 7)], [round(north, 7), round(east, 7)]])


def scene_rgb(scene: Any, row: int, col: int, height: int, width: int,
              out_shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A true-colour rendering of a window of a scene.

    Args:
        scene: a :class:`glofwatch.scene.read.Scene`.
        row: first row of the window.
        col: first column.
        height: rows.
        width: columns.
        out_shape: optional decimated (h, w).

    Returns:
        (rgb, valid): (h, w, 3) uint8 with nodata black, and (h, w) bool.
    """
    from glofwatch.io.image import to_display_rgb

    bands = TRUE_COLOUR if all(b in scene.sources for b in TRUE_COLOUR) else scene.bands[:3]
    data = scene.read_window(row, col, height, width, bands, out_shape=out_shape)
    valid = scene.valid_mask(data)
    rgb = to_display_rgb(np.moveaxis(data, 0, -1))
    rgb[~valid] = 0
    return rgb, valid


class Imagery:
    """Scene grids and their overlay PNGs (see the module docs).

    Args:
        layout: what discovery found.
        cache: where rendered overlays go.
    """

    def __init__(self, layout: Layout, cache: RenderCache) -> None:
        self.layout = layout
        self.cache = cache
        self.views: dict[str, SceneView] = {}
        for m in layout.maps:
            try:
                view = _view(m)
            except (OSError, ValueError, RuntimeError) as exc:
                where = layout.relative(m.folder)
                layout.notes.append(f"{where}: probability.tif cannot be read ({exc}); scene skipped")
                continue
            if view is None:
                layout.notes.append(f"{layout.relative(m.folder)}: probability.tif has no CRS; scene skipped")
                continue
            self.views[m.key] = view

    def scenes(self) -> list[dict[str, Any]]:
        """The ``/api/scenes`` list, by date."""
        return [v.as_dict() for v in self.views.values()]

    def overlay(self, key: str) -> bytes | None:
        """The overlay PNG of a scene (None when the key is unknown or its scene file is not available)."""
        view = self.views.get(key)
        if view is None or view.map.scene is None:
            return None
        scene_path = view.map.scene
        return self.cache.get(f"overlays/{key}.png", lambda: render_overlay(view), [scene_path])


def render_overlay(view: SceneView) -> bytes:
    """Render and warp one scene's overlay (RGBA PNG bytes)."""
    import io

    import rasterio
    from affine import Affine
    from PIL import Image
    from rasterio.warp import Resampling, reproject

    from glofwatch.scene.read import read_scene

    assert view.map.scene is not None
    scene = read_scene(view.map.scene)
    h, w = scene.shape
    step = max(1, int(np.ceil(max(h, w) / OVERLAY_MAX_SIDE)))
    sh, sw = max(1, h // step), max(1, w // step)
    rgb, valid = scene_rgb(scene, 0, 0, h, w, out_shape=(sh, sw))
    src = np.concatenate([np.moveaxis(rgb, -1, 0), (valid * 255).astype(np.uint8)[None]], axis=0)
    src_transform = scene.grid.transform @ Affine.scale(w / sw, h / sh)
    dst = np.zeros((4, *view.dst_shape), dtype=np.uint8)
    with rasterio.Env():
        reproject(src, dst, src_transform=src_transform, src_crs=scene.grid.crs, dst_transform=view.dst_transform,
                  dst_crs=WEB_MERCATOR, resampling=Resampling.nearest, src_nodata=None, dst_nodata=0)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(dst, 0, -1))).save(buf, format="PNG", optimize=False)
    return buf.getvalue()
