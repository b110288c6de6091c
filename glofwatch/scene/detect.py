"""Tell an 8-bit true-colour rendering from a near-infrared false-colour one by its colours.

True colour shows (B04, B03, B02), near-infrared false colour (B08, B04, B03)
(see :mod:`glofwatch.scene.render`). Bare rock, soil and snow look much the same
in both: their spectra rise smoothly from blue to near infrared. What gives a
rendering away is what the near-infrared band does to water, vegetation and
land in the red channel:

* **false-colour evidence**: *deep, saturated blue to cyan* (hue 180-250 deg,
  saturation >= 0.8): water is black in near infrared, so in false colour the
  red channel of a lake is nearly 0 while green and blue are not; and
  *saturated red to orange* (hue 300-40 deg, saturation >= 0.4): vegetation and
  most land are brighter in near infrared than in red.
* **true-colour evidence**: *green to teal* (hue 90-180 deg, saturation >= 0.1):
  vegetation, and turquoise glacial-flour lakes whose green band is as bright as
  their blue one. In false colour the green channel is the red band, which
  neither water nor vegetation reflects much, so these hues hardly occur.

The statistic is ``score = ln((f + 0.005) / (t + 0.005))`` with ``f`` and ``t``
the shares of valid pixels holding false- and true-colour evidence; an image is
called false colour when ``score >= ln 2``, true colour when ``score <= -ln 2``
(one kind of evidence at least twice the other), else ``undetermined`` (rock,
snow and cloud only). Hue and saturation do not change when all channels are
scaled alike, so the statistic reads 8-bit renderings of any gain and 16-bit or
float crops the same way. Images without spatial structure (noise: neighbouring
pixels uncorrelated) are ``undetermined`` too.

The thresholds were chosen on synthetic crops of both renderings (seed 11,
300 landscapes, each drawn in both) together with half of the real false-colour
Himalayan crops (grouped by duplicates), and checked on another 300 synthetic
landscapes and the other half of the real crops; the README ("Renderings") gives
the accuracy. Crops of rock and snow only stay undetermined: a folder is judged
by the votes of its decided images (:func:`vote`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNDETERMINED = "undetermined"

FALSE_RED_HUE = (300.0, 40.0)  # wraps through 0 deg
FALSE_RED_SATURATION = 0.4
FALSE_BLUE_HUE = (180.0, 250.0)
FALSE_BLUE_SATURATION = 0.8
TRUE_GREEN_HUE = (90.0, 180.0)
TRUE_GREEN_SATURATION = 0.1
EVIDENCE_EPS = 0.005
DECISION_MARGIN = math.log(2.0)
"""|score| needed to decide: one kind of evidence at least twice the other."""
MIN_STRUCTURE = 0.5
"""Correlation of horizontally neighbouring pixels below which an image is not taken for imagery."""
MIN_PIXELS = 256
_MAX_PIXELS = 65536  # a regular subsample of larger images gives the same shares within noise
_DARK = 0.02  # pixels whose brightest channel is under 2 % of the image's scale have no reliable hue


@dataclass(frozen=True)
class RenderingGuess:
    """What :func:`detect_rendering` found in one image.

    Attributes:
        rendering: ``true-colour``, ``false-colour`` or ``undetermined``.
        score: ``ln`` of the false- to true-colour evidence ratio (> 0 leans false colour).
        false_colour_share: share of valid pixels with false-colour evidence.
        true_colour_share: share of valid pixels with true-colour evidence.
        reason: one phrase on what decided it.
    """

    rendering: str
    score: float
    false_colour_share: float
    true_colour_share: float
    reason: str

    @property
    def decided(self) -> bool:
        """True when the image was called true or false colour."""
        return self.rendering != UNDETERMINED


def hue_saturation(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (degrees, 0..360), saturation ``(max - min) / max`` and value ``max`` of (N, 3) float RGB."""
    rgb = rgb.astype(np.float32, copy=False)
    mx = rgb.max(axis=1)
    mn = rgb.min(axis=1)
    delta = mx - mn
    sat = np.where(mx > 0, delta / np.maximum(mx, 1e-12), 0.0)
    safe = np.maximum(delta, 1e-12)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    hue = np.where(mx == r, ((g - b) / safe) % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    return (hue * 60.0) % 360.0, sat, mx


def _structure(image: np.ndarray, valid: np.ndarray) -> float:
    """Correlation of each valid pixel's brightness with its right-hand neighbour's."""
    grey = image.astype(np.float32).mean(axis=-1)
    both = valid[:, :-1] & valid[:, 1:]
    a, b = grey[:, :-1][both], grey[:, 1:][both]
    if a.size < 16 or a.std() == 0 or b.std() == 0:
        return 1.0  # flat: no hue evidence anyway
    return float(np.corrcoef(a, b)[0, 1])


def detect_rendering(image: np.ndarray, valid: np.ndarray | None = None) -> RenderingGuess:
    """Guess the rendering of one RGB image (see the module docstring for the statistic).

    Args:
        image: (H, W, 3) RGB, any dtype (8-bit, 16-bit or float; NaN and all-zero pixels are nodata).
        valid: optional (H, W) bool, False on nodata.

    Returns:
        A :class:`RenderingGuess`; ``undetermined`` for images with too few valid pixels,
        without spatial structure or without colour evidence either way.

    Example:
        >>> detect_rendering(np.full((32, 32, 3), 128, np.uint8)).rendering
        'undetermined'
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"detect_rendering needs an (H, W, 3) RGB image, got shape {image.shape}")
    x = np.nan_to_num(image.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    ok = np.any(x > 0, axis=-1)
    if valid is not None:
        ok &= valid
    step = max(1, math.ceil(math.sqrt(ok.size / _MAX_PIXELS)))
    x, ok = x[::step, ::step], ok[::step, ::step]
    if int(ok.sum()) < MIN_PIXELS:
        return RenderingGuess(UNDETERMINED, 0.0, 0.0, 0.0, "too few valid pixels")
    structure = _structure(x, ok)
    if structure < MIN_STRUCTURE:
        return RenderingGuess(UNDETERMINED, 0.0, 0.0, 0.0, f"no spatial structure (neighbour correlation "
                              f"{structure:.2f}): not imagery")
    px = x[ok]
    scale = 255.0 if image.dtype == np.uint8 else float(np.percentile(px.max(axis=1), 99.5)) or 1.0
    hue, sat, val = hue_saturation(px)
    lit = val >= _DARK * scale
    n = float(len(px))
    red = lit & ((hue >= FALSE_RED_HUE[0]) | (hue < FALSE_RED_HUE[1])) & (sat >= FALSE_RED_SATURATION)
    blue = lit & (hue >= FALSE_BLUE_HUE[0]) & (hue < FALSE_BLUE_HUE[1]) & (sat >= FALSE_BLUE_SATURATION)
    green = lit & (hue >= TRUE_GREEN_HUE[0]) & (hue < TRUE_GREEN_HUE[1]) & (sat >= TRUE_GREEN_SATURATION)
    f = float(red.sum() + blue.sum()) / n
    t = float(green.sum()) / n
    score = math.log((f + EVIDENCE_EPS) / (t + EVIDENCE_EPS))
    if score >= DECISION_MARGIN:
        rendering = "false-colour"
        reason = f"{100 * f:.1f} % deep blue or red-orange vs {100 * t:.1f} % green-teal pixels"
    elif score <= -DECISION_MARGIN:
        rendering = "true-colour"
        reason = f"{100 * t:.1f} % green-teal vs {100 * f:.1f} % deep blue or red-orange pixels"
    else:
        rendering = UNDETERMINED
        reason = f"no clear colour evidence ({100 * f:.1f} % false-colour, {100 * t:.1f} % true-colour pixels)"
    return RenderingGuess(rendering, score, f, t, reason)


@dataclass(frozen=True)
class RenderingVote:
    """The verdict on several images (:func:`vote`).

    Attributes:
        rendering: ``true-colour``, ``false-colour`` or ``undetermined``.
        counts: images per guess (``true-colour``, ``false-colour``, ``undetermined``).
        n_images: images looked at.
        example: index of the image that most strongly shows ``rendering`` (None when undetermined).
    """

    rendering: str
    counts: dict[str, int]
    n_images: int
    example: int | None

    def describe(self) -> str:
        """E.g. ``"18 of 20 images look true-colour, 0 false-colour"``."""
        other = "false-colour" if self.rendering == "true-colour" else "true-colour"
        if self.rendering == UNDETERMINED:
            return (f"{self.counts.get('true-colour', 0)} of {self.n_images} images look true-colour, "
                    f"{self.counts.get('false-colour', 0)} false-colour")
        return (f"{self.counts[self.rendering]} of {self.n_images} images look {self.rendering}, "
                f"{self.counts.get(other, 0)} {other}")


def vote(guesses: Sequence[RenderingGuess]) -> RenderingVote:
    """Judge several images together.

    A rendering wins when it has at least two thirds of the decided images and at least
    a third of all images; otherwise the verdict is ``undetermined``.
    """
    counts = {"true-colour": 0, "false-colour": 0, UNDETERMINED: 0}
    for g in guesses:
        counts[g.rendering] += 1
    decided = counts["true-colour"] + counts["false-colour"]
    n = len(guesses)
    for name in ("true-colour", "false-colour"):
        if decided and counts[name] * 3 >= 2 * decided and counts[name] * 3 >= n:
            sign = 1.0 if name == "false-colour" else -1.0
            mine = [i for i, g in enumerate(guesses) if g.rendering == name]
            example = max(mine, key=lambda i: sign * guesses[i].score)
            return RenderingVote(name, counts, n, example)
    return RenderingVote(UNDETERMINED, counts, n, None)


__all__ = ["UNDETERMINED", "RenderingGuess", "RenderingVote", "detect_rendering", "hue_saturation", "vote"]
