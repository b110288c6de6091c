"""Per-lake thumbnails: the scene, the prediction and the Grad-CAM around one lake.

The window is the lake's bounding box plus half its size on each side (at
least :data:`MIN_MARGIN_PX` pixels), squared and clipped to the raster, from
the map output whose scene covers the lake's centre, preferring the one of
the lake's last observation date, else the latest. Kinds:

- ``image``: the scene in true colour (percentile stretch of the window);
- ``prediction``: the map output's lake pixels (``probability > threshold``) in cyan over the
  image (over the probability in grey when the scene file is not available);
- ``gradcam``: the ``--model`` run's Grad-CAM heat map over the image.

Windows larger than :data:`MAX_WINDOW_PX` are read decimated (Grad-CAM uses
the full-resolution window up to its own limit). Each PNG is made once and
cached under ``DIR/.webmap/thumbs``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glofwatch.webmap.cache import RenderCache
from glofwatch.webmap.imagery import Imagery, SceneView, scene_rgb
from glofwatch.webmap.layout import MapFolder

if TYPE_CHECKING:
    from glofwatch.webmap.catalog import Catalog
    from glofwatch.webmap.model import ModelService

KINDS = ("image", "prediction", "gradcam")
THUMB_SIDE = 192
MIN_MARGIN_PX = 16
MAX_WINDOW_PX = 512
NO_MODEL = "Grad-CAM needs a model: start the server with `glofwatch serve DIR --model RUN`"


class ThumbUnavailable(LookupError):
    """A thumbnail that cannot be made; the message says why (one line)."""


@dataclass(frozen=True)
class Window:
    """A pixel window of a map output's grid."""

    row: int
    col: int
    height: int
    width: int


def _resize(rgb: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    from PIL import Image

    img = Image.fromarray(rgb)
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class Thumbnails:
    """Makes and caches the thumbnails of the catalog's lakes (see the module docs)."""

    def __init__(self, catalog: Catalog, imagery: Imagery, cache: RenderCache, model: ModelService | None) -> None:
        self.catalog = catalog
        self.imagery = imagery
        self.cache = cache
        self.model = model

    def _bounds_in(self, lake_id: int, crs: str) -> tuple[float, float, float, float] | None:
        import geopandas as gpd

        table = self.catalog.table
        if table is None:
            return None
        rows = table.loc[table["lake_id"] == lake_id]
        if rows.empty or rows.geometry.iloc[0] is None or rows.geometry.iloc[0].is_empty:
            return None
        return tuple(gpd.GeoSeries([rows.geometry.iloc[0]], crs=table.crs).to_crs(crs).total_bounds)

    def locate(self, lake_id: int) -> tuple[SceneView, Window] | None:
        """The map output and window for a lake's thumbnails, or None when no scene covers it."""
        from rasterio.transform import rowcol

        row = self.catalog.rows.get(lake_id) or {}
        wanted = str(row.get("last_date") or row.get("date") or "")[:10]
        views = sorted(self.imagery.views.values(), key=lambda v: (v.map.date == wanted, v.map.date or ""),
                       reverse=True)
        for view in views:
            box = self._bounds_in(lake_id, view.crs)
            if box is None:
                return None
            minx, miny, maxx, maxy = box
            r0, c0 = rowcol(view.transform, minx, maxy)
            r1, c1 = rowcol(view.transform, maxx, miny)
            r0, r1 = sorted((int(r0), int(r1)))
            c0, c1 = sorted((int(c0), int(c1)))
            cr, cc = (r0 + r1) / 2, (c0 + c1) / 2
            if not (0 <= cr < view.height and 0 <= cc < view.width):
                continue
            side = max(r1 - r0 + 1, c1 - c0 + 1)
            side = side + 2 * max(MIN_MARGIN_PX, math.ceil(side / 2))
            top, left = max(0, round(cr - side / 2)), max(0, round(cc - side / 2))
            bottom, right = min(view.height, top + side), min(view.width, left + side)
            return view, Window(top, left, bottom - top, right - left)
        return None

    def availability(self, lake_id: int) -> dict[str, dict[str, Any]]:
        """Per kind: whether it can be drawn, its URL and, if not, why."""
        where = self.locate(lake_id)
        out = {}
        for kind in KINDS:
            note = ""
            if where is None:
                note = "no map output covers this lake"
            elif kind in ("image", "gradcam") and where[0].map.scene is None:
                note = where[0].map.scene_note or "the scene file is not available"
            elif kind == "gradcam" and self.model is None:
                note = NO_MODEL
            out[kind] = {"available": not note, "url": f"/api/lakes/{lake_id}/thumbs/{kind}.png" if not note else None,
                         "note": note, "scene": where[0].map.name if where else None,
                         "date": where[0].map.date if where else None}
        return out

    def png(self, lake_id: int, kind: str) -> bytes:
        """The PNG of one thumbnail.

        Raises:
            ThumbUnavailable: unknown kind, no covering scene, no scene file, or no model for Grad-CAM.
        """
        if kind not in KINDS:
            raise ThumbUnavailable(f"unknown thumbnail kind '{kind}'; use one of {', '.join(KINDS)}")
        state = self.availability(lake_id)[kind]
        if not state["available"]:
            raise ThumbUnavailable(f"no {kind} thumbnail for lake {lake_id}: {state['note']}")
        where = self.locate(lake_id)
        assert where is not None
        view, win = where
        tag = f"-{self.model.key}" if kind == "gradcam" and self.model is not None else ""
        sources = [view.map.file("probability.tif"), *([view.map.scene] if view.map.scene else [])]
        name = f"thumbs/{view.map.key}/{lake_id}-{win.row}-{win.col}-{win.height}-{kind}{tag}.png"
        return self.cache.get(name, lambda: self._render(view.map, win, kind), sources)

    def _render(self, m: MapFolder, win: Window, kind: str) -> bytes:
        from glofwatch.io.image import make_overlay

        if kind == "gradcam":
            return _resize(self._gradcam(m, win))
        if kind == "image":
            return _resize(self._rgb(m, win))
        shape = _decimated(win) or (win.height, win.width)
        prob = np.nan_to_num(_read_probability(m, win, shape))
        if m.scene is not None:
            rgb = self._rgb(m, win)
        else:  # no imagery: the probability itself, in grey, under the lake pixels
            rgb = np.repeat((prob * 200).astype(np.uint8)[..., None], 3, axis=-1)
        threshold = float(m.summary.get("threshold") or 0.5)
        return _resize(make_overlay(rgb, (prob > threshold).astype(np.uint8)))

    def _rgb(self, m: MapFolder, win: Window, full: bool = False) -> np.ndarray:
        from glofwatch.scene.read import read_scene

        assert m.scene is not None
        scene = read_scene(m.scene)
        out_shape = None if full else _decimated(win)
        rgb, _ = scene_rgb(scene, win.row, win.col, win.height, win.width, out_shape=out_shape)
        return rgb

    def _gradcam(self, m: MapFolder, win: Window) -> np.ndarray:
        from glofwatch.explain.heatmap import blend_heatmap

        assert self.model is not None and m.scene is not None
        image, valid = self.model.scene_input(m.scene, win.row, win.col, win.height, win.width)
        result = self.model.analyse(image, valid)
        if result.heatmap is None:
            raise ThumbUnavailable(f"no Grad-CAM thumbnail: {result.note}")
        return blend_heatmap(self._rgb(m, win, full=True), result.heatmap, alpha=0.45)


def _decimated(win: Window) -> tuple[int, int] | None:
    side = max(win.height, win.width)
    if side <= MAX_WINDOW_PX:
        return None
    scale = MAX_WINDOW_PX / side
    return max(1, round(win.height * scale)), max(1, round(win.width * scale))


def _read_probability(m: MapFolder, win: Window, shape: tuple[int, int]) -> np.ndarray:
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window as RioWindow

    with rasterio.open(m.file("probability.tif")) as ds:
        return ds.read(1, window=RioWindow(win.col, win.row, win.width, win.height), out_shape=shape,
                       resampling=Resampling.nearest).astype(np.float32)
