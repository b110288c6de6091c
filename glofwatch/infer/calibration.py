"""Calibrated lake probabilities: temperature scaling and the expected calibration error.

Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks", ICML) divides every logit by one number ``T > 0`` fitted on
validation pixels by minimising the binary cross-entropy of
``sigmoid(logit / T)``. It changes no decision at a matching threshold
(``sigmoid(z / T) > t`` is ``z > T logit(t)``), only how much a probability
means: after it, pixels given 0.8 are lake about 80 % of the time.

Expected calibration error (ECE): the pixels are binned by probability
(15 equal bins), and ECE is the pixel-weighted mean over bins of
``|share of lake pixels - mean probability|`` (torchmetrics
``BinaryCalibrationError``, L1 norm).

Example:
    >>> z = torch.tensor([2.0, 2.0, -2.0, -2.0]); y = torch.tensor([1, 0, 0, 1])
    >>> round(fit_temperature(z, y), 1) > 10  # coin-flip labels: flatten the logits
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from glofwatch.errors import InputError

ECE_BINS = 15
MAX_FIT_PIXELS = 2_000_000
T_MIN, T_MAX = 0.05, 100.0


def _flat(x: Any, dtype: torch.dtype) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return t.detach().reshape(-1).to("cpu", dtype)


def fit_temperature(logits: Any, targets: Any, max_iter: int = 200) -> float:
    """The temperature ``T`` minimising the binary cross-entropy of ``sigmoid(logits / T)``.

    Args:
        logits: lake logits of validation pixels (any shape), tensor or array.
        targets: their truth (0/1, same number of elements).
        max_iter: L-BFGS iterations (on ``log T``).

    Returns:
        ``T`` clipped to [0.05, 100] (1.0 if the fit diverges).

    Raises:
        InputError: sizes differ or no pixel is given.
    """
    z = _flat(logits, torch.float64)
    y = _flat(targets, torch.float64)
    if z.numel() != y.numel() or z.numel() == 0:
        raise InputError(f"temperature scaling needs one truth value per logit; got {z.numel()} logits "
                         f"and {y.numel()} targets")
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    return float(min(max(t, T_MIN), T_MAX)) if math.isfinite(t) else 1.0


def expected_calibration_error(probs: Any, targets: Any, n_bins: int = ECE_BINS) -> float:
    """ECE of lake probabilities (see the module docstring), in [0, 1]."""
    from torchmetrics.functional.classification import binary_calibration_error

    p = _flat(probs, torch.float32).clamp(0.0, 1.0)
    y = _flat(targets, torch.int64)
    if p.numel() != y.numel() or p.numel() == 0:
        raise InputError(f"calibration error needs one truth value per probability; got {p.numel()} and {y.numel()}")
    return float(binary_calibration_error(p, y, n_bins=n_bins, norm="l1"))


def subsample(n: int, limit: int = MAX_FIT_PIXELS, seed: int = 0) -> np.ndarray | None:
    """Indices of at most ``limit`` of ``n`` items (seeded, sorted), or None when all fit."""
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def calibrate(logits: np.ndarray, targets: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Fit a temperature on validation pixels and report ECE before and after.

    Args:
        logits: (P,) float logits of valid validation pixels.
        targets: (P,) 0/1 truth.
        seed: seed of the pixel subsample used when there are more than 2 million.

    Returns:
        ``{"temperature", "ece_before", "ece_after", "n_pixels"}``. Both ECEs are
        measured on the pixels the temperature was fitted on (in-sample).
    """
    idx = subsample(len(logits), seed=seed)
    z = logits if idx is None else logits[idx]
    y = targets if idx is None else targets[idx]
    t = fit_temperature(z, y)
    zt = torch.from_numpy(np.asarray(z, dtype=np.float32))
    before = expected_calibration_error(torch.sigmoid(zt), y)
    after = expected_calibration_error(torch.sigmoid(zt / t), y)
    return {"temperature": t, "ece_before": before, "ece_after": after, "n_pixels": int(len(z))}
