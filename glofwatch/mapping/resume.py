"""When a mapped scene may be skipped: the resume key of a model file and the mapping options.

A scene folder is complete for a run when its ``summary.json`` says ``"status":
"done"``, its files exist, and its ``resume.hash`` equals the run's: the SHA-256
of the model file's bytes (with the ``.bin`` of an OpenVINO ``.xml``) and of
every option that can change the outputs (all of :class:`MapOptions` except
``threads`` and ``overwrite``). A new model, a retrained ``model.pt`` or another
``--tile``, ``--dn-offset``, ``--scl`` ... redoes the scene; the same ones skip it.

Mapping without a model (``MapOptions.ndwi``, ``glofwatch map --method ndwi``) keys
on the method and its threshold (``otsu`` or the value) instead of a model file,
and leaves out the options only a model reads (:data:`MODEL_ONLY_OPTIONS`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError

IGNORED_OPTIONS = ("threads", "overwrite")
"""Options that do not change the outputs and so are not part of the key."""

MODEL_ONLY_OPTIONS = ("device", "backend", "precision", "tta", "threshold", "gain", "refine")
"""Options that change only what a model outputs: not part of an NDWI run's key."""

LATER_OPTIONS: dict[str, Any] = {"ndwi": None, "refine": True}
"""Options added after keys were first stored: left out of the key at these values, so
scenes mapped before they existed still resume."""

_HASHES: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) in this process."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        if key in _HASHES:
            return _HASHES[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _LOCK:
        _HASHES[key] = value
    return value


def model_files(model: str | Path) -> list[Path]:
    """The files whose bytes are the model: the run's ``model.pt`` (or checkpoint), an ``.onnx``,
    or an OpenVINO ``.xml`` with its ``.bin``."""
    from glofwatch.infer.backends import EXPORT_SUFFIXES, _bundle_file

    path = Path(model)
    if path.suffix.lower() in EXPORT_SUFFIXES and path.is_file():
        weights = path.with_suffix(".bin")
        return [path, weights] if path.suffix.lower() == ".xml" and weights.is_file() else [path]
    return [_bundle_file(path)]


def options_record(options: Any) -> dict[str, Any]:
    """The options that enter the key, as plain JSON values."""
    ndwi = getattr(options, "ndwi", None) is not None
    record = {k: v for k, v in dataclasses.asdict(options).items()
              if k not in IGNORED_OPTIONS and not (ndwi and k in MODEL_ONLY_OPTIONS)
              and not (k in LATER_OPTIONS and v == LATER_OPTIONS[k])}
    return json.loads(json.dumps(record, default=str))


def resume_key(model: str | Path | None, options: Any) -> dict[str, Any]:
    """The resume record of a run: ``hash``, ``model_sha256`` (per file) and ``options``.

    With ``options.ndwi`` (no model; ``model`` is not read): ``hash``, ``method``
    (``{"name": "ndwi", "threshold": "otsu" or the value}``) and ``options``.
    """
    record = options_record(options)
    ndwi = getattr(options, "ndwi", None)
    if ndwi is not None:
        method = {"name": "ndwi", "threshold": ndwi}
        text = json.dumps({"method": method, "options": record}, sort_keys=True, default=str)
        return {"hash": hashlib.sha256(text.encode()).hexdigest(), "method": method, "options": record}
    if model is None:
        raise ConfigError("no model to key the outputs on; pass --model RUN, or map without a model: --method ndwi")
    files = {p.name: file_sha256(p) for p in model_files(model)}
    text = json.dumps({"model": files, "options": record}, sort_keys=True)
    return {"hash": hashlib.sha256(text.encode()).hexdigest(), "model_sha256": files, "options": record}


def resume_state(out_dir: str | Path, key: str | None, output_files: tuple[str, ...], summary_file: str) -> str:
    """``"complete"``, ``"changed"`` (done, but for another model or options) or ``"missing"``.

    Args:
        out_dir: the scene's output folder.
        key: the run's resume hash (None: any finished scene is complete).
        output_files: files a finished scene has when its summary does not list them.
        summary_file: the summary's file name.
    """
    out_dir = Path(out_dir)
    try:
        summary = json.loads((out_dir / summary_file).read_text())
    except (OSError, ValueError):
        return "missing"
    if not isinstance(summary, dict) or summary.get("status") != "done":
        return "missing"
    if not all((out_dir / f).is_file() for f in summary.get("files", output_files)):
        return "missing"
    if key is not None and (summary.get("resume") or {}).get("hash") != key:
        return "changed"
    return "complete"
