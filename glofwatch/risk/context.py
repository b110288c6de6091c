"""Everything a criterion may look at: the tracked lakes and the optional DEM, glaciers and settlements.

All geometries are held in one working CRS in metres (the DEM's when a DEM is
given, else the lakes' own projected CRS, else the UTM zone of the lakes), so
distances and buffers are in metres. Per-lake results that several criteria
share (the mother glacier, its tongue, the lake's mean elevation) are computed
once here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from glofwatch.risk.terrain import FlowPath, Terrain

if TYPE_CHECKING:
    import geopandas as gpd


class MissingInput(Exception):
    """Raised by a criterion whose input was not given; the criterion is then unknown for every lake."""


@dataclass
class Measure:
    """What a criterion measured for one lake.

    Attributes:
        value: the number or category, or None when unknown for this lake.
        note: why it is unknown, or what the value refers to.
        detail: extra facts for the breakdown (names of settlements, glacier id, ...).
        absent: True when the value is None because the thing measured is known not
            to exist (no glacier feeds the lake): the criterion is then known and not met.
    """

    value: float | str | None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    absent: bool = False


@dataclass
class MotherGlacier:
    """The glacier a lake is fed by, when one lies close enough.

    Attributes:
        index: row of the glacier in :attr:`RiskContext.glaciers`.
        glacier_id: its id (the ``glacier_id`` / ``rgi_id`` column, else the row).
        distance_m: shortest lake-to-glacier distance.
        tongue: the part of the glacier within ``distance + tongue_length_m`` of the lake.
    """

    index: int
    glacier_id: str
    distance_m: float
    tongue: Any


@dataclass
class RiskContext:
    """Inputs of the criteria, in the working CRS.

    Attributes:
        lakes: the tracks (one row per lake, ``lake_id`` and geometry), in the working CRS.
        settings: the criteria set's shared settings.
        terrain: the DEM, or None.
        glaciers: glacier outlines, or None.
        settlements: settlement points (``name`` column), or None.
    """

    lakes: gpd.GeoDataFrame
    settings: dict[str, float]
    terrain: Terrain | None = None
    glaciers: gpd.GeoDataFrame | None = None
    settlements: gpd.GeoDataFrame | None = None

    @property
    def geoms(self) -> list[Any]:
        """The lake outlines, in row order."""
        return list(self.lakes.geometry)

    def need_terrain(self) -> Terrain:
        """The DEM, or raise :class:`MissingInput`."""
        if self.terrain is None:
            raise MissingInput("no DEM (give --dem)")
        return self.terrain

    def need_glaciers(self) -> gpd.GeoDataFrame:
        """The glacier outlines, or raise :class:`MissingInput`."""
        if self.glaciers is None:
            raise MissingInput("no glacier outlines (give --glaciers)")
        return self.glaciers

    @cached_property
    def glacier_distance_m(self) -> list[tuple[int, float] | None]:
        """(glacier row, distance in m) of the nearest glacier of each lake (None without glaciers)."""
        glaciers = self.need_glaciers()
        if len(glaciers) == 0:
            return [None] * len(self.lakes)
        out: list[tuple[int, float] | None] = []
        tree_geoms = list(glaciers.geometry)
        sindex = glaciers.sindex
        for geom in self.geoms:
            if geom is None or geom.is_empty:
                out.append(None)
                continue
            nearest = sindex.nearest(geom, return_all=False)
            j = int(nearest[1][0])
            out.append((j, float(geom.distance(tree_geoms[j]))))
        return out

    @cached_property
    def glacier_ids(self) -> list[str]:
        """Id of each glacier outline (``glacier_id``, ``rgi_id``, ``RGIId`` or ``id`` column, else the row)."""
        glaciers = self.need_glaciers()
        for column in ("glacier_id", "rgi_id", "RGIId", "id"):
            if column in glaciers.columns:
                return [str(v) for v in glaciers[column]]
        return [str(i) for i in range(len(glaciers))]

    @cached_property
    def mother_glaciers(self) -> list[MotherGlacier | None]:
        """The mother glacier of each lake: the nearest one within ``mother_glacier_max_m``."""
        glaciers = self.need_glaciers()
        max_m = float(self.settings["mother_glacier_max_m"])
        tongue_m = float(self.settings["tongue_length_m"])
        ids = self.glacier_ids
        out: list[MotherGlacier | None] = []
        for geom, near in zip(self.geoms, self.glacier_distance_m, strict=True):
            if near is None or near[1] > max_m:
                out.append(None)
                continue
            j, dist = near
            tongue = glaciers.geometry.iloc[j].intersection(geom.buffer(dist + tongue_m))
            out.append(MotherGlacier(j, ids[j], dist, tongue))
        return out

    @cached_property
    def lake_mean_elev_m(self) -> np.ndarray:
        """Mean DEM elevation over each lake outline (exactextract)."""
        return self.need_terrain().zonal("dem", self.geoms, "mean")

    @cached_property
    def tongue_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean slope in deg, mean elevation in m) over each lake's tongue; NaN without one."""
        terrain = self.need_terrain()
        tongues = [m.tongue if m is not None else None for m in self.mother_glaciers]
        return terrain.zonal("slope", tongues, "mean"), terrain.zonal("dem", tongues, "mean")

    def flow_paths(self, max_length_m: float) -> list[FlowPath | None]:
        """The D8 flow path of each lake from its outlet, at most ``max_length_m`` long."""
        terrain = self.need_terrain()
        paths: list[FlowPath | None] = []
        for geom in self.geoms:
            cell = terrain.outlet(geom) if geom is not None and not geom.is_empty else None
            paths.append(None if cell is None else terrain.flow_path(cell[0], cell[1], max_length_m))
        return paths

