"""A regional lake inventory: every lake once, over map tiles that overlap.

Neighbouring Sentinel-2 tiles overlap. The MGRS tiles are 109.8 km wide and laid out every
100 km, so a tile shares about 17 % of its area with its neighbours: a lake there is mapped
by two (or four) tiles, and a lake across a tile's edge is cut by one of them. Summing the
lake files of a region counts such lakes twice, or as pieces.

:func:`regional_inventory` reads the lake files (any CRS: all go into one equal-area CRS,
:func:`~glofwatch.changes.monitor.load_observations`) and, within a group of files, unions
the outlines that share more than ``min_overlap`` of the smaller one
(:func:`~glofwatch.changes.match.merge_same_date`). Each lake is then counted once, at its
largest extent over the tiles that see it, so a lake cut by one tile's edge is whole again
from the tile that holds it. Two lakes of one file never overlap, so only outlines from
different files are merged. A merged lake's ``unobserved_fraction`` (the share of ground around
it that no tile saw: cloud, nodata or a scene's edge, :mod:`glofwatch.lakes.vectorize`) is that
of its best-seen outline: a lake cut by one tile's edge and whole in the next reads as seen all
round. Areas and perimeters are measured again on the WGS84
ellipsoid (:func:`~glofwatch.lakes.vectorize.geodesic_area_perimeter`), as ``glofwatch map``
measures them: a lake outside any overlap keeps its area.

Groups (``group``):

* ``date`` (the default): the files of one date are one inventory, and lakes of different
  dates are never merged; each date gets its own table. Files with no date at all (no date
  column, none in the file or folder name) form one ``undated`` group.
* ``all``: every file is one inventory, such as a composite of the clearest date of each tile in
  a season. A lake seen on two dates by two overlapping tiles counts once, as the union of
  both outlines.

Where two tiles lie in different UTM zones their pixel grids differ, and the union of the two
outlines of one lake is up to about half a pixel wider along the shore than either. That is
within the area uncertainty of an outline (perimeter x pixel / 2,
:mod:`~glofwatch.changes.uncertainty`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.changes.inventory import FOLDER_FILE_NAMES, UNDATED
from glofwatch.changes.match import DEFAULT_MIN_OVERLAP, merge_same_date
from glofwatch.changes.monitor import load_observations
from glofwatch.changes.tracks import HIDDEN_COLUMN, INPUT_COLUMNS
from glofwatch.changes.uncertainty import DEFAULT_PIXEL_SIZE_M
from glofwatch.errors import ConfigError
from glofwatch.registry import close_matches_hint

GROUPS = ("date", "all")
"""How :func:`regional_inventory` groups its files: one inventory per date, or one for all."""

UNDATED_GROUP = "undated"
"""The group of files with no date (``group="date"``)."""

ALL_GROUP = "all"
"""The one group of ``group="all"``."""

LAKE_COLUMNS = ("lake_id", "inventory", "date", "area_km2", "perimeter_m", "centroid_lon", "centroid_lat", "mean_prob",
                "unobserved_fraction", "outlines", "scenes")
"""Columns of :attr:`RegionalInventory.lakes` (plus ``geometry``, EPSG:4326)."""

OUTPUT_CRS = "EPSG:4326"


@dataclass
class Group:
    """One inventory of a regional run.

    Attributes:
        name: the date (ISO), :data:`UNDATED_GROUP` or :data:`ALL_GROUP`.
        scenes: the scenes of its files, in order.
        outlines: outlines read from its files.
        lakes: lakes once the overlapping outlines are merged.
        partly_unobserved: lakes whose best-seen outline has unobserved ground around it (cloud,
            nodata, a scene's edge: ``unobserved_fraction`` above 0), so their outline may be cut.
    """

    name: str
    scenes: list[str]
    outlines: int
    lakes: int
    partly_unobserved: int = 0

    @property
    def folded(self) -> int:
        """Outlines folded into an overlapping one from another file (mapped twice, or cut by a tile's edge)."""
        return self.outlines - self.lakes

    def summary(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"inventory": self.name, "scenes": list(self.scenes), "outlines": self.outlines, "lakes": self.lakes,
                "folded": self.folded, "partly_unobserved": self.partly_unobserved}


@dataclass
class RegionalInventory:
    """Result of :func:`regional_inventory`.

    Attributes:
        lakes: GeoDataFrame with :data:`LAKE_COLUMNS` and ``geometry`` (EPSG:4326), one row per
            lake and group, ordered by group; ``inventory`` names the group (its date,
            :data:`UNDATED_GROUP` or :data:`ALL_GROUP`), ``date`` is the date (empty for those two),
            ``outlines`` counts the outlines merged into the lake and ``scenes`` names their scenes (``;``).
        groups: the groups in order (dates first, in date order, then :data:`UNDATED_GROUP`).
        group_by: ``"date"`` or ``"all"``.
        inputs: what was read from each file (as in ``monitor.json``, less the pixel size).
    """

    lakes: Any
    groups: list[Group] = field(default_factory=list)
    group_by: str = "date"
    inputs: list[dict] = field(default_factory=list)

    def areas(self, group: str) -> np.ndarray:
        """The lake areas (km2) of one group."""
        return self.lakes.loc[self.lakes["inventory"] == group, "area_km2"].to_numpy(dtype=float)


def scene_label(path: str | Path) -> str:
    """The scene of a lake file: its folder for ``lakes.gpkg`` (what ``glofwatch map`` writes), else its stem."""
    path = Path(path)
    return path.parent.name if path.name in FOLDER_FILE_NAMES else path.stem


def check_group(group: str) -> str:
    """``group`` when it is one of :data:`GROUPS`, else a ConfigError with the close match."""
    if group not in GROUPS:
        hint = close_matches_hint(group, list(GROUPS))
        raise ConfigError(f"--group {group!r} is not one of {', '.join(GROUPS)}{hint}")
    return group


def regional_inventory(
    paths: Sequence[str | Path],
    group: str = "date",
    dates: list[dt.date] | None = None,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> RegionalInventory:
    """Every lake of the lake files under ``paths`` once per group (see the module docs).

    Args:
        paths: lake files (``lakes.gpkg`` of ``glofwatch map``, or any inventory file), or
            folders holding ``lakes.gpkg`` files.
        group: ``"date"`` (one inventory per date) or ``"all"`` (one for every file).
        dates: one date per file (after folders are expanded), overriding columns and names.
        min_overlap: two outlines are one lake when they share more than this share of the smaller one.

    Returns:
        The :class:`RegionalInventory`.

    Raises:
        ConfigError: an unknown ``group`` or a ``min_overlap`` outside [0, 1).
        InputError: a missing or unreadable file, or a folder without ``lakes.gpkg`` (from the inventory reader).
    """
    import geopandas as gpd
    import pandas as pd
    import pyproj
    import shapely

    from glofwatch.lakes.vectorize import geodesic_area_perimeter

    check_group(group)
    if not 0 <= min_overlap < 1:
        raise ConfigError(f"--min-overlap {min_overlap} must be in [0, 1) (0.1 = 10 % of the smaller outline)")
    # the pixel size only sets the area uncertainty, which an inventory does not report
    loaded = load_observations(paths, dates, DEFAULT_PIXEL_SIZE_M, undated_ok=True)
    undated = UNDATED.isoformat()
    order = [d for d in loaded.dates if d != undated] + [d for d in loaded.dates if d == undated]  # undated last
    position = {d: 0 if group == ALL_GROUP else i for i, d in enumerate(order)}
    names = [ALL_GROUP] if group == ALL_GROUP else [UNDATED_GROUP if d == undated else d for d in order]
    frame = loaded.frame
    frame = frame.assign(date_index=np.array([position[d] for d in frame["date"].astype(str)], dtype=np.int64))
    frame = frame.assign(outlines=np.ones(len(frame), np.int64))
    merged, _ = merge_same_date(frame[[*INPUT_COLUMNS, HIDDEN_COLUMN, "outlines", "geometry"]], min_overlap)
    merged = merged.sort_values(["date_index", "source", "source_row"], kind="stable").reset_index(drop=True)

    geoms = merged.geometry.to_numpy()
    to_ll = pyproj.Transformer.from_crs(loaded.area_crs, OUTPUT_CRS, always_xy=True)
    area_m2, perimeter_m = geodesic_area_perimeter(geoms, to_ll)
    centre = shapely.centroid(geoms)
    lon, lat = to_ll.transform(shapely.get_x(centre), shapely.get_y(centre)) if len(geoms) else ([], [])
    index = merged["date_index"].to_numpy(dtype=np.int64)
    group_of = np.array(names, dtype=object)[index] if len(index) else np.zeros(0, object)
    if group == ALL_GROUP:
        date_of = [None] * len(merged)
    else:
        date_of = [None if d == undated else d for d in merged["date"].astype(str)]
    scenes_of = [";".join(dict.fromkeys(scene_label(s) for s in str(src).split(";"))) for src in merged["source"]]
    lakes = gpd.GeoDataFrame({
        "lake_id": np.arange(1, len(merged) + 1, dtype=np.int64),
        "inventory": pd.Series(group_of, dtype="string"),
        "date": pd.Series(date_of, dtype="string"),
        "area_km2": area_m2 / 1e6,
        "perimeter_m": perimeter_m,
        "centroid_lon": np.asarray(lon, dtype=float),
        "centroid_lat": np.asarray(lat, dtype=float),
        "mean_prob": merged["mean_prob"].to_numpy(dtype=float),
        "unobserved_fraction": merged[HIDDEN_COLUMN].to_numpy(dtype=float),
        "outlines": merged["outlines"].to_numpy(dtype=np.int64),
        "scenes": pd.Series(scenes_of, dtype="string"),
    }, geometry=gpd.GeoSeries(geoms, crs=loaded.area_crs).to_crs(OUTPUT_CRS).to_numpy(), crs=OUTPUT_CRS)  # fmt: skip

    read_index = frame["date_index"].to_numpy(dtype=np.int64)
    file_group = [position[inv.date.isoformat()] for inv in loaded.inventories]
    labels = [scene_label(inv.path) for inv in loaded.inventories]
    with np.errstate(invalid="ignore"):
        hidden = lakes["unobserved_fraction"].to_numpy(dtype=float) > 0  # NaN (unknown) is not counted
    groups = [Group(name, [lab for lab, g in zip(labels, file_group, strict=True) if g == i],
                    int(np.count_nonzero(read_index == i)), int(np.count_nonzero(index == i)),
                    int(np.count_nonzero(hidden & (index == i))))
              for i, name in enumerate(names)]
    return RegionalInventory(lakes=lakes, groups=groups, group_by=group,
                             inputs=[{k: v for k, v in inv.summary().items() if not k.startswith("pixel_size")}
                                     for inv in loaded.inventories])


__all__ = ["ALL_GROUP", "GROUPS", "LAKE_COLUMNS", "UNDATED_GROUP", "Group", "RegionalInventory", "check_group",
           "regional_inventory", "scene_label"]
