"""Stand-in models for mapping tests: per-pixel rules with the Predictor interface, so numbers are exact."""

from __future__ import annotations

import torch

from glofwatch.data.normalize import InputSpec


class RedBelowTen:
    """Per-pixel stand-in model on reflectance: lake where red reflectance (DN + offset) / 10000 < 0.1 (DN 1000)."""

    spec = InputSpec(bands=("B04", "B03", "B02"), source="reflectance", scaling="fixed", fixed_max=10000.0,
                     mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    stride = 1
    threshold = 0.5

    def predict_batch(self, x: torch.Tensor, valid: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(200.0 * (0.1 - x[:, 0] / 10000.0)) * valid
