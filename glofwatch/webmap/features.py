"""Lake outlines as pre-serialised GeoJSON features, filtered by bounding box and alert level.

Outlines are simplified once, in the layer's own CRS (``simplify_m`` metres,
half a Sentinel-2 pixel by default, with topology kept), reprojected to
EPSG:4326 and rounded to 6 decimals (about 0.1 m), then serialised feature by
feature. A request only selects rows with numpy and joins the ready strings,
so 5,000 lakes answer in milliseconds. A lake without an outline is drawn at
its centroid as a point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

SIMPLIFY_M = 5.0
"""Default simplification tolerance in metres (half a 10 m pixel)."""
COORD_DECIMALS = 6
NO_LEVEL = "none"
"""Level filter value of lakes without an alert level (drawn grey)."""
METRES_PER_DEGREE = 111_320.0


@dataclass
class FeatureSet:
    """Serialised features with the arrays that filter them.

    Attributes:
        ids: lake_id per feature (-1 for untracked outlines of a map output).
        levels: alert level per feature, :data:`NO_LEVEL` when none.
        bounds: (n, 4) lon/lat bounding boxes (west, south, east, north).
        texts: one GeoJSON Feature string per feature.
    """

    ids: np.ndarray
    levels: np.ndarray
    bounds: np.ndarray
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, bbox: tuple[float, float, float, float] | None = None,
               levels: set[str] | None = None) -> np.ndarray:
        """Indices of the features whose box meets ``bbox`` and whose level is in ``levels``."""
        keep = np.ones(len(self.texts), dtype=bool)
        if bbox is not None and len(self.texts):
            w, s, e, n = bbox
            b = self.bounds
            keep &= (b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s)
        if levels is not None:
            keep &= np.isin(self.levels, sorted(levels))
        return np.flatnonzero(keep)

    def collection(self, index: np.ndarray, limit: int, meta: dict[str, Any]) -> bytes:
        """A FeatureCollection of the features at ``index`` (at most ``limit``), with counts and ``meta``."""
        chosen = index[:limit]
        head = {"type": "FeatureCollection", "numberMatched": int(index.size), "numberReturned": int(chosen.size),
                "truncated": bool(index.size > chosen.size), **meta}
        text = json.dumps(head, separators=(",", ":"))[:-1]
        body = ",".join(self.texts[i] for i in chosen)
        return f'{text},"features":[{body}]}}'.encode()

    def total_bounds(self) -> list[float] | None:
        """[west, south, east, north] of every feature, or None when empty."""
        if not len(self.texts):
            return None
        b = self.bounds
        return [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]


def _display_geometry(frame: gpd.GeoDataFrame, simplify_m: float) -> np.ndarray:
    """Simplified outlines in EPSG:4326 (object array; None where there is no geometry)."""
    import geopandas as gpd
    import shapely

    geoms = frame.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    crs = frame.crs
    tol = simplify_m if (crs is None or not crs.is_geographic) else simplify_m / METRES_PER_DEGREE
    if simplify_m > 0:
        geoms = shapely.simplify(geoms, tol, preserve_topology=True)
    out = gpd.GeoSeries(geoms, crs=crs).to_crs("EPSG:4326").to_numpy()
    out = shapely.transform(out, lambda xy: np.round(xy, COORD_DECIMALS))
    out[missing] = None
    return out


def build_features(frame: gpd.GeoDataFrame, properties: list[dict[str, Any]], simplify_m: float = SIMPLIFY_M,
                   points: list[tuple[Any, Any]] | None = None) -> FeatureSet:
    """Serialise one feature per row of ``frame`` with the given properties.

    Args:
        frame: outlines in any CRS.
        properties: one dict per row; ``lake_id`` (None for untracked) and ``level`` are read from it.
        simplify_m: simplification tolerance in metres (0: none).
        points: per row, (lon, lat) drawn as a point when the row has no outline; rows with
            neither are left out.

    Returns:
        The :class:`FeatureSet`.
    """
    import shapely

    geoms = _display_geometry(frame, simplify_m) if len(frame) else np.array([], dtype=object)
    ids, levels, bounds, texts = [], [], [], []
    shapes = shapely.to_geojson(geoms) if len(geoms) else []
    boxes = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
    for i, props in enumerate(properties):
        shape, box = shapes[i], boxes[i]
        if shape is None:
            lon, lat = points[i] if points is not None else (None, None)
            if lon is None or lat is None:
                continue
            point = [round(lon, COORD_DECIMALS), round(lat, COORD_DECIMALS)]
            shape = json.dumps({"type": "Point", "coordinates": point})
            box = (lon, lat, lon, lat)
        lake_id = props.get("lake_id")
        feature_id = "null" if lake_id is None else str(int(lake_id))
        texts.append(f'{{"type":"Feature","id":{feature_id},"properties":{json.dumps(props, separators=(",", ":"))},'
                     f'"geometry":{shape}}}')
        ids.append(-1 if lake_id is None else int(lake_id))
        levels.append(props.get("level") or NO_LEVEL)
        bounds.append(box)
    return FeatureSet(
        ids=np.asarray(ids, dtype=np.int64),
        levels=np.asarray(levels, dtype=object),
        bounds=np.asarray(bounds, dtype=np.float64).reshape(-1, 4),
        texts=texts,
    )
