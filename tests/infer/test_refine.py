"""fp32 refinement of a lower-precision graph's uncertain network inputs (glofwatch.infer.refine)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from glofwatch.infer.refine import (
    REFINE_ERODE,
    REFINE_MARGIN,
    RefinedPredictor,
    erode_cross,
    probability_band,
    uncertain_patch,
)

THRESHOLD = 0.77


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_probability_band_is_the_margin_in_logits_either_side_of_the_threshold() -> None:
    lo, hi = probability_band(THRESHOLD, 0.5)
    assert logit(lo) == pytest.approx(logit(THRESHOLD) - 0.5) and logit(hi) == pytest.approx(logit(THRESHOLD) + 0.5)
    assert probability_band(0.5, math.log(3.0)) == pytest.approx((0.25, 0.75))  # logits -ln 3 .. ln 3
    assert REFINE_MARGIN == 0.5 and REFINE_ERODE == 3


def test_erode_cross_equals_scipy_and_counts_outside_as_false() -> None:
    from scipy import ndimage as ndi

    rng = np.random.default_rng(1)
    for shape in ((1, 1), (2, 5), (9, 9), (37, 53)):
        a = rng.random(shape) < 0.8
        assert np.array_equal(erode_cross(a), ndi.binary_erosion(a))
    full = np.ones((5, 5), bool)
    assert erode_cross(full).sum() == 9  # the border goes


def test_an_uncertain_patch_needs_a_diamond_of_radius_three_within_the_band() -> None:
    at = THRESHOLD  # right on the threshold: within any margin
    p = np.zeros((40, 40), np.float32)
    p[10:17, 10:17] = at  # 7 x 7: holds the radius-3 diamond (25 px)
    assert uncertain_patch(p, THRESHOLD)
    p[:] = 0
    p[10:16, 10:16] = at  # 6 x 6: too narrow for it
    assert not uncertain_patch(p, THRESHOLD)
    i, j = np.ogrid[-3:4, -3:4]
    p[:] = 0
    p[20:27, 20:27][(np.abs(i) + np.abs(j)) <= 3] = at  # the diamond alone, 25 px
    assert uncertain_patch(p, THRESHOLD)
    p[23, 20] = 0.0  # one tip missing
    assert not uncertain_patch(p, THRESHOLD)
    # a lake's rim: a sure disk inside a 2 px ring at the threshold, as wide as you like
    yy, xx = np.ogrid[:40, :40]
    r = np.hypot(yy - 20, xx - 20)
    rim = np.where(r < 12, 0.99, np.where(r < 14, at, 0.0)).astype(np.float32)
    assert not uncertain_patch(rim, THRESHOLD)
    # just inside and just outside the margin
    p[:] = 0
    p[5:15, 5:15] = sigmoid(logit(THRESHOLD) + 0.49)
    assert uncertain_patch(p, THRESHOLD)
    p[5:15, 5:15] = sigmoid(logit(THRESHOLD) - 0.51)
    assert not uncertain_patch(p, THRESHOLD)
    assert uncertain_patch(p, THRESHOLD, margin=0.6)
    p[5:15, 5:15] = np.nan  # nodata is never uncertain
    assert not uncertain_patch(p, THRESHOLD)
    one = np.zeros((5, 5), np.float32)
    one[2, 2] = at
    assert uncertain_patch(one, THRESHOLD, erode=0) and not uncertain_patch(one, THRESHOLD, erode=1)


class Constant:
    """A stand-in predictor: probability ``value`` where the first band is below 100, else 0; records its calls."""

    spec = "spec"
    stride = 1
    backend = "openvino-bf16"

    def __init__(self, value: float, threshold: float = THRESHOLD) -> None:
        self.value, self.threshold = value, threshold
        self.calls: list[tuple[tuple[int, ...], torch.Tensor | None]] = []

    def predict_batch(self, x: torch.Tensor, valid: torch.Tensor | None = None,
                      stats: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((tuple(x.shape), stats))
        with torch.inference_mode():  # as the real predictors' outputs
            return (x[:, 0] < 100).float() * self.value


def test_refined_predictor_runs_only_the_uncertain_inputs_again_in_fp32() -> None:
    fast, exact = Constant(THRESHOLD), Constant(0.95)
    refined = RefinedPredictor(fast, exact)
    x = torch.full((3, 3, 32, 32), 200.0)
    x[0, 0, 4:20, 4:20] = 50.0  # a 16 x 16 patch at the threshold: uncertain
    x[1, 0, 4:8, :] = 50.0  # a 4-row band at the threshold: a rim, not a patch
    stats = torch.arange(3 * 3 * 2, dtype=torch.float32).reshape(3, 3, 2)  # per image
    out = refined.predict_batch(x, torch.ones(3, 32, 32, dtype=torch.bool), stats)
    assert out.shape == (3, 32, 32)
    assert torch.all(out[0, 4:20, 4:20] == 0.95) and float(out[0].max()) == pytest.approx(0.95)  # fp32's
    assert torch.allclose(out[1, 4:8], torch.tensor(THRESHOLD)) and float(out[2].max()) == 0.0  # the fast graph's
    assert len(exact.calls) == 1 and exact.calls[0][0] == (1, 3, 32, 32)
    assert torch.equal(exact.calls[0][1], stats[0:1])  # the input's own statistics
    assert refined.counts() == {"inputs": 3, "refined": 1, "px": 3 * 32 * 32, "refined_px": 32 * 32}
    scene_wide = torch.zeros(1, 3, 2)
    refined.predict_batch(x[:1], None, scene_wide)
    assert exact.calls[-1][1] is scene_wide  # scene-wide statistics go as they are
    assert refined.threshold == THRESHOLD and refined.stride == 1 and refined.spec == "spec"  # the fast one's
    assert refined.backend == "openvino-bf16+fp32"
    with pytest.raises(ValueError, match="threshold differently"):
        RefinedPredictor(Constant(0.5), Constant(0.5, threshold=0.5))
