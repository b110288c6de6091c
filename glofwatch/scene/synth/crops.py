"""Synthetic training crops: Sentinel-2-like 8-bit images with exact lake masks.

:func:`synth_crop` draws one crop: a random place (alpine valley with glaciers,
snow and moraine-dammed lakes, or high plateau with basins, salt crusts and
wetlands), lakes of random number (none in about a fifth of crops), size,
shape, colour and ice cover, rivers, clouds, and sometimes a black no-data
wedge from the scene edge. :func:`write_synthetic_dataset` writes many crops
in the study layout.

Mask rule: the mask is 1 exactly where lake water or lake ice is drawn and
visible. Lake pixels under opaque cloud (opacity >= ``clouds.OPAQUE_ALPHA``)
or in the no-data wedge are 0; lakes under thin cloud or in cloud or terrain
shadow stay 1. Rivers are never lakes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from glofwatch.errors import ConfigError
from glofwatch.scene.render import CROP_GAIN_RANGE, RENDERINGS, to_rgb
from glofwatch.scene.synth.landscape import (
    LakePlan,
    Landscape,
    LandscapeSpec,
    build_landscape,
)
from glofwatch.scene.synth.materials import WATER_KIND_NAMES


@dataclass(frozen=True)
class CropParams:
    """Distribution of synthetic crops (probabilities and fractions are 0..1).

    Attributes:
        lake_free_probability: share of crops drawn with no lake (study: 254 of 1000).
        max_lake_fraction: largest share of the crop the main lake may cover.
        min_lake_fraction: smallest share for the main lake.
        main_lake_probability: chance that a lake-bearing crop has a main lake (else only ponds).
        ponds_mean: mean number of small extra lakes (a few pixels to 2 % of the crop).
        min_lake_area_px: smallest pond in pixels.
        plateau_probability: share of plateau crops (the rest are alpine valleys).
        glacier_probability: chance an alpine crop has glaciers.
        moraine_lake_probability: chance the main lake of a glaciated crop sits at a snout.
        frozen_probability: chance a lake is partly frozen.
        max_frozen_fraction: largest ice-covered share of a lake.
        cloud_probability: chance of any cloud.
        thick_cloud_probability: chance that cloud, when present, is thick (opaque cores).
        snow_probability: chance that snow reaches below the highest ground.
        veil_probability: chance of a uniform thin haze over the crop (washed-out look).
        nodata_probability: chance of a black no-data wedge.
        max_nodata_fraction: largest share of the crop in the wedge.
        kind_weights: relative frequency of water colour families (see ``materials``).
        rendering: ``false-colour`` (B08 B04 B03, like the real Himalayan crops) or ``true-colour``;
            with :attr:`renderings`, the one a model trained on the crops renders scenes in.
        renderings: when not empty, each crop is drawn in one of these, uniformly at random
            (``data synth --rendering mixed``: both); the draw comes after everything else,
            so crop ``i`` shows the same landscape as with a single rendering.
        gain_range: (low, high) gain applied before clipping (EO Browser uses 2.5).
        zoom_probability: chance the crop is rendered coarser and enlarged (nearest
            neighbour, blocky like a map zoomed past native resolution).
        max_zoom: largest enlargement factor (>= 1).
        blur_sigma_px: (low, high) Gaussian blur of the rendered bands (sensor
            point-spread), drawn per crop; the mask keeps the sharp lake layer.
    """

    lake_free_probability: float = 0.2
    max_lake_fraction: float = 0.40
    min_lake_fraction: float = 0.02
    main_lake_probability: float = 0.85
    ponds_mean: float = 1.0
    min_lake_area_px: int = 3
    plateau_probability: float = 0.5
    glacier_probability: float = 0.6
    moraine_lake_probability: float = 0.6
    frozen_probability: float = 0.1
    max_frozen_fraction: float = 0.6
    cloud_probability: float = 0.25
    thick_cloud_probability: float = 0.4
    snow_probability: float = 0.8
    veil_probability: float = 0.15
    nodata_probability: float = 0.22
    max_nodata_fraction: float = 0.35
    kind_weights: dict[str, float] = field(default_factory=dict)
    rendering: str = "false-colour"
    renderings: tuple[str, ...] = ()
    gain_range: tuple[float, float] = CROP_GAIN_RANGE
    zoom_probability: float = 0.3
    max_zoom: float = 2.5
    blur_sigma_px: tuple[float, float] = (0.0, 0.9)

    def check(self) -> None:
        """Raise :class:`ConfigError` for values outside their range."""
        for name in (
            "lake_free_probability", "max_lake_fraction", "min_lake_fraction", "main_lake_probability",
            "plateau_probability", "glacier_probability", "moraine_lake_probability", "frozen_probability",
            "max_frozen_fraction", "cloud_probability", "thick_cloud_probability", "snow_probability",
            "veil_probability", "nodata_probability", "max_nodata_fraction", "zoom_probability",
        ):  # fmt: skip
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"synthetic crops: {name}={value} is outside 0..1; pick a value in 0..1")
        if self.min_lake_fraction > self.max_lake_fraction:
            raise ConfigError(
                f"synthetic crops: min_lake_fraction={self.min_lake_fraction} > max_lake_fraction="
                f"{self.max_lake_fraction}; make min <= max"
            )
        unknown = sorted(set(self.kind_weights) - set(WATER_KIND_NAMES))
        if unknown:
            raise ConfigError(
                f"synthetic crops: unknown water kind(s) {', '.join(unknown)} in kind_weights; "
                f"known: {', '.join(WATER_KIND_NAMES)}"
            )
        RENDERINGS.get(self.rendering)
        for name in self.renderings:
            RENDERINGS.get(name)
        if self.max_zoom < 1.0:
            raise ConfigError(f"synthetic crops: max_zoom={self.max_zoom} is below 1; use 1 (no zoom) or more")
        if not 0 <= self.blur_sigma_px[0] <= self.blur_sigma_px[1]:
            raise ConfigError(
                f"synthetic crops: blur_sigma_px={self.blur_sigma_px} must be (low, high), 0 <= low <= high"
            )
        if not 0 < self.gain_range[0] <= self.gain_range[1]:
            raise ConfigError(f"synthetic crops: gain_range={self.gain_range} must be (low, high) with 0 < low <= high")


@dataclass(frozen=True)
class CropLake:
    """One lake of a crop: ``area_px`` counts its pixels in the mask (visible)."""

    lake_id: int
    kind: str
    setting: str
    area_px: int
    frozen_fraction: float


@dataclass
class SynthCrop:
    """One synthetic crop.

    Attributes:
        image: (H, W, 3) uint8 RGB rendering of :attr:`reflectance`.
        mask: (H, W) uint8, 1 = visible lake (see the module's mask rule), else 0.
        lakes: the lakes visible in the mask.
        reflectance: (4, H, W) float32 B02 B03 B04 B08 surface reflectance (0 = nodata).
        landscape: every layer the crop was drawn from (``lake_id``, ``clouds``, ...), at
            the render resolution; :meth:`enlarge` brings a layer to the crop's size.
        rendering: the rendering used for :attr:`image`.
        gain: the gain used for :attr:`image`.
        zoom: enlargement from the render grid to the crop (1.0: none).
    """

    image: np.ndarray
    mask: np.ndarray
    lakes: list[CropLake]
    reflectance: np.ndarray
    landscape: Landscape
    rendering: str
    gain: float
    zoom: float = 1.0

    def enlarge(self, layer: np.ndarray) -> np.ndarray:
        """A landscape layer (..., h, w) at the crop's size (nearest neighbour)."""
        size = self.mask.shape[0]
        return _enlarge(layer, size)


def _blur_valid(refl: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (4, H, W) reflectance that neither spreads nodata zeros nor fills nodata."""
    import cv2

    weight = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), sigma)
    np.maximum(weight, 1e-6, out=weight)
    out = np.empty_like(refl)
    for b in range(refl.shape[0]):
        out[b] = cv2.GaussianBlur(refl[b], (0, 0), sigma) / weight  # nodata bands are 0 already
    out[:, ~valid] = 0.0
    return out


def _enlarge(layer: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the last two axes to (size, size)."""
    h, w = layer.shape[-2:]
    if (h, w) == (size, size):
        return layer
    rows = (np.arange(size) * h) // size
    cols = (np.arange(size) * w) // size
    return layer[..., rows[:, None], cols[None, :]]


def draw_crop_spec(rng: np.random.Generator, size: int, params: CropParams) -> LandscapeSpec:
    """Draw the look of one crop of ``size`` x ``size`` pixels from ``params``."""
    plateau_style = rng.random() < params.plateau_probability
    if plateau_style:
        plateau = float(rng.uniform(0.7, 1.0))
        relief = float(rng.uniform(40.0, 350.0))
        rugged = float(rng.uniform(0.0, 0.35))
        soils = (str(rng.choice(["tan", "pale", "tan"])), str(rng.choice(["tan", "red_brown", "pale", "dark", "grey"])))
        glaciers = 0
        snow_q = rng.uniform(0.85, 1.3) if rng.random() < params.snow_probability else 2.0
        vegetation = float(rng.uniform(0.0, 0.9))
    else:
        plateau = float(rng.uniform(0.0, 0.3))
        relief = float(rng.uniform(250.0, 900.0))
        rugged = float(rng.uniform(0.45, 1.0))
        names = ["red_brown", "grey", "dark", "tan", "red_brown"]
        soils = (str(rng.choice(names)), str(rng.choice(names)))
        glaciers = int(rng.integers(1, 4)) if rng.random() < params.glacier_probability else 0
        snow_q = rng.uniform(0.35, 1.1) if rng.random() < params.snow_probability else 2.0
        vegetation = float(rng.uniform(0.0, 0.45))
    base = float(rng.uniform(4000.0, 5000.0))
    area = size * size
    lakes: list[LakePlan] = []
    if rng.random() >= params.lake_free_probability:
        if rng.random() < params.main_lake_probability:
            lo, hi = math.log(params.min_lake_fraction), math.log(params.max_lake_fraction)
            frac = math.exp(rng.uniform(lo, hi))
            setting = "basin" if plateau_style else "valley"
            if glaciers and rng.random() < params.moraine_lake_probability:
                setting = "moraine"
            aspect = {"moraine": (1.5, 5.0), "valley": (1.2, 4.5), "basin": (1.0, 2.8)}[setting]
            lakes.append(
                LakePlan(
                    setting=setting,
                    area_px=frac * area,
                    aspect=float(rng.uniform(*aspect)),
                    roughness=float(rng.uniform(0.12, 0.5)),
                    terrain_weight=float(rng.uniform(0.2, 1.0) if plateau_style else rng.uniform(0.1, 0.6)),
                )
            )
        ponds = int(rng.poisson(params.ponds_mean)) + (0 if lakes else 1)
        for _ in range(ponds):
            lo, hi = math.log(params.min_lake_area_px), math.log(max(params.min_lake_area_px + 1, 0.02 * area))
            lakes.append(
                LakePlan(
                    setting="pond",
                    area_px=math.exp(rng.uniform(lo, hi)),
                    aspect=float(rng.uniform(1.0, 2.5)),
                    roughness=float(rng.uniform(0.1, 0.4)),
                    terrain_weight=float(rng.uniform(0.0, 0.6)),
                )
            )
        for plan in lakes:
            if rng.random() < params.frozen_probability:
                plan.frozen_fraction = float(rng.uniform(0.05, params.max_frozen_fraction))
    coverage, opacity = 0.0, 0.0
    if rng.random() < params.cloud_probability:
        if rng.random() < params.thick_cloud_probability:
            coverage, opacity = float(rng.uniform(0.05, 0.4)), float(rng.uniform(0.7, 1.0))
        else:
            coverage, opacity = float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.08, 0.38))
    return LandscapeSpec(
        plateau=plateau,
        base_m=base,
        relief_m=relief,
        ruggedness=rugged,
        snowline_m=base + relief * float(snow_q),
        snow_noise_m=relief * float(rng.uniform(0.05, 0.2)),
        sun_azimuth_deg=float(rng.uniform(120.0, 170.0)),
        sun_elevation_deg=float(rng.uniform(40.0, 70.0)),
        soils=soils,  # type: ignore[arg-type]
        vegetation=vegetation,
        glaciers=glaciers,
        glacier_width_px=float(rng.uniform(0.03, 0.09) * size),
        debris=float(rng.uniform(0.2, 0.8)),
        rivers=int(rng.integers(0, 3)),
        lakes=lakes,
        cloud_coverage=coverage,
        cloud_opacity=opacity,
        cloud_height_px=float(rng.uniform(10.0, 60.0)),
        haze=float(rng.uniform(0.1, 1.2)),
        veil=float(rng.uniform(0.08, 0.35)) if rng.random() < params.veil_probability else 0.0,
        kind_weights=params.kind_weights or None,
    )


def wedge_mask(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> np.ndarray:
    """A straight-edged no-data wedge cutting ``fraction`` of the image from one side.

    Returns:
        (H, W) bool, True in the wedge.
    """
    h, w = shape
    side = float(rng.integers(0, 4)) * math.pi / 2 + rng.uniform(-0.5, 0.5)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = cols * math.cos(side) + rows * math.sin(side)
    thr = np.quantile(proj[::4, ::4], 1.0 - fraction)
    return proj > thr


def synth_crop(rng: np.random.Generator, size: int = 320, params: CropParams | None = None) -> SynthCrop:
    """Draw one synthetic crop.

    Args:
        rng: random source, e.g. ``np.random.default_rng([seed, i])``; the crop is a
            pure function of its state.
        size: height and width in pixels (10 m pixels).
        params: the crop distribution (default :class:`CropParams`).

    Returns:
        The :class:`SynthCrop`; ``mask`` follows the module's mask rule.

    Example:
        >>> crop = synth_crop(np.random.default_rng([0, 1]), size=64)
        >>> crop.image.shape, crop.mask.dtype.name
        ((64, 64, 3), 'uint8')
    """
    params = params or CropParams()
    params.check()
    if size < 16:
        raise ConfigError(f"synthetic crop size {size} is too small; use at least 16 pixels")
    zoom = 1.0
    if rng.random() < params.zoom_probability:
        zoom = float(rng.uniform(1.2, params.max_zoom))
    render = max(16, int(round(size / zoom)))
    spec = draw_crop_spec(rng, render, params)
    nodata = None
    if rng.random() < params.nodata_probability:
        nodata = wedge_mask(rng, (render, render), float(rng.uniform(0.02, params.max_nodata_fraction)))
    land = build_landscape(rng, (render, render), spec, pixel_size_m=10.0, nodata=nodata)
    refl = land.reflectance()
    sigma = float(rng.uniform(*params.blur_sigma_px))
    if sigma > 0.05:
        refl = _blur_valid(refl, ~land.nodata, sigma)
    refl = _enlarge(refl, size)
    gain = float(rng.uniform(*params.gain_range))
    rendering = params.rendering
    if params.renderings:
        rendering = params.renderings[int(rng.integers(len(params.renderings)))]
    image = to_rgb(refl, rendering, gain)
    mask = _enlarge(land.lake_mask(), size)
    visible = np.bincount(_enlarge(land.lake_id, size)[mask.astype(bool)].ravel(), minlength=len(land.lakes) + 1)
    lakes = [
        CropLake(lake.lake_id, lake.kind, lake.setting, int(visible[lake.lake_id]), round(lake.frozen_fraction, 3))
        for lake in land.lakes
        if visible[lake.lake_id] > 0
    ]
    return SynthCrop(
        image=image,
        mask=np.ascontiguousarray(mask),
        lakes=lakes,
        reflectance=np.ascontiguousarray(refl),
        landscape=land,
        rendering=rendering,
        gain=gain,
        zoom=size / render,
    )


def params_dict(params: CropParams) -> dict:
    """``params`` as a JSON-ready dict."""
    d = asdict(params)
    d["gain_range"] = list(params.gain_range)
    d["blur_sigma_px"] = list(params.blur_sigma_px)
    d["renderings"] = list(params.renderings)
    return d


def mixed_params(params: CropParams | None = None) -> CropParams:
    """``params`` with each crop drawn in true or false colour at random (scenes: false colour)."""
    from dataclasses import replace

    return replace(params or CropParams(), rendering="false-colour", renderings=("true-colour", "false-colour"))


__all__ = [
    "CropLake", "CropParams", "SynthCrop", "draw_crop_spec", "mixed_params", "params_dict", "synth_crop", "wedge_mask",
]
