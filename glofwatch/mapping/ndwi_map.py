"""The NDWI baseline as a mapping method (``glofwatch map --method ndwi``): no model, one threshold per scene."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, InputError
from glofwatch.mapping.single import SUMMARY_FILE

NDWI_OVERVIEW_PX = 1024
"""Longer side of the decimated scene read that Otsu's threshold is computed on."""


def ndwi_predictor(scene_path: str | Path, options: Any) -> tuple[Any, dict[str, Any]]:
    """The NDWI baseline for one scene (``options.ndwi``), and its ``summary.json`` -> ``ndwi`` record.

    ``options`` is the run's :class:`~glofwatch.mapping.batch.MapOptions` (``ndwi``, ``bands``, ``dn_offset``).

    Reads B03 and B08 as they are (L2A DN plus the scene's DN offset, clipped at 0, as
    :class:`~glofwatch.mapping.scene.SceneInput` feeds ``source="reflectance"``; an 8-bit
    scene as its values). With ``"otsu"`` the threshold is Otsu's on the NDWI of the valid
    pixels of the scene read decimated to :data:`NDWI_OVERVIEW_PX`.

    Raises:
        InputError: the scene lacks B03 or B08 (the NDWI band message), or cannot be read.
    """
    from glofwatch.infer.ndwi import GREEN, NIR, NDWIPredictor, parse_threshold
    from glofwatch.mapping.scene import SceneInput
    from glofwatch.scene.read import read_scene

    if options.ndwi is None:
        raise ConfigError("no NDWI threshold set; pass --method ndwi (and --ndwi-threshold otsu or a value)")
    scene = read_scene(scene_path, options.bands)
    bands = (GREEN, NIR)
    if not all(b in scene.sources for b in bands):
        try:
            NDWIPredictor(scene.bands)
        except InputError as exc:
            raise InputError(f"{scene.path}: {exc}") from None
    source = "rgb8" if scene.kind == "rgb8" else "reflectance"
    base = NDWIPredictor(bands, threshold=parse_threshold(options.ndwi), source=source)
    otsu = base.ndwi_threshold == "otsu"
    record: dict[str, Any] = {"index": f"({GREEN} - {NIR}) / ({GREEN} + {NIR})", "method": "otsu" if otsu else "fixed",
                              "threshold": base.ndwi_threshold, "overview_shape": None}
    predictor = base
    if otsu:
        offset = scene.dn_offset(bands, options.dn_offset).offset if scene.kind == "dn" else 0.0
        conv = SceneInput.plan(scene, base.spec, None, offset)
        data = scene.overview(NDWI_OVERVIEW_PX, conv.read_bands)
        valid = scene.valid_mask(data)
        predictor = base.for_scene(conv.convert(data, valid), valid)
        record.update(threshold=float(predictor.ndwi_threshold), overview_shape=list(data.shape[1:]))
        predictor.precision_note = (  # type: ignore[attr-defined]  # map_scene puts it in summary.json -> notes
            f"NDWI threshold {record['threshold']:.4f} (Otsu on a {data.shape[1]} x {data.shape[2]} px overview "
            "of the scene)")
    predictor.model_name = base.name  # type: ignore[attr-defined]
    return predictor, record


def record_ndwi(out_dir: Path, summary: dict[str, Any], name: str, record: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` with the NDWI method: ``model`` its name, ``ndwi`` its threshold (rewritten atomically)."""
    import json

    from glofwatch.io.atomic import write_json_atomic

    path = out_dir / SUMMARY_FILE
    doc = json.loads(path.read_text())
    doc.update(model=name, ndwi=record)
    write_json_atomic(path, doc)
    return {**summary, "model": name, "ndwi": record}


__all__ = ["NDWI_OVERVIEW_PX", "ndwi_predictor", "record_ndwi"]
