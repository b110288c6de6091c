"""The rendering detector: true colour vs near-infrared false colour on synthetic crops, noise, any dtype."""

from __future__ import annotations

import numpy as np
import pytest

from glofwatch.scene.detect import UNDETERMINED, detect_rendering, vote
from glofwatch.scene.synth import CropParams, draw_numbered_crop, to_rgb


@pytest.fixture(scope="module")
def both_renderings() -> dict[str, list[np.ndarray]]:
    """20 synthetic landscapes (96 px), each rendered in true and in false colour at its own gain."""
    out: dict[str, list[np.ndarray]] = {"true-colour": [], "false-colour": []}
    for i in range(1, 21):
        crop = draw_numbered_crop(1, i, 96, CropParams())
        out["false-colour"].append(crop.image)
        out["true-colour"].append(to_rgb(crop.reflectance, "true-colour", crop.gain))
    return out


@pytest.mark.parametrize("rendering", ["true-colour", "false-colour"])
def test_detector_on_20_synthetic_crops(both_renderings: dict[str, list[np.ndarray]], rendering: str) -> None:
    guesses = [detect_rendering(im) for im in both_renderings[rendering]]
    right = sum(g.rendering == rendering for g in guesses)
    wrong = sum(g.decided and g.rendering != rendering for g in guesses)
    assert right >= 12, [g.reason for g in guesses]  # rock-and-snow crops may stay undetermined
    assert wrong <= 1, [g.reason for g in guesses if g.decided and g.rendering != rendering]
    verdict = vote(guesses)
    assert verdict.rendering == rendering
    assert verdict.example is not None and guesses[verdict.example].rendering == rendering


def test_scale_does_not_matter_16_bit_and_float(both_renderings: dict[str, list[np.ndarray]]) -> None:
    for rendering, images in both_renderings.items():
        for im in images[:6]:
            base = detect_rendering(im)
            as16 = detect_rendering(im.astype(np.uint16) * 257)
            asf = detect_rendering(im.astype(np.float32) / 255.0)
            assert as16.rendering == asf.rendering == base.rendering, rendering
            assert as16.score == pytest.approx(base.score, abs=1e-6)


def test_noise_flat_and_tiny_images_are_undetermined() -> None:
    rng = np.random.default_rng(0)
    noise = detect_rendering(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert noise.rendering == UNDETERMINED and "not imagery" in noise.reason
    assert detect_rendering(np.full((64, 64, 3), 90, np.uint8)).rendering == UNDETERMINED
    assert detect_rendering(np.zeros((64, 64, 3), np.uint8)).reason == "too few valid pixels"
    with pytest.raises(ValueError):
        detect_rendering(np.zeros((8, 8, 4), np.uint8))


def test_vote_needs_a_clear_majority() -> None:
    from glofwatch.scene.detect import RenderingGuess

    def g(name: str, score: float) -> RenderingGuess:
        return RenderingGuess(name, score, 0.0, 0.0, "")

    assert vote([g("true-colour", -2), g("true-colour", -3), g("false-colour", 1)]).rendering == "true-colour"
    assert vote([g("true-colour", -2), g("false-colour", 2)]).rendering == UNDETERMINED
    assert vote([g("false-colour", 2)] + [g(UNDETERMINED, 0)] * 3).rendering == UNDETERMINED  # 1 of 4: too few
    best = vote([g("false-colour", 1), g("false-colour", 4), g(UNDETERMINED, 0)])
    assert best.rendering == "false-colour" and best.example == 1
