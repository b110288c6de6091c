"""The hazard criteria: one registered function per criterion.

A criterion function takes the :class:`~glofwatch.risk.context.RiskContext`
and its :class:`~glofwatch.risk.config.CriterionSpec` and returns one
:class:`~glofwatch.risk.context.Measure` per lake, in row order. It raises
:class:`~glofwatch.risk.context.MissingInput` when its input (DEM, glaciers,
settlements, a dam-type column) was not given; a lake whose value cannot be had
gets ``Measure(None, why)``. Thresholds, classes and weights live in
``criteria.yaml``; :mod:`glofwatch.risk.score` turns values into scores.

To add a criterion, decorate a function here with ``@criterion("name")``
(it lands in :data:`CRITERIA`) and give it an entry in ``criteria.yaml``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from glofwatch.registry import Registry
from glofwatch.risk.config import CriterionSpec
from glofwatch.risk.context import Measure, MissingInput, RiskContext

CriterionFn = Callable[[RiskContext, CriterionSpec], list[Measure]]
CRITERIA: Registry[CriterionFn] = Registry("hazard criterion")


def criterion(name: str) -> Callable[[CriterionFn], CriterionFn]:
    """Decorator: register the function as criterion ``name`` in :data:`CRITERIA`."""

    def decorator(fn: CriterionFn) -> CriterionFn:
        CRITERIA.register(name, fn)
        return fn

    return decorator


def needs_outline(fn: CriterionFn) -> CriterionFn:
    """Make ``fn``'s value unknown ("no lake outline") for lakes whose track has no geometry."""

    @functools.wraps(fn)
    def wrapper(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
        measures = fn(ctx, spec)
        return [m if g is not None and not g.is_empty else Measure(None, "no lake outline")
                for m, g in zip(measures, ctx.geoms, strict=True)]  # fmt: skip

    return wrapper


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _column(ctx: RiskContext, name: str) -> list[float | None]:
    if name not in ctx.lakes.columns:
        raise MissingInput(f"the tracks have no '{name}' column")
    return [_finite(v) for v in ctx.lakes[name]]


@criterion("lake_area")
def lake_area(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Area of the latest outline, km2 (track column ``area_last_km2``)."""
    return [Measure(v, "" if v is not None else "no area") for v in _column(ctx, "area_last_km2")]


@criterion("growth_rate")
def growth_rate(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Growth in % per decade: the track's ``growth_pct_per_year`` x 10."""
    return [
        Measure(round(v * 10.0, 6), "") if v is not None else Measure(None, "growth unknown (fewer than two dates)")
        for v in _column(ctx, "growth_pct_per_year")
    ]


@criterion("glacier_distance")
@needs_outline
def glacier_distance(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Shortest distance in metres from the lake outline to the nearest glacier outline."""
    ctx.need_glaciers()
    out = []
    for near in ctx.glacier_distance_m:
        if near is None:
            out.append(Measure(None, f"no glacier outline of at least {ctx.settings['min_glacier_km2']:g} km2"))
        else:
            out.append(Measure(round(near[1], 3), "", {"glacier_id": ctx.glacier_ids[near[0]]}))
    return out


@criterion("glacier_contact")
@needs_outline
def glacier_contact(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """The lake-to-glacier distance again, compared with the contact tolerance (one pixel)."""
    return glacier_distance(ctx, spec)


@criterion("glacier_tongue_slope")
@needs_outline
def glacier_tongue_slope(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Mean DEM slope (deg) over the tongue of the lake's mother glacier.

    A lake with no glacier within ``mother_glacier_max_m`` has no tongue feeding
    it: the value is None but the criterion counts as known and not met.
    """
    ctx.need_terrain()
    ctx.need_glaciers()
    slopes, _ = ctx.tongue_stats
    pairs = zip(ctx.mother_glaciers, slopes, strict=True)
    return [_glacier_measure(m, s, "tongue outside the DEM") for m, s in pairs]


@criterion("surrounding_slope")
@needs_outline
def surrounding_slope(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Mean DEM slope (deg) over the ring between the lake outline and ``ring_m`` around it."""
    terrain = ctx.need_terrain()
    ring_m = float(spec.params["ring_m"])
    rings = [g.buffer(ring_m).difference(g) if g is not None and not g.is_empty else None for g in ctx.geoms]
    values = terrain.zonal("slope", rings, "mean")
    return [Measure(round(float(v), 4)) if np.isfinite(v) else Measure(None, "ring outside the DEM") for v in values]


@criterion("lake_glacier_slope")
@needs_outline
def lake_glacier_slope(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Slope (deg) from the lake up to its glacier tongue.

    ``atan((mean tongue elevation - mean lake elevation) / centroid distance)``;
    negative when the tongue lies below the lake.
    """
    ctx.need_terrain()
    ctx.need_glaciers()
    _, tongue_elev = ctx.tongue_stats
    lake_elev = ctx.lake_mean_elev_m
    out = []
    for geom, mother, zt, zl in zip(ctx.geoms, ctx.mother_glaciers, tongue_elev, lake_elev, strict=True):
        if mother is None:
            out.append(Measure(None, f"no glacier within {ctx.settings['mother_glacier_max_m']:g} m", absent=True))
            continue
        if not (np.isfinite(zt) and np.isfinite(zl)):
            out.append(Measure(None, "lake or tongue outside the DEM"))
            continue
        run_m = float(geom.centroid.distance(mother.tongue.centroid))
        if run_m <= 0:
            out.append(Measure(None, "lake and tongue share a centroid"))
            continue
        angle = math.degrees(math.atan2(float(zt - zl), run_m))
        out.append(Measure(round(angle, 4), "", {"glacier_id": mother.glacier_id, "rise_m": round(float(zt - zl), 2),
                                                 "run_m": round(run_m, 2)}))
    return out


@criterion("lake_elevation")
@needs_outline
def lake_elevation(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Mean DEM elevation (m) inside the lake outline."""
    values = ctx.lake_mean_elev_m
    return [Measure(round(float(v), 2)) if np.isfinite(v) else Measure(None, "lake outside the DEM") for v in values]


@criterion("dam_type")
def dam_type(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """The dam-type code of a published inventory (first column of ``params.columns`` present)."""
    columns = [c for c in spec.params["columns"] if c in ctx.lakes.columns]
    if not columns:
        raise MissingInput(f"the tracks have no dam-type column ({', '.join(spec.params['columns'])})")
    out = []
    for value in ctx.lakes[columns[0]]:
        text = None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()
        out.append(Measure(text or None, "" if text else f"no dam type in '{columns[0]}'"))
    return out


@criterion("downstream_exposure")
@needs_outline
def downstream_exposure(ctx: RiskContext, spec: CriterionSpec) -> list[Measure]:
    """Settlements within ``buffer_m`` of the first ``distance_km`` of the D8 flow path from the outlet."""
    ctx.need_terrain()
    if ctx.settlements is None:
        raise MissingInput("no settlements (give --settlements)")
    max_m = float(spec.params["distance_km"]) * 1000.0
    buffer_m = float(spec.params["buffer_m"])
    points = ctx.settlements
    names = [str(n) for n in points["name"]]
    out = []
    for path in ctx.flow_paths(max_m):
        if path is None:
            out.append(Measure(None, "no outlet: the lake lies outside the DEM"))
            continue
        line = path.line()
        near = points.geometry.distance(line) <= buffer_m
        hit = [names[i] for i in np.flatnonzero(near.to_numpy())]
        out.append(Measure(float(len(hit)), "", {
            "settlements": hit, "path_length_m": round(path.length_m, 1),
            "outlet_xy": [round(path.outlet_xy[0], 2), round(path.outlet_xy[1], 2)],
            "outlet_elev_m": round(path.outlet_elev_m, 2),
        }))  # fmt: skip
    return out


def _glacier_measure(mother: object, value: float, outside: str) -> Measure:
    if mother is None:
        return Measure(None, "no mother glacier close enough", absent=True)
    if not np.isfinite(value):
        return Measure(None, outside)
    return Measure(round(float(value), 4), "", {"glacier_id": getattr(mother, "glacier_id", None)})
