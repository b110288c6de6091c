"""Inference backends: run the same model with eager PyTorch, ONNX Runtime or OpenVINO.

A backend only executes the network (normalised input -> logits). Everything
else (normalisation with the model's input spec, padding to the stride,
tiling, sigmoid, nodata, threshold) is done once by
:class:`~glofwatch.infer.predict.Predictor`, which takes the backend's
:meth:`Backend.run` as its ``runner``. So every backend gives the same
probabilities (fp32 exports within 1e-4 of eager PyTorch).

Models may be given as a run folder, a ``model.pt``/checkpoint, a loaded
:class:`~glofwatch.models.bundle.ModelBundle`, or an exported ``.onnx`` /
OpenVINO ``.xml`` file (see :mod:`glofwatch.models.export`). A run folder used
with ONNX Runtime or OpenVINO is exported once and cached under
``$GLOFWATCH_CACHE_DIR`` (default ``~/.cache/glofwatch``)/``exports``, keyed by
the model file's path, size and modification time.

``auto`` chooses, in this order:

1. an exported ``.xml`` -> openvino; an exported ``.onnx`` -> onnxruntime;
2. a CUDA GPU (``device`` auto or cuda) -> torch;
3. on CPU: the faster of ONNX Runtime and OpenVINO for this model on this
   machine, timed once on a 512 px tile and remembered per model file and
   thread count (``exports/auto-choice.json`` in the cache). Both run 1.4-3x
   faster than eager PyTorch on CPU, and which one wins depends on the model
   (``glofwatch bench infer``: OpenVINO for the EfficientNet-Lite0 U-Nets, ONNX
   Runtime for DeepLabV3+ ResNet50). If one cannot run the model, the other is
   used; if neither can, ``auto`` falls back to torch with a warning.

Example:
    >>> backend = build_backend("auto", "runs/fast")          # doctest: +SKIP
    >>> probs = backend.predict_batch(images)                  # (N, H, W) in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from glofwatch.errors import ConfigError, GlofwatchError, InputError
from glofwatch.infer.runtimes import Backend, OnnxRuntimeBackend, OpenVINOBackend, TorchBackend
from glofwatch.registry import close_matches_hint

if TYPE_CHECKING:
    from glofwatch.infer.predict import Predictor
    from glofwatch.models.bundle import ModelBundle

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
CPU_PREFERENCE = ("onnxruntime", "openvino", "torch")
PROBE_SIDE = 512  # side of the tile ``auto`` times the exported runtimes on
PROBE_RUNS = 4
EXPORT_SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino"}


def cache_dir() -> Path:
    """Folder for cached exports: ``$GLOFWATCH_CACHE_DIR`` or ``$XDG_CACHE_HOME/glofwatch`` (``~/.cache/glofwatch``)."""
    env = os.environ.get("GLOFWATCH_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "glofwatch"


def openvino_cache() -> Path | None:
    """Folder of OpenVINO's compiled graphs (:class:`OpenVINOBackend` ``cache``); None when
    ``GLOFWATCH_OPENVINO_CACHE`` is ``0`` (compile in every process).

    Under an ``ONEDNN_MAX_CPU_ISA`` cap the graphs go to a subfolder of their own
    (``openvino/isa-avx2``), so graphs compiled for the whole CPU are never loaded under the cap.
    """
    if os.environ.get("GLOFWATCH_OPENVINO_CACHE", "1").strip().lower() in ("0", "no", "off", "false"):
        return None
    from glofwatch.runtime import isa_cap

    cap = isa_cap()
    return cache_dir() / "openvino" / f"isa-{cap.lower()}" if cap else cache_dir() / "openvino"


def available_backends() -> list[str]:
    """Backends whose runtime is importable here (torch and onnxruntime always; openvino when installed)."""
    names = ["torch"]
    for name, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")):
        try:
            __import__(module)
        except ImportError:
            continue
        names.append(name)
    return names


def check_backend_name(name: str) -> str:
    """Return ``name`` if it is a backend, else raise ConfigError with close matches."""
    if name not in BACKENDS:
        hint = close_matches_hint(name, list(BACKENDS))
        raise ConfigError(f"unknown backend '{name}'{hint} (known: {', '.join(BACKENDS)})")
    return name


def _bundle_file(path: Path) -> Path:
    """The file :func:`load_bundle` reads for ``path`` (same resolution order)."""
    from glofwatch.models.bundle import run_model_file

    return run_model_file(path, ".ckpt", "") if path.is_dir() else path


def _export_digest(model_file: Path) -> str:
    """The key of a bundle file's cached ONNX export: the file (path, size, time) and the versions that export it."""
    import torch

    from glofwatch import __version__

    st = model_file.stat()
    key = f"{model_file.resolve()}|{st.st_size}|{st.st_mtime_ns}|{__version__}|{torch.__version__}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def cached_export(model: str | Path) -> Path | None:
    """The cached fp32 ONNX export of a run folder or bundle file, if it was made; None otherwise.

    Found by the bundle file alone, without building the network: an OpenVINO backend built from
    it never imports the model's libraries (segmentation-models-pytorch, timm, torchvision): 170 MB
    of private memory when they load, 130-180 MB off a whole-tile mapping's peak.
    """
    path = Path(model)
    if path.suffix.lower() in EXPORT_SUFFIXES or not path.exists():
        return None
    try:
        model_file = _bundle_file(path)
    except GlofwatchError:
        return None
    hits = sorted((cache_dir() / "exports").glob(f"*-{_export_digest(model_file)}.onnx"))
    return hits[0] if len(hits) == 1 else None


def _cached_onnx(bundle: ModelBundle, model_file: Path | None) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """An fp32 ONNX export of ``bundle``: cached for files, in a temporary folder for in-memory bundles."""
    from glofwatch.models.export import export_model

    if model_file is None:
        tmp = tempfile.TemporaryDirectory(prefix="glofwatch-onnx-")
        return export_model(bundle, "onnx", out=Path(tmp.name) / "model.onnx"), tmp
    path = cache_dir() / "exports" / f"{bundle.config.model}-{_export_digest(model_file)}.onnx"
    if not path.is_file():
        log.info("exporting %s to %s (once; cached)", model_file, path)
        export_model(bundle, "onnx", out=path)
    return path, None


def resolve_model(model: str | Path | ModelBundle) -> tuple[ModelBundle, Path | None, Path | None]:
    """(bundle, exported file or None, bundle file or None) for any accepted model reference."""
    from glofwatch.models.bundle import ModelBundle, load_bundle
    from glofwatch.models.export import bundle_from_metadata, read_export_metadata

    if isinstance(model, ModelBundle):
        return model, None, None
    path = Path(model)
    if path.suffix.lower() in EXPORT_SUFFIXES and path.is_file():
        return bundle_from_metadata(read_export_metadata(path), path), path, None
    if not path.exists():
        raise InputError(f"{path}: no such run folder or model file; give a run folder, model.pt, .onnx or .xml")
    return load_bundle(path), None, _bundle_file(path)


def _pick_auto(exported: Path | None, device: str) -> list[str]:
    from glofwatch.runtime import resolve_device

    if exported is not None:
        return [EXPORT_SUFFIXES[exported.suffix.lower()]]
    if resolve_device(device) == "cuda":
        return ["torch"]
    have = available_backends()
    return [name for name in CPU_PREFERENCE if name in have]


def build_backend(
    name: str,
    model: str | Path | ModelBundle,
    device: str = "auto",
    threads: int | None = None,
) -> Backend:
    """Build the backend ``name`` for ``model``.

    Args:
        name: ``"auto"``, ``"torch"``, ``"onnxruntime"`` or ``"openvino"`` (see module doc for ``auto``).
        model: run folder, ``model.pt``/checkpoint, a :class:`ModelBundle`, or an exported ``.onnx``/``.xml``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        threads: CPU threads for ONNX Runtime/OpenVINO (default: ``torch.get_num_threads()``).

    Raises:
        ConfigError: unknown backend (with close matches), openvino not installed, or a
            backend that cannot run this model file.
    """
    check_backend_name(name)
    bundle, exported, model_file = resolve_model(model)
    source = str(exported or model_file or "memory")
    if name != "auto":
        return _build(name, bundle, exported, model_file, device, threads, source)
    candidates = _pick_auto(exported, device)
    built: list[Backend] = []
    for i, cand in enumerate(candidates):
        if cand == "torch" and built:
            break  # torch is only the fallback when no exported runtime works
        try:
            built.append(_build(cand, bundle, exported, model_file, device, threads, source))
        except GlofwatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - an export/runtime failure falls back to the next backend
            if i == len(candidates) - 1 and not built:
                raise
            warnings.warn(f"{cand} backend unavailable for {source} ({exc.__class__.__name__}: {exc}); "
                          "trying the next one", stacklevel=2)
    backend = built[0] if len(built) == 1 else _fastest(built, model_file, threads)
    log.info("auto backend: %s", backend.name)
    return backend


def _fastest(backends: list[Backend], model_file: Path | None, threads: int | None) -> Backend:
    """The backend with the shortest time on a probe tile; remembered per model file and thread count."""
    import json
    import time

    import torch

    from glofwatch.io.atomic import write_json_atomic

    choices_file = cache_dir() / "exports" / "auto-choice.json"

    def known_choices() -> dict[str, str]:
        try:
            return json.loads(choices_file.read_text())
        except (OSError, ValueError):
            return {}

    key = None
    if model_file is not None:
        st = model_file.stat()
        key = f"{model_file.resolve()}|{st.st_size}|{st.st_mtime_ns}|threads={threads or torch.get_num_threads()}"
        remembered = known_choices().get(key)
        for b in backends:
            if remembered == b.name:
                return b
    side = max(PROBE_SIDE // backends[0].stride, 1) * backends[0].stride
    z = torch.randn(1, backends[0].spec.in_channels, side, side, generator=torch.Generator().manual_seed(0))
    for b in backends:
        b.run(z)  # warm-up (OpenVINO compiles for this shape)
    seconds = {b.name: float("inf") for b in backends}
    for _ in range(PROBE_RUNS):  # round-robin, so a change of load hits every backend alike
        for b in backends:
            t0 = time.perf_counter()
            b.run(z)
            seconds[b.name] = min(seconds[b.name], time.perf_counter() - t0)
    winner = min(backends, key=lambda b: seconds[b.name])
    log.info("auto backend timing on a %d px tile: %s", side,
             ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in seconds.items()))
    if key is not None:  # re-read: another process may have added its own model meanwhile
        write_json_atomic(choices_file, {**known_choices(), key: winner.name})
    return winner


def _build(name: str, bundle: ModelBundle, exported: Path | None, model_file: Path | None, device: str,
           threads: int | None, source: str) -> Backend:
    if name == "torch":
        return TorchBackend(bundle, device, source)
    if name == "openvino":
        from glofwatch.models.export import import_openvino

        import_openvino()
    if exported is not None:
        if name == "onnxruntime" and exported.suffix.lower() != ".onnx":
            raise ConfigError(f"{exported}: onnxruntime reads .onnx files, not OpenVINO IR; use --backend openvino")
        path, tmp = exported, None
    else:
        path, tmp = _cached_onnx(bundle, model_file)
    try:
        if name == "onnxruntime":
            return OnnxRuntimeBackend(bundle, path, device, source, threads)
        return OpenVINOBackend(bundle, path, device, source, threads, cache=openvino_cache())
    finally:
        if tmp is not None:
            tmp.cleanup()


def load_predictor(
    model: str | Path | ModelBundle,
    backend: str = "auto",
    device: str = "auto",
    max_tile: int = 1024,
    overlap: int = 64,
    threshold: float | None = None,
    tta: bool = False,
) -> Predictor:
    """A :class:`Predictor` for ``model`` running on ``backend`` (what ``predict``, ``evaluate`` and ``map`` use).

    Args:
        threshold: mask threshold overriding the model's own (None: the model's, chosen on validation).
        tta: average over the 8 flips and rotations of each input (8x the network cost).
    """
    predictor = build_backend(backend, model, device=device).predictor(max_tile=max_tile, overlap=overlap,
                                                                       threshold=threshold, tta=tta)
    return predictor
