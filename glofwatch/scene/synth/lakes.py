"""Lakes: where they lie, what shape they take, and what colour their water is.

A lake is a noisy ellipse bent towards low ground: the shape field is the
elliptical distance from the centre, plus fractal shoreline noise, plus the
smoothed DEM relative to the centre, so shorelines follow valleys and basins
and grow bays, arms and peninsulas. Lakes sit at glacier snouts (moraine-dammed,
elongated down-valley), in valley floors and in plateau basins; small ponds
are scattered on low ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from glofwatch.scene.synth import materials as mat
from glofwatch.scene.synth.terrain import Terrain

SHORE_NONE, SHORE_DEBRIS, SHORE_SALT, SHORE_VEGETATION = 0, 1, 2, 3
"""Codes of the ``shore`` layer: what lines a lake's shore."""


@dataclass
class Lake:
    """One drawn lake.

    Attributes:
        lake_id: 1-based id, the value of the lake in the ``lake_id`` layer.
        kind: water colour family (see :data:`materials.WATER_KINDS`).
        setting: ``moraine`` (at a glacier snout), ``valley``, ``basin`` or ``pond``.
        area_px: pixels of the lake as drawn (before clouds or nodata hide any).
        frozen_fraction: share of the lake covered by ice or snow, 0..1.
        center: (row, col) of the seed point.
    """

    lake_id: int
    kind: str
    setting: str
    area_px: int = 0
    frozen_fraction: float = 0.0
    center: tuple[int, int] = (0, 0)
    colour: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32), repr=False)


def lake_shape(
    center: tuple[float, float],
    area_px: float,
    aspect: float,
    angle_rad: float,
    roughness: float,
    shore_noise: np.ndarray,
    terrain: Terrain,
    terrain_weight: float,
) -> tuple[tuple[slice, slice], np.ndarray]:
    """The pixels of one lake.

    Args:
        center: (row, col) seed; the lake is the connected blob around it.
        area_px: target area in pixels (the drawn area differs by the noise).
        aspect: length / width of the underlying ellipse (>= 1).
        angle_rad: direction of the long axis (0 = along columns, counter-clockwise).
        roughness: shoreline noise amplitude (0 = ellipse).
        shore_noise: (H, W) zero-mean unit-variance noise used for the shoreline.
        terrain: the terrain; low ground around the centre attracts water.
        terrain_weight: how strongly the shoreline follows the smoothed DEM.

    Returns:
        ``(bbox, blob)``: the bounding slices in the image and a bool array of the
        lake inside them (possibly empty when the centre is off the image).
    """
    h, w = shore_noise.shape
    a = math.sqrt(max(area_px, 1.0) * aspect / math.pi)
    b = max(a / aspect, 0.6)
    reach = int(math.ceil(2.4 * a + 2))
    r0, c0 = int(round(center[0])), int(round(center[1]))
    rs, re = max(0, r0 - reach), min(h, r0 + reach + 1)
    cs, ce = max(0, c0 - reach), min(w, c0 + reach + 1)
    bbox = (slice(rs, re), slice(cs, ce))
    if rs >= re or cs >= ce:
        return bbox, np.zeros((max(re - rs, 0), max(ce - cs, 0)), dtype=bool)
    rr, cc = np.mgrid[rs:re, cs:ce].astype(np.float32)
    dr, dc = rr - center[0], cc - center[1]
    cos_t, sin_t = math.cos(angle_rad), math.sin(angle_rad)
    u = dc * cos_t - dr * sin_t
    v = dc * sin_t + dr * cos_t
    ellipse = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    s = ellipse
    if roughness > 0 and a > 2:
        s = s + roughness * shore_noise[bbox]
    if terrain_weight > 0 and a > 2:
        z = terrain.smooth_m[bbox] - terrain.smooth_m[min(max(r0, 0), h - 1), min(max(c0, 0), w - 1)]
        scale = float(np.percentile(np.abs(z), 90)) + 1e-3
        s = s + terrain_weight * z / scale
    # never beyond 2.2 semi-axes, so the blob cannot touch its box
    blob = ndimage.binary_fill_holes((s < 1.0) & (ellipse < 2.2))
    labels, n = ndimage.label(blob)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        blob = labels == int(sizes.argmax())
    return bbox, blob


def valley_points(
    rng: np.random.Generator, terrain: Terrain, count: int, tries: int = 24, margin: int = 0
) -> list[tuple[int, int]]:
    """Seed points on low ground: for each, the most valley-like of ``tries`` random pixels."""
    h, w = terrain.valley.shape
    points = []
    for _ in range(count):
        rows = rng.integers(margin, max(margin + 1, h - margin), tries)
        cols = rng.integers(margin, max(margin + 1, w - margin), tries)
        best = int(np.argmax(terrain.valley[rows, cols]))
        points.append((int(rows[best]), int(cols[best])))
    return points


def paint_lake(
    rng: np.random.Generator,
    lake: Lake,
    blob: np.ndarray,
    water: np.ndarray,
    bbox: tuple[slice, slice],
    mottle: np.ndarray,
    ice_noise: np.ndarray,
    kind_weights: dict[str, float] | None,
) -> None:
    """Colour one lake's pixels in ``water`` (4, H, W) in place and fill in ``lake``.

    Open water runs from the kind's shallow colour at the shore to the lake's deep
    colour inside; ``lake.frozen_fraction`` of the surface (if any) becomes lake
    ice or snow-on-ice, growing from the shallow rim inwards in patches.
    """
    kind = mat.water_kind(lake.kind) if lake.kind in mat.WATER_KIND_NAMES else mat.draw_water_kind(rng, kind_weights)
    lake.kind = kind.name
    deep = mat.draw_water_colour(rng, kind)
    lake.colour = deep
    dist = ndimage.distance_transform_edt(np.pad(blob, 1))[1:-1, 1:-1]
    depth = 1.0 - np.exp(-dist[blob] / float(rng.uniform(0.8, 4.0)))
    shallow = kind.shallow * float(rng.uniform(0.8, 1.1))
    colour = shallow[:, None] * (1.0 - depth)[None] + deep[:, None] * depth[None]
    colour *= 1.0 + 0.05 * mottle[bbox][blob][None]
    if lake.frozen_fraction > 0 and blob.sum() > 4:
        score = ice_noise[bbox][blob] - 1.2 * depth
        ice = score >= np.quantile(score, 1.0 - lake.frozen_fraction)
        snowy = ice & (ice_noise[bbox][blob] > 1.0)
        colour[:, ice] = mat.LAKE_ICE[:, None] * (0.9 + 0.1 * depth[ice])[None]
        colour[:, snowy] = mat.LAKE_SNOW[:, None]
        lake.frozen_fraction = float(ice.mean())
    view = water[(slice(None), *bbox)]
    view[:, blob] = colour


def shore_rings(
    rng: np.random.Generator,
    lake: Lake,
    bbox: tuple[slice, slice],
    lake_id: np.ndarray,
    shore: np.ndarray,
    ring_noise: np.ndarray,
    style_plateau: float,
) -> None:
    """Line a lake's shore in the ``shore`` layer (in place): debris moraine at glacier
    snouts, salt crust and wetland vegetation around plateau lakes."""
    h, w = lake_id.shape
    pad = 14
    rs, re = max(0, bbox[0].start - pad), min(h, bbox[0].stop + pad)
    cs, ce = max(0, bbox[1].start - pad), min(w, bbox[1].stop + pad)
    local = lake_id[rs:re, cs:ce] == lake.lake_id
    dist = ndimage.distance_transform_edt(~local)
    noise = ring_noise[rs:re, cs:ce]
    free = (lake_id[rs:re, cs:ce] == 0) & (shore[rs:re, cs:ce] == SHORE_NONE)
    view = shore[rs:re, cs:ce]
    if lake.setting == "moraine":
        width = rng.uniform(2.0, 7.0)
        view[free & (dist <= width * (1.0 + 0.5 * noise))] = SHORE_DEBRIS
        return
    if rng.random() < 0.6 * style_plateau + 0.1:
        width = rng.uniform(1.0, 6.0)
        view[free & (dist <= width * (1.0 + 0.6 * noise))] = SHORE_SALT
        free = free & (view == SHORE_NONE)
    if rng.random() < 0.5 * style_plateau + 0.1:
        width = rng.uniform(2.0, 9.0)
        view[free & (dist <= width * (0.6 + 0.8 * noise)) & (noise > -0.2)] = SHORE_VEGETATION


@dataclass
class PlacedLakes:
    """Lakes drawn on a landscape.

    Attributes:
        lake_id: (H, W) int16 lake number (0 = none).
        lakes: the :class:`Lake` list (``lake_id`` = position + 1).
        outlets: (row, col) outflow points of moraine lakes (rivers start there).
        unused_snouts: glacier snouts without a lake.
    """

    lake_id: np.ndarray
    lakes: list[Lake]
    outlets: list[np.ndarray]
    unused_snouts: list[np.ndarray]


def place_lakes(
    rng: np.random.Generator,
    terrain: Terrain,
    plans: list,
    snouts: list[np.ndarray],
    shore_noise: np.ndarray,
) -> PlacedLakes:
    """Place and shape the planned lakes; flatten the DEM under each to its water level.

    Args:
        rng: random source.
        terrain: the terrain (its DEM is edited in place: lakes are flat).
        plans: :class:`~glofwatch.scene.synth.landscape.LakePlan` list, drawn in order
            (earlier lakes keep their pixels where later ones overlap).
        snouts: glacier snouts (last centre-line points) for ``moraine`` lakes.
        shore_noise: (H, W) zero-mean unit-variance shoreline noise.

    Returns:
        The :class:`PlacedLakes`.
    """
    h, w = terrain.dem_m.shape
    lake_id = np.zeros((h, w), dtype=np.int16)
    lakes: list[Lake] = []
    snouts = list(snouts)
    outlets = []
    for plan in plans:
        setting = plan.setting
        angle = float(rng.uniform(0, math.pi))
        # shorelines cut into the ellipse on average, so aim a little higher
        area = plan.area_px * 1.3 if setting != "pond" else plan.area_px
        a = math.sqrt(max(area, 1.0) * plan.aspect / math.pi)
        if setting == "moraine" and snouts:
            end = snouts.pop(0)
            head = end[-1] - end[0]
            head = head / (np.linalg.norm(head) + 1e-6)
            centre = end[-1] + head * a * 0.75
            angle = math.atan2(-head[0], head[1])
            outlets.append(centre + head * a)
        else:
            setting = "valley" if setting == "moraine" else setting
            margin = int(np.clip(0.5 * a, 0.08 * min(h, w), 0.4 * min(h, w)))
            tries = 8 if setting == "pond" else 24
            centre = np.array(valley_points(rng, terrain, 1, tries=tries, margin=margin)[0], float)
        bbox, blob = lake_shape(
            (float(centre[0]), float(centre[1])),
            area,
            plan.aspect,
            angle,
            plan.roughness,
            shore_noise,
            terrain,
            plan.terrain_weight,
        )
        free = blob & (lake_id[bbox] == 0)
        if not free.any():
            continue
        lake = Lake(
            lake_id=len(lakes) + 1,
            kind=plan.kind or "",
            setting=setting,
            frozen_fraction=plan.frozen_fraction,
            center=(int(centre[0]), int(centre[1])),
        )
        lake_id[bbox][free] = lake.lake_id
        terrain.dem_m[bbox][free] = float(np.percentile(terrain.dem_m[bbox][free], 20))
        lakes.append(lake)
    return PlacedLakes(lake_id=lake_id, lakes=lakes, outlets=outlets, unused_snouts=snouts)
