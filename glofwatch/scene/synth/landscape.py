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
from glofwatch.scene.synth.cover import (
    draw_rivers,
    draw_snow,
    draw_vegetation,
    soil_mix,
)
from glofwatch.scene.synth.glaciers import draw_glaciers
from glofwatch.scene.synth.lakes import (
    SHORE_DEBRIS,
    SHORE_NONE,
    SHORE_SALT,
    SHORE_VEGETATION,
    Lake,
    paint_lake,
    place_lakes,
    shore_rings,
    valley_points,
)
from glofwatch.scene.synth.noise import fractal_noise
from glofwatch.scene.synth.terrain import (
    Terrain,
    cast_shadow,
    incidence,
    make_terrain,
    refresh,
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
    """One random draw of a place's look (units in the names; fractions 0..1).

    ``haze`` scales the residual path radiance (:data:`materials.HAZE`); ``veil`` is
    the opacity of a uniform thin haze over everything (kept below the opaque limit,
    so it hides no lake).
    """

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
    veil: float = 0.0
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
        shore_codes = [(shore == code, colour) for code, colour in
                       ((SHORE_SALT, mat.SALT), (SHORE_VEGETATION, mat.VEGETATION), (SHORE_DEBRIS, mat.DEBRIS))]
        shore_sel = [(sel, colour, tex[sel]) for sel, colour in shore_codes if sel.any()]
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
            if s.veil > 0:  # uniform thin haze over the whole image: low contrast, greyish
                band += (mat.CLOUD[b] - band) * s.veil
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
    warp = (edge_noise, np.roll(edge_noise, (h // 2, w // 2), axis=(0, 1)))

    ice = draw_glaciers(rng, terrain, spec.glaciers, spec.glacier_width_px, spec.debris, spec.relief_m, warp)
    terrain, glacier, debris = ice.terrain, ice.glacier, ice.debris
    placed = place_lakes(rng, terrain, spec.lakes, ice.snouts, shore_noise)
    lake_id, lakes = placed.lake_id, placed.lakes
    if lakes:
        terrain = refresh(terrain)
        glacier[lake_id > 0] = 0
        debris &= glacier > 0
    water = np.zeros((4, h, w), dtype=np.float32)
    ice_noise = texture_noise
    if any(lake.frozen_fraction > 0 for lake in lakes):
        ice_noise = fractal_noise(rng, shape, beta=3.0, min_wavelength_px=3.0, max_wavelength_px=big / 4)
    boxes = ndimage.find_objects(lake_id)
    for lake in lakes:
        bbox = boxes[lake.lake_id - 1]
        blob = lake_id[bbox] == lake.lake_id
        lake.area_px = int(blob.sum())
        paint_lake(rng, lake, blob, water, bbox, texture_noise, ice_noise, spec.kind_weights)

    # rivers: from lake outlets and glacier snouts, plus some from valley heads
    starts = [tuple(o) for o in placed.outlets] + [tuple(e[-1]) for e in placed.unused_snouts]
    starts += [tuple(p) for p in valley_points(rng, terrain, max(0, spec.rivers - len(starts)), tries=4)]
    river = draw_rivers(rng, terrain, starts[: max(spec.rivers, len(placed.outlets))], warp)
    river &= (lake_id == 0) & (glacier == 0)

    shore = np.zeros(shape, dtype=np.uint8)
    for lake in lakes:
        shore_rings(rng, lake, boxes[lake.lake_id - 1], lake_id, shore, edge_noise, spec.plateau)
    shore[glacier > 0] = SHORE_NONE

    cos_i = incidence(terrain.dem_m, pixel_size_m, spec.sun_azimuth_deg, spec.sun_elevation_deg)
    shadow = cast_shadow(terrain.dem_m, pixel_size_m, spec.sun_azimuth_deg, spec.sun_elevation_deg)
    snow = draw_snow(rng, terrain, spec.snowline_m, spec.snow_noise_m)
    snow[lake_id > 0] = 0.0
    snow[debris] *= 0.2
    mix = soil_mix(rng, shape)
    texture = (1.0 + (0.07 + 0.06 * spec.ruggedness) * texture_noise).astype(np.float32)
    vegetation = draw_vegetation(rng, terrain, spec.vegetation, river, edge_noise)
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
        soil_mix=mix,
        texture=texture,
        vegetation_cover=vegetation,
        clouds=clouds,
        nodata=np.zeros(shape, dtype=bool) if nodata is None else nodata,
    )
