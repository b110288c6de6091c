"""Helpers of the mapping tests: a per-pixel stand-in model (the Predictor interface) and a GeoTIFF writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine

from glofwatch.data.normalize import InputSpec

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)  # on the central meridian of UTM 45N: scale 0.9996


def write_geotiff(path: Path, data: np.ndarray, transform: Affine = TRANSFORM, crs: str | None = UTM,
                  nodata: float | None = None, bands: tuple[str, ...] = (), tags: dict | None = None) -> Path:
    """A (C, H, W) or (H, W) array as a GeoTIFF with band descriptions and tags (no CRS when ``crs`` is None)."""
    data = data[None] if data.ndim == 2 else data
    prof = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                dtype=data.dtype.name, transform=transform, nodata=nodata)
    if crs:
        prof["crs"] = crs
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(data)
        for i, b in enumerate(bands):
            ds.set_band_description(i + 1, b)
        if tags:
            ds.update_tags(**tags)
    return path


class RedBelowTen:
    """Per-pixel stand-in model on reflectance: lake where red reflectance (DN + offset) / 10000 < 0.1 (DN 1000)."""

    spec = InputSpec(bands=("B04", "B03", "B02"), source="reflectance", scaling="fixed", fixed_max=10000.0,
                     mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    stride = 1
    threshold = 0.5

    def predict_batch(self, x: torch.Tensor, valid: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(200.0 * (0.1 - x[:, 0] / 10000.0)) * valid
