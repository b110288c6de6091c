"""Surface reflectance of the synthetic materials, in Sentinel-2 L2A bands.

Every spectrum is ``(B02, B03, B04, B08)`` surface reflectance (0..1).
Water colours were calibrated against lake pixels of real Himalayan crops
(Tibetan Plateau / Himalaya, EO Browser renderings): clear deep lakes that
render near black, deep blue lakes, glacial-flour lakes from royal blue to
turquoise and milky cyan, turbid grey-green and silty grey-brown ones.
Non-water look-alikes are deliberately close: bare glacier ice is as cyan as a
milky lake, terrain shadow on snow as blue as a glacial lake, shadowed rock as
dark as a clear deep lake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glofwatch.scene.render import BANDS  # noqa: F401  (band order of every reflectance array)

# Fraction of the downwelling light that is diffuse skylight, per band. Shadowed
# surfaces see only this part, which is why terrain shadow turns blue.
DIFFUSE_FRACTION = np.array([0.30, 0.22, 0.16, 0.10], dtype=np.float32)

# Atmospheric path radiance left after an imperfect correction (reflectance units).
HAZE = np.array([0.025, 0.015, 0.008, 0.003], dtype=np.float32)


def spectrum(b02: float, b03: float, b04: float, b08: float) -> np.ndarray:
    """A reflectance spectrum as a float32 array of shape (4,)."""
    return np.array([b02, b03, b04, b08], dtype=np.float32)


# --- land ---------------------------------------------------------------------------------
SOILS: dict[str, np.ndarray] = {
    "tan": spectrum(0.16, 0.19, 0.24, 0.30),  # plateau desert soil, alluvial fans
    "pale": spectrum(0.22, 0.25, 0.28, 0.33),  # pale sediment, limestone
    "red_brown": spectrum(0.07, 0.08, 0.12, 0.19),  # oxidised scree and bedrock
    "grey": spectrum(0.11, 0.12, 0.13, 0.16),  # granite, gneiss
    "dark": spectrum(0.05, 0.055, 0.06, 0.08),  # dark schist, basalt, wet rock
}
VEGETATION = spectrum(0.035, 0.065, 0.045, 0.32)  # alpine meadow, wetland (red in false colour)
SNOW = spectrum(0.90, 0.88, 0.85, 0.74)
OLD_SNOW = spectrum(0.68, 0.66, 0.62, 0.48)
GLACIER_ICE = spectrum(0.50, 0.48, 0.42, 0.25)  # bare ice: cyan-white, lake-like
DEBRIS = spectrum(0.09, 0.10, 0.12, 0.15)  # debris cover on glacier tongues
SALT = spectrum(0.42, 0.45, 0.46, 0.46)  # salt crust / dry shore of plateau lakes
CLOUD = spectrum(0.62, 0.62, 0.61, 0.60)
LAKE_ICE = spectrum(0.42, 0.44, 0.40, 0.24)  # thin lake ice, blue-white
LAKE_SNOW = spectrum(0.72, 0.72, 0.70, 0.55)  # snow lying on lake ice
RIVER = spectrum(0.13, 0.15, 0.12, 0.05)  # glacial melt river: grey-turquoise


@dataclass(frozen=True)
class WaterKind:
    """One family of lake colours.

    Attributes:
        name: short label written to the lake list (``kind``).
        weight: relative frequency among lakes.
        deep: (2, 4) spectra; a lake's open-water colour is drawn between the two rows.
        shallow: spectrum of the shallow rim / lake bottom seen through the water.
    """

    name: str
    weight: float
    deep: np.ndarray
    shallow: np.ndarray


WATER_KINDS: tuple[WaterKind, ...] = (
    WaterKind(
        "clear",
        0.28,
        np.stack([spectrum(0.040, 0.028, 0.012, 0.006), spectrum(0.070, 0.060, 0.022, 0.010)]),
        spectrum(0.09, 0.10, 0.07, 0.04),
    ),
    WaterKind(
        "blue",
        0.2,
        np.stack([spectrum(0.085, 0.075, 0.022, 0.009), spectrum(0.16, 0.16, 0.060, 0.015)]),
        spectrum(0.18, 0.20, 0.12, 0.05),
    ),
    WaterKind(
        "glacial",
        0.22,
        np.stack([spectrum(0.20, 0.22, 0.090, 0.016), spectrum(0.29, 0.32, 0.19, 0.045)]),
        spectrum(0.30, 0.33, 0.24, 0.09),
    ),
    WaterKind(
        "milky",
        0.12,
        np.stack([spectrum(0.28, 0.30, 0.21, 0.08), spectrum(0.36, 0.38, 0.30, 0.15)]),
        spectrum(0.38, 0.40, 0.33, 0.18),
    ),
    WaterKind(
        "turbid",
        0.12,
        np.stack([spectrum(0.11, 0.13, 0.10, 0.035), spectrum(0.15, 0.17, 0.15, 0.06)]),
        spectrum(0.16, 0.18, 0.17, 0.09),
    ),
    WaterKind(
        "silty",
        0.06,
        np.stack([spectrum(0.045, 0.048, 0.050, 0.040), spectrum(0.070, 0.075, 0.085, 0.075)]),
        spectrum(0.08, 0.09, 0.10, 0.10),
    ),
)
"""Lake colour families and their relative frequencies."""

WATER_KIND_NAMES: tuple[str, ...] = tuple(k.name for k in WATER_KINDS)


def water_kind(name: str) -> WaterKind:
    """The :class:`WaterKind` called ``name`` (a ``KeyError`` lists the known names)."""
    for kind in WATER_KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"unknown water kind {name!r}; known: {', '.join(WATER_KIND_NAMES)}")


def draw_water_kind(rng: np.random.Generator, weights: dict[str, float] | None = None) -> WaterKind:
    """Draw a lake colour family by weight (``weights`` overrides the defaults by name)."""
    w = np.array([(weights or {}).get(k.name, k.weight) for k in WATER_KINDS], dtype=float)
    w = w / w.sum()
    return WATER_KINDS[int(rng.choice(len(WATER_KINDS), p=w))]


def draw_water_colour(rng: np.random.Generator, kind: WaterKind) -> np.ndarray:
    """One lake's open-water spectrum: a random point between the kind's two end members."""
    t = float(rng.uniform(0.0, 1.0))
    colour = kind.deep[0] * (1.0 - t) + kind.deep[1] * t
    return (colour * float(rng.uniform(0.88, 1.12))).astype(np.float32)
