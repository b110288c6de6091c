"""The index baseline: NDWI with an Otsu or a fixed threshold, with the interface of a Predictor.

NDWI (McFeeters 1996, "The use of the Normalized Difference Water Index (NDWI)
in the delineation of open water features", Int. J. Remote Sens. 17:1425) is
``(green - NIR) / (green + NIR)``, for Sentinel-2 ``(B03 - B08) / (B03 + B08)``:
water reflects green and absorbs near-infrared, so it scores above 0.

Thresholds:

- ``otsu``: Otsu's threshold (``skimage.filters.threshold_otsu``, 256 bins) on the
  NDWI of the valid pixels of each image, or of a whole scene with
  :meth:`NDWIPredictor.for_scene` (one threshold for every tile, no seams);
- a fixed value: 0.0 is McFeeters' own water cut-off; regional glacial-lake
  mappings use higher fixed cut-offs to reject shadow, wet snow and debris (e.g.
  0.21 for Sentinel-2 at Gangotri, Verma & Ghosh), so 0.1 and 0.3 bracket them
  (:data:`FIXED_THRESHOLDS`).

Inputs need a green and a near-infrared band: L2A reflectance or DN of B03 and
B08 (scenes, 4-band GeoTIFF crops) or 8-bit false-colour crops (B08 B04 B03 as
R G B, like the synthetic and the real Himalayan crops: one gain for every band,
so the ratio survives the rendering up to clipping). True-colour crops have no
NIR band and are refused.

"Probabilities" are not probabilities: ``clip((NDWI - t + 1) / 2, 0, 1)`` with
``t`` the image's threshold, so that ``probability > 0.5`` is exactly
``NDWI > t`` and every metric of :mod:`glofwatch.infer.meter` applies unchanged.

Example:
    >>> p = NDWIPredictor(("B03", "B08"), threshold=0.0)
    >>> x = torch.tensor([[[[0.3, 0.1]], [[0.1, 0.3]]]])   # (1, 2, 1, 2): water, land
    >>> p.predict_batch(x)[0].tolist()
    [[0.75, 0.25]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from glofwatch.data.normalize import InputSpec
from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.predict import MaskResult

GREEN, NIR = "B03", "B08"
FIXED_THRESHOLDS = (0.0, 0.1, 0.3)
OTSU_BINS = 256
METHODS_HELP = "otsu, or a fixed NDWI threshold in [-1, 1) such as 0.0, 0.1 or 0.3"


def ndwi(green: Any, nir: Any) -> Any:
    """``(green - nir) / (green + nir)``; 0 where both are 0 (tensors or arrays, float)."""
    if isinstance(green, torch.Tensor):
        s = green + nir
        return torch.where(s > 0, (green - nir) / s.clamp_min(1e-12), torch.zeros_like(s))
    green, nir = np.asarray(green, np.float64), np.asarray(nir, np.float64)
    s = green + nir
    return np.where(s > 0, (green - nir) / np.where(s > 0, s, 1.0), 0.0)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of ``values`` (1-D, finite) with 256 bins; the value itself when all are equal."""
    from skimage.filters import threshold_otsu

    values = np.asarray(values, np.float64).ravel()
    if values.size == 0:
        return 0.0
    if values.min() == values.max():
        return float(values[0])
    return float(threshold_otsu(values, nbins=OTSU_BINS))


def parse_threshold(text: str | float) -> str | float:
    """``"otsu"`` or a float in [-1, 1) from a command-line value."""
    if isinstance(text, str) and text.strip().lower() == "otsu":
        return "otsu"
    try:
        t = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"NDWI threshold '{text}' is not valid; use {METHODS_HELP}") from None
    if not -1.0 <= t < 1.0:
        raise ConfigError(f"NDWI threshold {t} is outside [-1, 1); use {METHODS_HELP}")
    return t


class NDWIPredictor:
    """NDWI lake masks with the interface of :class:`~glofwatch.infer.predict.Predictor`.

    Args:
        bands: band names of the input channels in order (must include B03 and B08), e.g.
            ``("B08", "B04", "B03")`` for false-colour crops, ``("B02", "B03", "B04", "B08")`` for a scene.
        threshold: ``"otsu"`` or a fixed NDWI threshold.
        source: ``"rgb8"`` (8-bit renderings) or ``"reflectance"`` (L2A DN); tells the scene mapper
            what to feed (NDWI itself is unit-free).

    Attributes:
        spec: an :class:`InputSpec` naming the bands (``glofwatch map`` reads them from the scene).
        threshold: 0.5, the probability cut that equals ``NDWI > t``.
        stride: 1 (any image size).
        bundle: None (no network).
        backend: ``"ndwi"``.
    """

    backend = "ndwi"
    stride = 1
    bundle = None
    temperature = None
    tta = False

    def __init__(self, bands: tuple[str, ...] | list[str], threshold: str | float = "otsu",
                 source: str = "rgb8") -> None:
        bands = tuple(bands)
        missing = [b for b in (GREEN, NIR) if b not in bands]
        if missing:
            raise InputError(f"NDWI needs the green ({GREEN}) and near-infrared ({NIR}) bands, but the input has "
                             f"{' '.join(bands)} (no {' '.join(missing)}); true-colour crops cannot be used, give "
                             "false-colour (B08 B04 B03) or multispectral imagery")
        n = len(bands)
        self.spec = InputSpec(bands=bands, source=source, scaling="fixed", fixed_max=1.0,
                              mean=(0.0,) * n, std=(1.0,) * n)
        self.ndwi_threshold = parse_threshold(threshold)
        self.threshold = 0.5
        self._g, self._n = bands.index(GREEN), bands.index(NIR)

    @property
    def name(self) -> str:
        """``ndwi-otsu`` or ``ndwi-<t>``."""
        t = self.ndwi_threshold
        return "ndwi-otsu" if t == "otsu" else f"ndwi-{t:g}"

    def info(self) -> dict[str, Any]:
        """Model name, loss, preset and study row (for metrics files and tables)."""
        return {"model": self.name, "loss": "none (index)", "preset": self.name, "study_row": None}

    def for_scene(self, image: Any, valid: Any | None = None) -> NDWIPredictor:
        """A copy with one fixed threshold: Otsu on the NDWI of ``image`` (C, H, W or H, W, C as ``spec.bands``).

        Mapping a scene tile by tile should call this once on an overview of the scene, so every
        tile shares the scene's threshold (a fixed-threshold predictor is returned as it is).
        """
        if self.ndwi_threshold != "otsu":
            return self
        x = np.asarray(image, np.float64)
        if x.shape[0] != self.spec.in_channels and x.shape[-1] == self.spec.in_channels:
            x = np.moveaxis(x, -1, 0)
        v = np.ones(x.shape[1:], bool) if valid is None else np.asarray(valid, bool)
        return replace_threshold(self, otsu_threshold(ndwi(x[self._g], x[self._n])[v]))

    def _image_thresholds(self, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.ndwi_threshold != "otsu":
            return torch.full((index.shape[0],), float(self.ndwi_threshold), dtype=index.dtype)
        ts = [otsu_threshold(index[i][valid[i]].cpu().numpy()) for i in range(index.shape[0])]
        return torch.tensor(ts, dtype=index.dtype)

    @torch.inference_mode()
    def predict_batch(self, x: torch.Tensor, valid: torch.Tensor | None = None, stats: Any = None) -> torch.Tensor:
        """Probability-like maps (N, H, W) in [0, 1] for raw images (N, C, H, W); 0 on nodata (``stats`` ignored)."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x))
        n, c, h, w = x.shape
        if c != self.spec.in_channels:
            raise InputError(f"image has {c} bands but NDWI was set up for {self.spec.in_channels} "
                             f"({' '.join(self.spec.bands)})")
        x = torch.nan_to_num(x.double())
        if valid is None:
            valid = (x != 0).any(dim=1)
        valid = torch.as_tensor(valid).bool().cpu()
        index = ndwi(x[:, self._g].clamp_min(0), x[:, self._n].clamp_min(0))
        t = self._image_thresholds(index, valid).view(-1, 1, 1)
        prob = ((index - t + 1.0) / 2.0).clamp(0.0, 1.0) * valid
        return prob.float()

    def predict_image(self, image: np.ndarray, valid: np.ndarray | None = None) -> MaskResult:
        """One raw image (H, W, C) -> :class:`MaskResult` (mask = NDWI above the image's threshold)."""
        if image.ndim != 3:
            raise InputError(f"expected an image (H, W, C), got shape {image.shape}")
        if valid is None:
            valid = ~(np.all(image == 0, axis=-1) | np.any(np.isnan(image), axis=-1))
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0))).double()[None]
        prob = self.predict_batch(x, torch.from_numpy(np.asarray(valid, bool))[None])[0].numpy()
        return MaskResult(prob, (prob > self.threshold).astype(np.uint8), np.asarray(valid, bool))


def replace_threshold(p: NDWIPredictor, t: float) -> NDWIPredictor:
    """A copy of ``p`` with the fixed NDWI threshold ``t``."""
    return NDWIPredictor(p.spec.bands, threshold=float(min(max(t, -1.0), 0.999999)), source=p.spec.source)


def dataset_bands(root: str | Path, n_channels: int, bands: str | None = None) -> tuple[str, ...]:
    """The band order of a data set's crops: given, from its declared rendering (``rendering.txt``,
    ``synth.json``), or S2 order for 4-band crops.

    Raises:
        ConfigError: the band order is unknown (pass ``--bands``).
    """
    if bands:
        names = tuple(b.strip() for b in bands.split(",") if b.strip())
        if len(names) != n_channels:
            raise ConfigError(f"--bands names {len(names)} bands but the crops have {n_channels}; name one per channel")
        return names
    from glofwatch.data.renderings import dataset_rendering
    from glofwatch.scene.render import MIXED, RENDERINGS, UNKNOWN

    rendering, source = dataset_rendering(root)
    if rendering == MIXED:
        raise ConfigError(f"{root}: the crops mix renderings ({source}), so they have no one band order; "
                          "score NDWI on a single-rendering set (near-infrared false colour)")
    if rendering != UNKNOWN:
        return tuple(RENDERINGS.get(rendering).bands)
    if n_channels == 4:
        return ("B02", "B03", "B04", "B08")
    raise ConfigError(f"{root}: the crops' band order is unknown; pass --bands, e.g. --bands B08,B04,B03 for "
                      "near-infrared false colour")
