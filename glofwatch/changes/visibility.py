"""Was a vanished lake looked at? The share of its last outline that the next date's maps observed.

A lake with no outline on a later date is ``vanished`` (:mod:`~glofwatch.changes.tracks`). It
may also have been under cloud, in nodata, or beyond the later scenes' edges. When the later
date's lake files lie in folders written by ``glofwatch map``, the ``mask.tif`` beside each says
what was observed (0 land, 1 lake; 2 not observed, 255 nodata). :func:`observed_share` burns
the lake's last outline into those masks and counts the share of its pixels observed (0 or 1),
the best over the date's masks; pixels beyond a mask's edge count as not observed, and so does a
lake outside all of them.
:func:`obscure_unseen` turns a ``vanished`` lake into ``obscured`` when less than
:data:`OBSERVED_SHARE_MIN` of it was observed. Without a mask (a published inventory) the status
stands.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

OBSERVED_SHARE_MIN = 0.5
"""A vanished lake less observed than this on the next date is ``obscured``: its disappearance was not seen."""

MASK_FILE = "mask.tif"


def observed_share(outline: Any, crs: Any, masks: list[Path]) -> float:
    """The largest share of ``outline``'s pixels (in ``crs``) that one of ``masks`` observed; NaN without a mask.

    Example:
        >>> observed_share(None, None, [])
        nan
    """
    import pyproj
    import rasterio
    import shapely
    from rasterio import features
    from rasterio.windows import Window, from_bounds

    best = math.nan
    for path in masks:
        with rasterio.open(path) as ds:
            to_mask = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), ds.crs, always_xy=True)
            geom = shapely.transform(outline, lambda xy, t=to_mask: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
            f = from_bounds(*geom.bounds, transform=ds.transform)  # fractional: whole pixels around it
            c0, r0 = math.floor(f.col_off), math.floor(f.row_off)
            win = Window(c0, r0, math.ceil(f.col_off + f.width) - c0, math.ceil(f.row_off + f.height) - r0)
            if win.width < 1 or win.height < 1:
                continue
            values = ds.read(1, window=win, boundless=True, fill_value=255)  # beyond the edge: not observed
            inside = features.geometry_mask([geom], values.shape, ds.window_transform(win), invert=True,
                                            all_touched=False)
            n = int(np.count_nonzero(inside))
            if n == 0:
                continue
            share = float(np.count_nonzero(inside & (values <= 1))) / n
            best = share if math.isnan(best) else max(best, share)
    return best


def obscure_unseen(tracks: Any, dates: list[str], inventories: list[Any]) -> int:
    """Set ``obscured`` on the ``vanished`` lakes of ``tracks`` that the next date did not observe; how many.

    Args:
        tracks: the tracks table (with ``status``, ``last_date`` and the last outline as ``geometry``),
            changed in place.
        dates: every date in order (ISO text).
        inventories: the :class:`~glofwatch.changes.inventory.Inventory` read, each with its ``path`` and ``date``.
    """
    vanished = np.flatnonzero((tracks["status"] == "vanished").to_numpy(dtype=bool))
    if vanished.size == 0:
        return 0
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    # each date's masks with their footprint in the tracks' CRS: a lake is looked up in the masks it touches only
    masks: dict[str, list[tuple[Path, Any]]] = {}
    for inv in inventories:
        mask = Path(inv.path).parent / MASK_FILE
        if mask.is_file():
            with rasterio.open(mask) as ds:
                box = shapely.box(*transform_bounds(ds.crs, tracks.crs, *ds.bounds, densify_pts=21))
            masks.setdefault(inv.date.isoformat(), []).append((mask, box))
    order = {d: i for i, d in enumerate(dates)}
    col = tracks.columns.get_loc("status")
    n = 0
    for row in vanished:
        at = order.get(str(tracks["last_date"].iloc[row]))
        if at is None or at + 1 >= len(dates):
            continue
        outline = tracks.geometry.iloc[row]
        seen = masks.get(dates[at + 1], [])
        near = [path for path, box in seen if box.intersects(outline)]
        # mapped that date, but not where the lake was: not observed; no map at all: nothing to tell
        share = observed_share(outline, tracks.crs, near) if near else (0.0 if seen else math.nan)
        if math.isfinite(share) and share < OBSERVED_SHARE_MIN:
            tracks.iloc[row, col] = "obscured"
            n += 1
    return n


__all__ = ["OBSERVED_SHARE_MIN", "obscure_unseen", "observed_share"]
