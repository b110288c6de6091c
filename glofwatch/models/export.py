"""Export a trained model to ONNX or OpenVINO IR: one self-describing file per model.

The exported graph is the network only: normalised input ``image``
(N, C, H, W) float32 -> ``logits`` (N, 1, H, W) float32, with dynamic N, H and
W (H and W multiples of the model's stride). Logits rather than probabilities,
so every backend shares one ``sigmoid`` and one threshold in
:class:`~glofwatch.infer.predict.Predictor` and INT8 quantisation keeps the
sign of a logit (the lake decision) rather than a probability rounded to 1/255.
Normalisation (percentiles, mean/std) stays outside the graph and travels as
metadata, so tiles of a scene can share scene-wide statistics; so do the mask
threshold and the temperature chosen on the validation split at the end of
training (``probability = sigmoid(logit / temperature)``).

Metadata is one JSON document (:func:`read_export_metadata`)::

    {"format": "glofwatch-export", "format_version": 1, "model": "unet-efflite0",
     "input": InputSpec.to_dict(), "stride": 32, "threshold": 0.5, "temperature": 1.0,
     "input_name": "image", "output_name": "logits", "output": "logits", "preset": ...,
     "config": TrainConfig.to_dict(), "metrics": {...}, "meta": {...}, "int8": false,
     "calibration": null | {"data_root": ..., "n_images": ...},
     "exported_at": ISO-8601 UTC, "glofwatch_version": ..., "torch_version": ..., "opset": 17}

ONNX keeps it in ``metadata_props["glofwatch"]``; OpenVINO IR in the model's
runtime info under ``glofwatch/metadata``.

INT8 is post-training static quantisation with ONNX Runtime (QDQ format,
per-channel weights; by default the pretrained encoder and the logit head stay
fp32, see :func:`quantize_onnx`) calibrated on training crops normalised with
the model's own input spec. OpenVINO reads the QDQ graph and runs it in INT8, so
``--format openvino --int8`` converts the same quantised graph.

Example:
    >>> path = export_model("runs/fast", "onnx")          # doctest: +SKIP
    >>> read_export_metadata(path)["threshold"]           # doctest: +SKIP
    0.5
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glofwatch.errors import ConfigError, InputError
from glofwatch.models.quantize import INPUT_NAME, INT8_SCOPES, calibration_images, quantize_onnx

if TYPE_CHECKING:
    import numpy as np

    from glofwatch.models.bundle import ModelBundle

EXPORT_FORMAT = "glofwatch-export"
EXPORT_VERSION = 1
FORMATS = ("onnx", "openvino")
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml"}
OUTPUT_NAME = "logits"
OPSET = 17
METADATA_KEY = "glofwatch"
OV_RT_PATH = ["glofwatch", "metadata"]
OPENVINO_MISSING = ("openvino is not installed in this environment; pip install openvino (a glofwatch dependency) "
                    "or use --backend onnxruntime")


def import_openvino() -> Any:
    """Import ``openvino`` or raise a one-line :class:`ConfigError` saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise ConfigError(OPENVINO_MISSING) from None
    return openvino


_CORE: Any = None
_CORE_LOCK = threading.Lock()


def openvino_core() -> Any:
    """The process's one ``openvino.Core``, made the first time it is asked for and never closed.

    One Core, not one per backend: each Core makes its own CPU plugin, and OpenVINO 2026.4's CPU
    plugin installs a signal stack on the thread that makes it, keeping the one it replaced to put
    back when it is destroyed. Two plugins destroyed in the order they were made (the first backend
    dropped before the second) leave the thread's signal stack pointing at unmapped memory, and the
    next signal that thread handles (Ctrl-C, a child's exit) kills the process with a segmentation
    fault. One Core that lives as long as the process makes that order impossible.
    """
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            _CORE = import_openvino().Core()
        return _CORE


def export_metadata(bundle: ModelBundle, int8: bool = False,
                    calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document that makes an exported file self-describing (see module doc)."""
    import torch

    from glofwatch import __version__
    from glofwatch.io.atomic import _nan_to_none
    from glofwatch.models.registry import get_spec

    cfg = bundle.config
    doc = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "model": cfg.model,
        "input": bundle.spec.to_dict(),
        "stride": get_spec(cfg.model).stride,
        "threshold": bundle.threshold,
        "temperature": bundle.temperature,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "output": "logits",
        "preset": cfg.preset,
        "config": cfg.to_dict(),
        "metrics": bundle.metrics,
        "meta": bundle.meta,
        "int8": int8,
        "calibration": calibration,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "glofwatch_version": __version__,
        "torch_version": torch.__version__,
        "opset": OPSET,
    }
    return json.loads(json.dumps(_nan_to_none(doc), default=str))


def bundle_from_metadata(meta: dict[str, Any], source: str | Path) -> ModelBundle:
    """A :class:`ModelBundle` without a network (``net=None``) rebuilt from export metadata."""
    from glofwatch.config import TrainConfig
    from glofwatch.models.bundle import ModelBundle

    if meta.get("format") != EXPORT_FORMAT:
        raise InputError(f"{source}: no glofwatch metadata in this model file; export it with `glofwatch export RUN`")
    if int(meta.get("format_version", 0)) > EXPORT_VERSION:
        raise InputError(f"{source}: exported by a newer glofwatch ({meta.get('glofwatch_version')}); "
                         "upgrade glofwatch")
    config = TrainConfig.from_dict(meta["config"], str(source))
    extra = {**meta.get("meta", {}), "threshold": meta["threshold"],
             "temperature": meta.get("temperature", meta.get("meta", {}).get("temperature", 1.0)),
             "export": {k: meta.get(k) for k in ("int8", "exported_at", "calibration")}}
    return ModelBundle(None, config, meta.get("metrics", {}), extra)  # type: ignore[arg-type]


def read_export_metadata(path: str | Path) -> dict[str, Any]:
    """Read the metadata of an exported ``.onnx`` or OpenVINO ``.xml`` file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found; export one with `glofwatch export RUN`")
    if path.suffix.lower() == ".onnx":
        import onnx

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
            raise InputError(f"{path}: cannot read the ONNX file ({exc.__class__.__name__}); export it again") from None
        props = {p.key: p.value for p in model.metadata_props}
        text = props.get(METADATA_KEY)
    elif path.suffix.lower() == ".xml":
        weights = path.with_suffix(".bin")
        try:
            model = openvino_core().read_model(str(path))
        except Exception as exc:  # noqa: BLE001 - a damaged or half-written IR
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise InputError(f"{path}: cannot read the OpenVINO model ({first[:120]}); export it again") from None
        text = model.get_rt_info(OV_RT_PATH).astype(str) if model.has_rt_info(OV_RT_PATH) else None
        recorded = json.loads(text).get("weights_sha256") if text else None
        if recorded and weights.is_file() and _sha256(weights) != recorded:
            raise InputError(f"{weights}: does not belong to {path.name} (an export was interrupted between the "
                             "two files); export the model again")
    else:
        raise InputError(f"{path}: unknown model file type '{path.suffix}'; use .onnx or OpenVINO .xml")
    if not text:
        raise InputError(f"{path}: no glofwatch metadata in this model file; export it with `glofwatch export RUN`")
    return json.loads(text)


@contextlib.contextmanager
def _temp_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="glofwatch-export-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def export_onnx_graph(net: Any, in_channels: int, stride: int, path: str | Path) -> Path:
    """Trace ``net`` into an fp32 ONNX graph at ``path`` (dynamic batch, height, width).

    Uses the TorchScript-based exporter (``dynamo=False``): it handles every
    registered model offline, keeps H and W symbolic, and takes seconds.
    """
    import torch

    size = max(64, 2 * stride)
    net = net.eval().to("cpu", memory_format=torch.contiguous_format)
    x = torch.zeros(1, in_channels, size, size)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings on shape checks that are constant for valid inputs
        torch.onnx.export(
            net, (x,), str(path), dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, do_constant_folding=True,
        )
    return Path(path)


def _set_onnx_metadata(path: Path, meta: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(meta)
    model.doc_string = (f"glofwatch {meta['model']}: normalised image (N,C,H,W) -> logits (N,1,H,W); "
                        f"see metadata '{METADATA_KEY}'")
    onnx.save(model, str(path))


def _default_out(run: Path, fmt: str, int8: bool) -> Path:
    folder = run if run.is_dir() else run.parent
    return folder / "export" / (("model-int8" if int8 else "model") + SUFFIXES[fmt])


def export_model(
    model: str | Path | ModelBundle,
    fmt: str = "onnx",
    out: str | Path | None = None,
    int8: bool = False,
    data_root: str | Path | None = None,
    calib_images: int = 32,
    calib_inputs: list[np.ndarray] | None = None,
    int8_scope: str = "decoder",
) -> Path:
    """Export a trained model to one self-describing file.

    Args:
        model: run folder, ``model.pt`` / checkpoint, or a loaded bundle.
        fmt: ``"onnx"`` or ``"openvino"`` (``.xml`` plus its ``.bin`` weights beside it).
        out: output file (default ``RUN/export/model[-int8].onnx|.xml``; required for a bundle).
        int8: quantise to INT8, calibrated on ``calib_images`` training crops.
        data_root: calibration data (default: the run's training data from ``run.json``).
        calib_images: number of calibration crops.
        calib_inputs: ready normalised calibration inputs (1, C, h, w) instead of reading
            ``data_root`` (benchmarks of untrained models calibrate on noise).
        int8_scope: which layers to quantise, ``"decoder"`` or ``"all"`` (see :func:`quantize_onnx`).

    Returns:
        The written file (written atomically; for OpenVINO the ``.bin`` lands first).
    """
    from glofwatch.io.atomic import atomic_path
    from glofwatch.models.bundle import ModelBundle, load_bundle
    from glofwatch.models.registry import get_spec

    if fmt not in FORMATS:
        from glofwatch.registry import close_matches_hint

        hint = close_matches_hint(fmt, list(FORMATS))
        raise ConfigError(f"unknown export format '{fmt}'{hint} (known: {', '.join(FORMATS)})")
    if int8_scope not in INT8_SCOPES:
        from glofwatch.registry import close_matches_hint

        raise ConfigError(f"unknown INT8 scope '{int8_scope}'{close_matches_hint(int8_scope, list(INT8_SCOPES))} "
                          f"(known: {', '.join(INT8_SCOPES)})")
    ov: Any = import_openvino() if fmt == "openvino" else None  # the untyped module, used for openvino only
    if isinstance(model, ModelBundle):
        bundle, run = model, None
        if out is None:
            raise ConfigError("export of an in-memory model needs out=PATH")
    else:
        run = Path(model)
        bundle = load_bundle(run)
    out = Path(out) if out is not None else _default_out(run, fmt, int8)  # type: ignore[arg-type]
    if out.suffix.lower() != SUFFIXES[fmt]:
        raise ConfigError(f"{out}: a {fmt} export must end in {SUFFIXES[fmt]}; pass --out NAME{SUFFIXES[fmt]}")
    stride = get_spec(bundle.config.model).stride
    calibration = None
    with _temp_dir() as tmp:
        onnx_path = export_onnx_graph(bundle.net, bundle.spec.in_channels, stride, tmp / "fp32.onnx")
        if int8:
            if calib_inputs is not None:
                root, inputs = None, calib_inputs
            else:
                root = Path(data_root) if data_root is not None else _run_data_root(run)
                inputs = calibration_images(root, bundle.spec, stride, n=calib_images)
            onnx_path = quantize_onnx(onnx_path, tmp / "int8.onnx", inputs, scope=int8_scope)
            calibration = {"data_root": str(root) if root else None, "n_images": len(inputs), "method": "minmax",
                           "format": "QDQ", "scope": int8_scope}
        meta = export_metadata(bundle, int8=int8, calibration=calibration)
        if fmt == "onnx":
            _set_onnx_metadata(onnx_path, meta)
            with atomic_path(out) as tmp_out:
                shutil.copyfile(onnx_path, tmp_out)
        else:
            ov_model = ov.convert_model(str(onnx_path))
            ov.save_model(ov_model, str(tmp / "weights.xml"), compress_to_fp16=False)
            # the .xml names the hash of its .bin: a pair torn by a kill between the two renames is refused
            meta = {**meta, "weights_sha256": _sha256(tmp / "weights.bin")}
            ov_model.set_rt_info(json.dumps(meta), OV_RT_PATH)
            ov.save_model(ov_model, str(tmp / "model.xml"), compress_to_fp16=False)
            if _sha256(tmp / "model.bin") != meta["weights_sha256"]:
                raise ConfigError(f"{out}: OpenVINO wrote different weights twice; export again")
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out.with_suffix(".bin")) as tmp_bin:
                shutil.copyfile(tmp / "model.bin", tmp_bin)
            with atomic_path(out) as tmp_xml:
                shutil.copyfile(tmp / "model.xml", tmp_xml)
    return out


def _run_data_root(run: Path | None) -> Path:
    from glofwatch.models.bundle import run_data_root

    if run is None:
        raise ConfigError("INT8 calibration of an in-memory model needs data_root=ROOT")
    return run_data_root(run, purpose="INT8 calibration")


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_size_mb(path: Path) -> float:
    """Size of an exported model in MB (OpenVINO: ``.xml`` + ``.bin``)."""
    total = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        total += path.with_suffix(".bin").stat().st_size
    return math.ceil(total / 1e4) / 100
