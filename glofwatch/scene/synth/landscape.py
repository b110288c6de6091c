"""One synthetic landscape: the layers (DEM, snow, glaciers, lakes, rivers, clouds) and
their composition into 4-band surface reflectance.

:func:`build_landscape` turns a :class:`LandscapeSpec` (one random draw of the
look of a place) into a :class:`Landscape`; :meth:`Landscape.reflectance`
composes any block of rows, so crops render in one go and large scenes block
by block. Crops (:mod:`.crops`) and georeferenced scenes (:mod:`.scene`) share
this renderer; they only draw their specs differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from glofwatch.scene.synth import materials as mat
from glofwatch.scene.synth.clouds import CloudLayer, clear_sky, make_clouds
from glofwatch.scene.synth.lakes import (
    SHORE_DEBRIS,
    SHORE_NONE,
    SHORE_SALT,
    SHORE_VEGETATION,
    Lake,
    lake_shape,
    paint_lake,
    shore_rings,
    valley_points,
)
from glofwatch.scene.synth.noise import fractal_noise
from glofwatch.scene.synth.terrain import (
    Terrain,
    carve_troughs,
    cast_shadow,
    incidence,
    make_terrain,
    rasterize_paths,
    refresh,
    trace_downhill,
)


@dataclass
class LakePlan:
    """A lake to draw: where (``setting``), how big, what shape, how frozen.

    ``setting`` is ``moraine`` (at a glacier snout, elongated down-valley; falls
    back to ``valley`` without a glacier), ``valley``, ``basin`` or ``pond``.
    ``kind`` fixes the water colour family; ``None`` draws one by weight.
    """

    setting: str
    area_px: float
    aspect: float = 1.5
    frozen_fraction: float = 0.0
    roughness: float = 0.3
    terrain_weight: float = 0.5
    kind: str | None = None


@dataclass
class LandscapeSpec:
    """One random draw of a place's look (units in the names; fractions 0..1)."""

    plateau: float
    base_m: float
    relief_m: float
    ruggedness: float
    snowline_m: float
    snow_noise_m: float
    sun_azimuth_deg: float
    sun_elevation_deg: float
    soils: tuple[str, str]
    vegetation: float
    glaciers: int
    glacier_width_px: float
    debris: float
    rivers: int
    lakes: list[LakePlan] = field(default_factory=list)
    cloud_coverage: float = 0.0
    cloud_opacity: float = 0.0
    cloud_height_px: float = 40.0
    haze: float = 1.0
    kind_weights: dict[str, float] | None = None


@dataclass
class Landscape:
    """All layers of one landscape, each (H, W) unless noted.

    Attributes:
        spec: what was drawn.
        terrain: DEM and derived layers.
        cos_i: float32 cosine of solar incidence; ``shadow``: bool cast shadow.
        snow: float32 snow cover 0..1.
        glacier: int16 glacier number (0 = none); ``debris``: bool debris-covered ice.
        river: bool river water.
        lake_id: int16 lake number (0 = none); ``lakes``: the :class:`Lake` list.
        water: (4, H, W) float32 lake reflectance (0 outside lakes).
        shore: uint8 shore codes (:data:`lakes.SHORE_*`).
        soil_mix, texture, vegetation_cover: float32 land-cover fields.
        clouds: the :class:`CloudLayer`.
        nodata: bool pixels outside the image footprint (all bands 0).
    """

    spec: LandscapeSpec
    terrain: Terrain
    cos_i: np.ndarray
    shadow: np.ndarray
    snow: np.ndarray
    glacier: np.ndarray
    debris: np.ndarray
    river: np.ndarray
    lake_id: np.ndarray
    lakes: list[Lake]
    water: np.ndarray
    shore: np.ndarray
    soil_mix: np.ndarray
    texture: np.ndarray
    vegetation_cover: np.ndarray
    clouds: CloudLayer
    nodata: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return self.lake_id.shape  # type: ignore[return-value]

    def lake_mask(self) -> np.ndarray:
        """The truth mask: (H, W) uint8, 1 where lake water or lake ice is drawn and
        visible (not under opaque cloud, not nodata), else 0."""
        return ((self.lake_id > 0) & ~self.clouds.hidden & ~self.nodata).astype(np.uint8)

    def reflectance(self, rows: slice | None = None) -> np.ndarray:
        """Compose surface reflectance for a block of rows.

        Args:
            rows: the rows to render (default all).

        Returns:
            (4, h, W) float32 reflectance in :data:`materials.BANDS` order; 0 in nodata.
        """
        rows = rows or slice(0, self.shape[0])
        s = self.spec
        n_rows = len(range(*rows.indices(self.shape[0])))
        out = np.empty((4, n_rows, self.shape[1]), dtype=np.float32)
        # band by band: whole-plane operations are fast, masked ones touch few pixels
        mix = self.soil_mix[rows]
        tex = self.texture[rows]
        veg = self.vegetation_cover[rows]
        shore = self.shore[rows]
        shore_sel = [(shore == code, colour) for code, colour in
                     ((SHORE_SALT, mat.SALT), (SHORE_VEGETATION, mat.VEGETATION), (SHORE_DEBRIS, mat.DEBRIS))]
        shore_sel = [(sel, colour, tex[sel]) for sel, colour in shore_sel if sel.any()]
        glacier = self.glacier[rows] > 0
        clean = glacier & ~self.debris[rows]
        hummock = glacier & self.debris[rows]
        clean_tex = 0.92 + 0.08 * tex[clean]
        hummock_tex = tex[hummock] ** 2
        river = self.river[rows]
        snow = self.snow[rows]
        snowy = snow > 0
        snow_a = snow[snowy]
        snow_tex = 0.97 + 0.03 * tex[snowy]
        cos_zen = math.sin(math.radians(s.sun_elevation_deg))
        direct = np.clip(self.cos_i[rows], 0.0, None) * (1.0 - self.clouds.shadow[rows])
        direct[self.shadow[rows]] = 0.0
        direct *= 1.0 / cos_zen
        lake = self.lake_id[rows] > 0
        lake_light = (1.0 - self.clouds.shadow[rows][lake]) * ~self.shadow[rows][lake]
        alpha = self.clouds.alpha[rows]
        cloudy = alpha > 0
        cloud_a = alpha[cloudy]
        cloud_b = self.clouds.brightness[rows][cloudy]
        nodata = self.nodata[rows]
        soil_a, soil_b = mat.SOILS[s.soils[0]], mat.SOILS[s.soils[1]]
        for b in range(4):
            band = out[b]
            np.multiply(mix, soil_b[b] - soil_a[b], out=band)
            band += soil_a[b]
            band += (mat.VEGETATION[b] - band) * veg
            band *= tex
            for sel, colour, sel_tex in shore_sel:
                band[sel] = colour[b] * sel_tex
            band[clean] = mat.GLACIER_ICE[b] * clean_tex
            band[hummock] = mat.DEBRIS[b] * hummock_tex
            band[river] = mat.RIVER[b]
            band[snowy] += (mat.SNOW[b] * snow_tex - band[snowy]) * snow_a
            # direct light on the slope plus diffuse skylight; flat sunny ground = 1
            d = mat.DIFFUSE_FRACTION[b]
            band *= (1.0 - d) * direct + d
            band[lake] = self.water[b, rows][lake] * ((1.0 - d) * lake_light + d)
            band[cloudy] += (mat.CLOUD[b] * cloud_b - band[cloudy]) * cloud_a
            band += mat.HAZE[b] * s.haze
            np.clip(band, 0.0005, 1.5, out=band)
            band[nodata] = 0.0
        return out


def build_landscape(
    rng: np.random.Generator,
    shape: tuple[int, int],
    spec: LandscapeSpec,
    pixel_size_m: float = 10.0,
    nodata: np.ndarray | None = None,
) -> Landscape:
    """Draw every layer of a landscape.

    Args:
        rng: random source (the only one; the result is a pure function of its state).
        shape: (height, width) in pixels.
        spec: the look to draw.
        pixel_size_m: ground size of a pixel in metres.
        nodata: optional (H, W) bool footprint mask; True pixels render as 0.

    Returns:
        The :class:`Landscape`.
    """
    h, w = shape
    terrain = make_terrain(rng, shape, pixel_size_m, spec.base_m, spec.relief_m, spec.ruggedness)
    big = max(shape)
    edge_noise = fractal_noise(rng, shape, beta=2.6, min_wavelength_px=2.0, max_wavelength_px=big / 4)
    texture_noise = fractal_noise(rng, shape, beta=2.2, min_wavelength_px=1.5, max_wavelength_px=big / 6)
    shore_noise = fractal_noise(rng, shape, beta=3.4, min_wavelength_px=3.0, max_wavelength_px=big / 3)

    # glaciers: noisy downhill paths from high ground, wide at the top, narrowing to the snout
    paths, widths, ends = [], [], []
    for _ in range(spec.glaciers):
        rows = rng.integers(0, h, 24)
        cols = rng.integers(0, w, 24)
        best = int(np.argmax(terrain.smooth_m[rows, cols]))
        length = int(rng.uniform(0.35, 0.9) * big)
        path = trace_downhill(rng, terrain, (rows[best], cols[best]), length, wander=0.12, inertia=0.85)
        # end the tongue inside the image, so that a lake can form at its snout
        edge_m = 0.15 * min(h, w)
        near_edge = (
            (path[:, 0] < edge_m) | (path[:, 0] > h - edge_m) | (path[:, 1] < edge_m) | (path[:, 1] > w - edge_m)
        )
        near_edge[: len(path) // 3] = False
        if near_edge.any():
            path = path[: int(np.argmax(near_edge))]
        if len(path) < 8:
            continue
        w0 = spec.glacier_width_px * rng.uniform(0.7, 1.3)
        paths.append(path)
        widths.append(np.linspace(w0, w0 * 0.45, len(path)))
        ends.append(path[-min(len(path), 6) :])
    terrain = carve_troughs(terrain, paths, widths, min(0.2 * spec.relief_m, 25.0 * spec.glacier_width_px))
    warp = (edge_noise, np.roll(edge_noise, (h // 2, w // 2), axis=(0, 1)))
    ragged = spec.glacier_width_px * 0.25
    glacier, along = rasterize_paths(shape, paths, widths, (warp[0] * ragged, warp[1] * ragged))
    if paths:  # the ragged edge leaves crumbs; a glacier is one body
        labels, n = ndimage.label(glacier > 0)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        glacier[sizes[labels] < max(30.0, 0.2 * spec.glacier_width_px**2)] = 0
    debris = (glacier > 0) & (along + 0.12 * edge_noise > 1.0 - spec.debris)

    # lakes
    lake_id = np.zeros(shape, dtype=np.int16)
    lakes: list[Lake] = []
    water = np.zeros((4, h, w), dtype=np.float32)
    ice_noise = texture_noise
    if any(plan.frozen_fraction > 0 for plan in spec.lakes):
        ice_noise = fractal_noise(rng, shape, beta=2.4, min_wavelength_px=2.0, max_wavelength_px=big / 6)
    snouts = list(ends)
    outlets = []
    for plan in spec.lakes:
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
            centre = np.array(valley_points(rng, terrain, 1, tries=8 if setting == "pond" else 24, margin=margin)[0], float)
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
        level = float(np.percentile(terrain.dem_m[bbox][free], 20))
        terrain.dem_m[bbox][free] = level
        lakes.append(lake)
    if lakes:
        terrain = refresh(terrain)
        glacier[lake_id > 0] = 0
        debris &= glacier > 0
    boxes = ndimage.find_objects(lake_id)
    for lake in lakes:
        bbox = boxes[lake.lake_id - 1]
        blob = lake_id[bbox] == lake.lake_id
        lake.area_px = int(blob.sum())
        paint_lake(rng, lake, blob, water, bbox, texture_noise, ice_noise, spec.kind_weights)

    # rivers: from lake outlets and glacier snouts, plus some from valley heads
    starts = [tuple(o) for o in outlets] + [tuple(e[-1]) for e in snouts]
    starts += [tuple(p) for p in valley_points(rng, terrain, max(0, spec.rivers - len(starts)), tries=4)]
    river_paths, river_widths = [], []
    for start in starts[: max(spec.rivers, len(outlets))]:
        r0 = float(np.clip(start[0], 0, h - 2))
        c0 = float(np.clip(start[1], 0, w - 2))
        strands = int(rng.integers(1, 4))
        width = float(rng.uniform(0.5, 1.8))
        for _ in range(strands):
            path = trace_downhill(rng, terrain, (r0, c0), int(1.5 * big), wander=0.35, inertia=0.8)
            river_paths.append(path)
            river_widths.append(np.full(len(path), width))
    river_idx, _ = rasterize_paths(shape, river_paths, river_widths, (warp[0] * 0.7, warp[1] * 0.7))
    river = (river_idx > 0) & (lake_id == 0) & (glacier == 0)

    shore = np.zeros(shape, dtype=np.uint8)
    for lake in lakes:
        shore_rings(rng, lake, boxes[lake.lake_id - 1], lake_id, shore, edge_noise, spec.plateau)
    shore[glacier > 0] = SHORE_NONE

    cos_i = incidence(terrain.dem_m, pixel_size_m, spec.sun_azimuth_deg, spec.sun_elevation_deg)
    shadow = cast_shadow(terrain.dem_m, pixel_size_m, spec.sun_azimuth_deg, spec.sun_elevation_deg)

    # snow: above a noisy snowline, lower on north-facing slopes, shed by cliffs
    d_row, d_col = np.gradient(terrain.dem_m, pixel_size_m)
    slope = np.hypot(d_row, d_col)
    northness = d_row / (slope + 1e-6)  # dz/d(row) > 0: ground rises southwards -> faces north
    snow_noise = fractal_noise(rng, shape, beta=3.2, min_wavelength_px=3.0, max_wavelength_px=big / 2)
    score = terrain.dem_m - spec.snowline_m + spec.snow_noise_m * snow_noise + 150.0 * northness * np.minimum(slope, 1.0)
    score -= 300.0 * np.clip(slope - 1.2, 0.0, None)
    if terrain.drainage is not None:  # snow lingers in gullies
        score += 0.5 * spec.snow_noise_m * terrain.drainage
    snow = np.clip(score / 40.0, 0.0, 1.0).astype(np.float32)
    snow[lake_id > 0] = 0.0
    snow[debris] *= 0.2

    # land cover: two soils mixed by geology-scale noise, vegetation on low wet ground
    soil_mix = 1.0 / (1.0 + np.exp(-2.5 * fractal_noise(rng, shape, beta=3.2, min_wavelength_px=3.0)))
    texture = (1.0 + (0.07 + 0.06 * spec.ruggedness) * texture_noise).astype(np.float32)
    low = terrain.valley / (np.abs(terrain.valley).max() + 1e-6)
    drainage = terrain.drainage if terrain.drainage is not None else np.zeros(shape, np.float32)
    veg_field = 1.6 * drainage * (0.6 + low) + 0.5 * low + 0.35 * edge_noise
    vegetation = np.clip((veg_field - (1.5 - 0.9 * spec.vegetation)) * 3.0, 0.0, 0.9) * spec.vegetation
    near_river = np.zeros(shape, dtype=bool)
    if river.any():
        near_river = ndimage.binary_dilation(river, iterations=int(rng.integers(1, 4)))
        near_river &= (edge_noise > -0.3) & ~river
    vegetation = np.maximum(vegetation, near_river * 0.85 * spec.vegetation).astype(np.float32)
    vegetation[(lake_id > 0) | (glacier > 0)] = 0.0

    if spec.cloud_coverage > 0 and spec.cloud_opacity > 0:
        clouds = make_clouds(
            rng,
            shape,
            spec.cloud_coverage,
            spec.cloud_opacity,
            spec.sun_azimuth_deg,
            spec.sun_elevation_deg,
            spec.cloud_height_px,
        )
    else:
        clouds = clear_sky(shape)
    return Landscape(
        spec=spec,
        terrain=terrain,
        cos_i=cos_i,
        shadow=shadow,
        snow=snow,
        glacier=glacier,
        debris=debris,
        river=river,
        lake_id=lake_id,
        lakes=lakes,
        water=water,
        shore=shore,
        soil_mix=soil_mix.astype(np.float32),
        texture=texture,
        vegetation_cover=vegetation,
        clouds=clouds,
        nodata=np.zeros(shape, dtype=bool) if nodata is None else nodata,
    )
