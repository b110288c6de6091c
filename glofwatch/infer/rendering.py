"""The check that a model is fed the 8-bit rendering it was trained on.

A model trained on near-infrared false colour (R=B08 G=B04 B=B03) reads a
true-colour crop (R=B04 G=B03 B=B02) without complaint and maps nonsense, and the
other way round. So every 8-bit input is checked before it is scored or predicted:

* what the model expects is :func:`expected_rendering`: its ``input.rendering``
  (recorded from the training data), else what the run's training data declares;
  ``any`` (trained on mixed renderings) and ``unknown`` are not checked;
* what the images are is what the caller declares (``--rendering true-colour``),
  what their data set declares (``rendering.txt``, ``synth.json``), else what
  :func:`glofwatch.scene.detect.detect_rendering` finds in a sample of them
  (judged together by :func:`glofwatch.scene.detect.vote`; undetermined passes);
* a mismatch is one :class:`~glofwatch.errors.InputError` line naming the images,
  what was found, what the model expects and the fix.

:func:`check_rendering` is the check itself, for any caller with images in memory
(the scene mapper passes windows of a uint8 scene).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glofwatch.errors import ConfigError, InputError
from glofwatch.scene.detect import UNDETERMINED, detect_rendering, vote
from glofwatch.scene.render import ANY, MIXED, RENDERINGS, UNKNOWN, rendering_bands

AUTO = "auto"
SAMPLE_IMAGES = 24
"""Images looked at to judge a folder or split (spread evenly over it)."""

_MIXED_FIX = "glofwatch data synth OUT --rendering mixed, then glofwatch train on it"


def check_declared(value: str) -> str:
    """``value`` of a ``--rendering`` option, checked: auto, any, a rendering name or mixed."""
    known = [AUTO, ANY, *RENDERINGS.names(), MIXED]
    if value not in known:
        from glofwatch.registry import close_matches_hint

        raise ConfigError(f"--rendering {value} is unknown{close_matches_hint(value, known)} "
                          f"(known: {', '.join(known)})")
    return value


def expected_rendering(bundle: Any) -> str:
    """What a model expects: ``true-colour``, ``false-colour``, ``any`` or ``unknown``.

    Its recorded ``input.rendering``; for models that did not record one, the rendering its
    training data declares, when the run folder and data are still there.
    """
    spec = bundle.spec
    if spec.rendering != UNKNOWN:
        return str(spec.rendering)
    from glofwatch.data.renderings import dataset_rendering, for_model
    from glofwatch.models.bundle import read_run_info

    run_dir = (bundle.meta or {}).get("run_dir")
    if not run_dir or not Path(run_dir).is_dir():
        return UNKNOWN
    root = read_run_info(run_dir).get("data_root")
    if not root or not Path(root).is_dir():
        return UNKNOWN
    try:
        return for_model(dataset_rendering(root)[0])
    except InputError:
        return UNKNOWN


def checks_inputs(bundle: Any) -> bool:
    """True when the model takes 3-band 8-bit renderings and expects one rendering in particular."""
    spec = bundle.spec
    return spec.source == "rgb8" and spec.in_channels == 3 and expected_rendering(bundle) in RENDERINGS.names()


def _as_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        return [images] if images.ndim == 3 else list(images)
    return list(images)


def check_rendering(
    images: np.ndarray | Sequence[np.ndarray],
    expected: str,
    source_name: str,
    *,
    declared: str = AUTO,
    declared_by: str = "--rendering",
    names: Sequence[str] | None = None,
    model: str | None = None,
    valid: Sequence[np.ndarray | None] | None = None,
) -> str:
    """Check that ``images`` are in the rendering a model ``expected``; return what they are.

    Args:
        images: one (H, W, 3) image, a stack (N, H, W, 3) or a list of images (any dtype; a
            sample of a folder, or windows of a scene). Images without 3 bands are skipped.
        expected: what the model expects (:func:`expected_rendering`); ``any`` and ``unknown``
            pass whatever the images are.
        source_name: the file, folder or scene the images come from (starts the error line).
        declared: ``auto`` (detect), ``any`` (do not look: returns ``any``), a rendering name or
            ``mixed`` (the images are that; no detection).
        declared_by: who declared it, for the error line (``--rendering``, a ``synth.json``, ...).
        names: optional file names of ``images``; the error names the most telling one.
        model: the model's name or path for the error line.
        valid: optional per-image (H, W) bool masks of valid pixels.

    Returns:
        The images' rendering: the declared one, or the detected ``true-colour`` /
        ``false-colour`` / ``undetermined``.

    Raises:
        InputError: the images' rendering is not the one the model expects.
    """
    check_declared(declared)
    if declared == ANY:
        return ANY
    who = model or "the model"
    checked = expected in RENDERINGS.names()
    if declared != AUTO:
        if checked and declared != expected:
            found = ("mix true-colour and false-colour crops" if declared == MIXED
                     else f"are {declared} ({rendering_bands(declared)})")
            raise InputError(
                f"{source_name}: the images {found} according to {declared_by}, but {who} expects {expected} "
                f"({rendering_bands(expected)}); use a model trained on {_wanted(declared)}, or pass --rendering any "
                "to run it anyway")
        return declared
    pics = _as_list(images)
    keep = [i for i, im in enumerate(pics) if im.ndim == 3 and im.shape[2] == 3]
    if not keep:
        return UNDETERMINED
    masks = list(valid) if valid is not None else [None] * len(pics)
    guesses = [detect_rendering(pics[i], masks[i]) for i in keep]
    verdict = vote(guesses)
    if checked and verdict.rendering not in (UNDETERMINED, expected):
        assert verdict.example is not None
        example = ""
        if names is not None and len(keep) > 1:
            example = f", e.g. {Path(names[keep[verdict.example]]).name}"
        detail = verdict.describe() if len(keep) > 1 else guesses[0].reason
        raise InputError(
            f"{source_name}: 8-bit images detected as {verdict.rendering} ({detail}{example}) but {who} expects "
            f"{expected} ({rendering_bands(expected)}); if they really are {expected} pass --rendering {expected}, "
            f"otherwise use a model trained on {verdict.rendering} or on mixed renderings ({_MIXED_FIX})")
    return verdict.rendering


def _wanted(declared: str) -> str:
    return "mixed renderings" if declared == MIXED else f"{declared} or on mixed renderings"


def sample_evenly(n: int, k: int = SAMPLE_IMAGES) -> list[int]:
    """Up to ``k`` indices of ``range(n)`` spread evenly (all of them when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i * (n - 1) / (k - 1))) for i in range(k)})


def source_of(paths: Sequence[Path]) -> str:
    """The file, or the folder all ``paths`` share, or the first file's folder and how many more."""
    if len(paths) == 1:
        return str(paths[0])
    parents = {p.parent for p in paths}
    if len(parents) == 1:
        return str(paths[0].parent)
    return f"{paths[0].parent} (and {len(parents) - 1} more folders)"


def check_image_files(
    files: Sequence[Path],
    bundle: Any,
    declared: str = AUTO,
    model: str | None = None,
    read: Callable[[Path], np.ndarray] | None = None,
) -> str:
    """:func:`check_rendering` on an even sample of image files, for a model (``bundle``).

    Files that cannot be read are left out here (the caller reports them when it reads them).
    Models that do not take 3-band 8-bit renderings, or expect ``any``/``unknown``, pass untouched.

    Returns:
        The images' rendering, ``any`` (``declared="any"``) or ``not checked`` (the model expects
        any rendering or does not say).
    """
    check_declared(declared)
    if declared == ANY:
        return ANY
    if not checks_inputs(bundle):
        return "not checked"
    expected = expected_rendering(bundle)
    from glofwatch.data.io import read_image

    reader = read or read_image
    picked = [files[i] for i in sample_evenly(len(files))]
    images: list[np.ndarray] = []
    names: list[str] = []
    if declared == AUTO:
        from glofwatch.errors import GlofwatchError

        for f in picked:
            try:
                images.append(reader(f))
            except GlofwatchError:
                continue
            names.append(str(f))
    return check_rendering(images, expected, source_of(list(files)), declared=declared, names=names, model=model)


def check_split(
    bundle: Any,
    dataset: Any,
    indices: Sequence[int],
    root: str | Path,
    declared: str = AUTO,
    model: str | None = None,
) -> str:
    """:func:`check_rendering` for an evaluation: the crops ``indices`` of ``dataset`` under ``root``.

    With ``declared="auto"`` a rendering the data set declares (``rendering.txt``,
    ``synth.json``) is taken as said; otherwise an even sample of the crops is looked at.

    Returns:
        The crops' rendering, ``any`` (``declared="any"``) or ``not checked`` (the model expects
        any rendering or does not say).
    """
    check_declared(declared)
    if declared == ANY:
        return ANY
    if not checks_inputs(bundle) or not len(indices):
        return "not checked"
    expected = expected_rendering(bundle)
    paths = [Path(dataset.image_paths[i]) for i in indices]
    source = source_of(paths)
    declared_by = "--rendering"
    if declared == AUTO:
        from glofwatch.data.renderings import dataset_rendering

        said, where = dataset_rendering(root)
        if said != UNKNOWN:
            declared, declared_by = said, where
    images: list[np.ndarray] = []
    valid: list[np.ndarray | None] = []
    names: list[str] = []
    if declared == AUTO:
        for j in sample_evenly(len(indices)):
            image, _, ok = dataset.load(indices[j])
            images.append(image)
            valid.append(ok)
            names.append(str(paths[j]))
    return check_rendering(images, expected, source, declared=declared, declared_by=declared_by, names=names,
                           model=model, valid=valid)


__all__ = [
    "AUTO", "SAMPLE_IMAGES", "check_declared", "check_image_files", "check_rendering",
    "check_split", "checks_inputs", "expected_rendering", "sample_evenly", "source_of",
]
