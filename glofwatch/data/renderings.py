"""Which 8-bit rendering a data set's crops are in, as far as the data set says.

A data set says it in one of two places (first found wins):

* ``ROOT/rendering.txt``: one line, ``true-colour``, ``false-colour`` or ``mixed``
  (a sidecar for any data set: write it next to ``images/`` or ``train/``);
* ``ROOT/synth.json`` of ``glofwatch data synth``: its ``rendering`` (``mixed`` for
  ``--rendering mixed``, whose crops are listed one by one in ``crop_renderings``), or
  ``params.rendering`` for sets written before that field existed.

Otherwise the rendering is ``unknown``. A model trained on the set records what it
expects (:attr:`glofwatch.data.normalize.InputSpec.rendering`): the rendering's name,
``any`` for a mixed set, or ``unknown``.
"""

from __future__ import annotations

from pathlib import Path

from glofwatch.errors import ConfigError, InputError
from glofwatch.io.files import read_json
from glofwatch.registry import close_matches_hint
from glofwatch.scene.render import ANY, MIXED, RENDERINGS, UNKNOWN

RENDERING_FILE = "rendering.txt"
"""Sidecar naming a data set's rendering (one line)."""


def model_rendering_names() -> list[str]:
    """What a model may expect: a rendering name, ``any`` or ``unknown``."""
    return [*RENDERINGS.names(), ANY, UNKNOWN]


def check_model_rendering(name: str) -> str:
    """``name`` when a model may expect it, else a one-line :class:`ConfigError` with close matches."""
    known = model_rendering_names()
    if name not in known:
        raise ConfigError(f"input rendering '{name}' is unknown{close_matches_hint(name, known)} "
                          f"(known: {', '.join(known)})")
    return name


def for_model(declared: str) -> str:
    """What a model trained on crops declared ``declared`` expects: ``mixed`` -> ``any``, names as they are."""
    return ANY if declared == MIXED else declared


def dataset_rendering(root: str | Path) -> tuple[str, str]:
    """The rendering a data set declares, and where it says so.

    Returns:
        (``true-colour`` | ``false-colour`` | ``mixed`` | ``unknown``, the file that says so or ``""``).

    Raises:
        InputError: ``rendering.txt`` names no known rendering.
    """
    root = Path(root)
    sidecar = root / RENDERING_FILE
    if sidecar.is_file():
        words = sidecar.read_text(encoding="utf-8", errors="replace").split()
        value = words[0].lower() if words else ""
        value = MIXED if value == ANY else value
        known = [*RENDERINGS.names(), MIXED]
        if value not in known:
            raise InputError(f"{sidecar}: '{value}' is not a rendering{close_matches_hint(value, known)}; "
                             f"write one of {', '.join(known)}")
        return value, str(sidecar)
    info = read_json(root / "synth.json")
    value = info.get("rendering") or info.get("params", {}).get("rendering")
    if isinstance(value, str) and (value == MIXED or value in RENDERINGS.names()):
        return value, str(root / "synth.json")
    return UNKNOWN, ""


def crop_renderings(root: str | Path) -> dict[str, str]:
    """File stem -> rendering for the crops of a mixed synthetic set (``{}`` for any other set)."""
    info = read_json(Path(root) / "synth.json")
    value = info.get("crop_renderings")
    return dict(value) if isinstance(value, dict) else {}


__all__ = [
    "RENDERING_FILE", "check_model_rendering", "crop_renderings", "dataset_rendering", "for_model",
    "model_rendering_names",
]
