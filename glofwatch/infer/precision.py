"""Mapping precision on CPU: the fastest graph whose validation IoU stays within 0.5 points of fp32.

Candidates, all run by OpenVINO:

* ``fp32``: the exported graph, f32 throughout (the reference).
* ``int8``: post-training static INT8 (:func:`glofwatch.models.quantize.quantize_onnx`, the
  decoder quantised, calibrated on training crops), the rest f32.
* ``int8-all`` (asked for only, never chosen by ``auto``): the same with the encoder quantised
  too (``--int8-scope all``). For the demo model on a 2-core AVX2 EPYC it ran 251 ns per pixel
  against 388 for ``int8`` and 524 for fp32, and its validation IoU was 80.22 against 79.81 for
  fp32; but on the synthetic Sentinel-2 tile it mapped 4.6 % of the lake pixels differently,
  pixel IoU 0.883 against 0.900 and lake recall 0.659 against 0.689: the 8-bit validation crops
  do not show what quantising the encoder costs on a whole L2A scene.
* ``bf16``: the fp32 graph run in bfloat16, only on CPUs with native bf16 (AVX512-BF16 or AMX).

:func:`choose_precision` scores each on the run's validation crops (micro IoU, the same
crops and threshold for all) and times each on the same probe batch, round-robin. The
choice is the fastest candidate whose IoU is at least the fp32 IoU minus
:data:`IOU_TOLERANCE`; if none is, fp32, and the record says why. The record
(``RUN/export/precision.json``) is kept per CPU (its model name and any ``ONEDNN_MAX_CPU_ISA``
cap: a run folder shared by different nodes holds one record for each) and keyed by the model
file, so it is made once per trained model and machine kind and redone when the model changes.
``glofwatch map --precision auto`` (the default) uses it on CPU; a run without validation
crops maps in fp32 with a note.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, GlofwatchError, InputError
from glofwatch.infer.runtimes import Backend
from glofwatch.runtime import ISA_CAP_VAR, cpu_model, isa_cap

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "int8", "int8-all", "bf16")
IOU_TOLERANCE = 0.005
"""Largest validation IoU loss (0.5 points) a faster graph may cost and still be the default."""
CHOICE_FILE = "precision.json"
PROBE_SHAPE = (4, 512, 512)
PROBE_RUNS = 3


def check_precision(name: str) -> str:
    """``name`` when it is one of :data:`PRECISIONS`, else a :class:`ConfigError` with the close matches."""
    if name not in PRECISIONS:
        from glofwatch.registry import close_matches_hint

        raise ConfigError(f"unknown precision '{name}'{close_matches_hint(name, list(PRECISIONS))} "
                          f"(known: {', '.join(PRECISIONS)})")
    return name


NO_BF16_ISAS = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"})
"""Caps below ``AVX512_CORE_BF16``: under them OpenVINO cannot compile a bf16 graph."""


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo)
    and no instruction-set cap below bf16 (:func:`isa_cap`) is set."""
    if isa_cap() in NO_BF16_ISAS:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_signature() -> str:
    """The CPU model and the instruction-set cap: a choice timed on one CPU is not reused on another."""
    cap = isa_cap()
    return f"{cpu_model()}, {ISA_CAP_VAR}={cap}" if cap else cpu_model()


def _model_key(model_file: Path) -> dict[str, Any]:
    st = model_file.stat()
    return {"model_file": str(model_file.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "cpu": cpu_signature()}


def build_candidate(name: str, run: Path, threads: int | None = None, data_root: Path | None = None) -> Backend:
    """The OpenVINO backend of precision ``name`` for the run folder ``run`` (INT8 is exported once, cached)."""
    from glofwatch.infer.backends import build_backend, cached_export
    from glofwatch.models.export import export_model

    check_precision(name)
    if name == "bf16" and not cpu_has_bf16():
        cap = isa_cap()
        why = f"{ISA_CAP_VAR}={cap} caps it" if cap in NO_BF16_ISAS else "no avx512_bf16 or amx_bf16 in /proc/cpuinfo"
        raise ConfigError(f"--precision bf16: this CPU has no native bfloat16 ({why}); "
                          "use --precision int8, fp32 or auto")
    if name in ("fp32", "auto", "bf16"):
        # the run's cached export when there is one: the same graph, and no network built to get it
        backend = build_backend("openvino", cached_export(run) or run, device="cpu", threads=threads)
    if name in ("fp32", "auto"):
        return backend
    if name == "bf16":
        backend.use_precision("bf16")  # type: ignore[attr-defined]
        return backend
    model_file = run / "model.pt"
    scope = "all" if name == "int8-all" else "decoder"
    int8 = run / "export" / f"model-{name}.onnx"
    if not int8.is_file() or int8.stat().st_mtime_ns < model_file.stat().st_mtime_ns:
        try:
            export_model(run, "onnx", out=int8, int8=True, data_root=data_root, int8_scope=scope)
        except InputError as exc:
            raise InputError(f"{run}: cannot calibrate INT8 ({exc}); map with --precision fp32") from None
    backend = build_backend("openvino", int8, device="cpu", threads=threads)
    backend.name = f"openvino-{name}"
    return backend


def _val_iou(backend: Backend, run: Path, root: Path) -> float:
    import tempfile

    from glofwatch.infer.evaluate import evaluate

    with tempfile.TemporaryDirectory(prefix="glofwatch-precision-") as tmp:
        summary = evaluate(backend.predictor(), root, "val", tmp, save_masks=False, run=run)
    return float(summary["micro"]["iou"])


def _drop_failing(backends: dict[str, Backend]) -> dict[str, str]:
    """Remove the candidates other than fp32 that fail on a small input; returns why, by name.

    OpenVINO can report bf16 and still fail to compile it (under an ``ONEDNN_MAX_CPU_ISA`` cap that
    the flag check does not know, say); the choice is then made without that candidate.
    """
    import torch

    probe = torch.zeros(1, next(iter(backends.values())).spec.in_channels, 64, 64)
    skipped: dict[str, str] = {}
    for name in [n for n in backends if n != "fp32"]:
        try:
            backends[name].run(probe)
        except Exception as exc:  # noqa: BLE001 - any runtime failure rules the candidate out
            skipped[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            log.warning("mapping precision: %s left out (%s)", name, skipped[name])
            del backends[name]
    return skipped


def _time_per_px(backends: dict[str, Backend]) -> dict[str, float]:
    """Nanoseconds per pixel of each backend on one probe batch, best of :data:`PROBE_RUNS`, round-robin."""
    import torch

    first = next(iter(backends.values()))
    n, h, w = PROBE_SHAPE
    z = torch.randn(n, first.spec.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    for b in backends.values():
        b.run(z)  # compile for this shape
    best = dict.fromkeys(backends, float("inf"))
    for _ in range(PROBE_RUNS):
        for name, b in backends.items():
            t0 = time.perf_counter()
            b.run(z)
            best[name] = min(best[name], time.perf_counter() - t0)
    return {k: v / (n * h * w) * 1e9 for k, v in best.items()}


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The choices of a ``precision.json``, by :func:`cpu_signature` (empty when missing or unreadable).

    The file holds ``{"records": {cpu: record}}``; an older file, one flat record, counts as the
    record of the CPU it names (none: it is redone).
    """
    from glofwatch.io.files import read_json

    if not path.is_file():
        return {}
    try:
        doc = read_json(path)
    except GlofwatchError:
        return {}
    if isinstance(doc.get("records"), dict):
        return {str(k): v for k, v in doc["records"].items() if isinstance(v, dict)}
    return {str(doc["cpu"]): doc} if doc.get("cpu") else {}


def choose_precision(run: str | Path, data: str | Path | None = None, threads: int | None = None,
                     refresh: bool = False) -> dict[str, Any]:
    """Score and time the candidates for ``run`` and record the choice (see the module docstring).

    Args:
        run: run folder (with ``model.pt`` and the run's data root, or ``data``).
        data: the data set holding the run's validation crops (default: the run's own).
        threads: CPU threads for the runtimes.
        refresh: redo the choice even when a record for this model file exists.

    Returns:
        The record: ``chosen``, ``reason``, per candidate ``iou`` and ``ns_per_px``, the tolerance.

    Raises:
        GlofwatchError: no validation crops (say where to find them), or OpenVINO missing.
    """
    from glofwatch.io.atomic import write_json_atomic
    from glofwatch.models.bundle import run_data_root

    run = Path(run)
    model_file = run / "model.pt"
    if not model_file.is_file():
        raise ConfigError(f"{run}: no model.pt; --precision auto needs a run folder (or pass --precision fp32)")
    record_path = run / "export" / CHOICE_FILE
    key = _model_key(model_file)
    names = ["fp32", "int8"] + (["bf16"] if cpu_has_bf16() else [])
    records = read_records(record_path)
    old = records.get(key["cpu"], {})
    if not refresh and old:
        # kept for the same model file, when it scored the same candidates
        tried = set(old.get("candidates", {})) | set(old.get("skipped") or {})
        if all(old.get(k) == v for k, v in key.items()) and tried == set(names):
            return old
    root = run_data_root(run, data, purpose="choosing the mapping precision")
    backends = {name: build_candidate(name, run, threads, root) for name in names}
    skipped = _drop_failing(backends)
    names = list(backends)
    ious = {name: _val_iou(b, run, root) for name, b in backends.items()}
    speed = _time_per_px(backends)
    floor = ious["fp32"] - IOU_TOLERANCE
    ok = [n for n in names if ious[n] >= floor]
    chosen = min(ok, key=lambda n: speed[n])
    lost = {n: round(100 * (ious["fp32"] - ious[n]), 3) for n in names}
    if chosen == "fp32":
        reason = ("fp32: " + "; ".join(f"{n} loses {lost[n]:.2f} IoU points on validation (more than "
                                         f"{100 * IOU_TOLERANCE:.1f})" if ious[n] < floor else
                                         f"{n} is not faster here ({speed[n]:.0f} vs {speed['fp32']:.0f} ns/px)"
                                         for n in names if n != "fp32"))
    else:
        reason = (f"{chosen}: {speed['fp32'] / speed[chosen]:.2f}x the fp32 speed, validation IoU "
                  f"{100 * ious[chosen]:.2f} vs {100 * ious['fp32']:.2f} (tolerance {100 * IOU_TOLERANCE:.1f} points)")
    record = {**key, "data_root": str(root), "tolerance_iou": IOU_TOLERANCE, "chosen": chosen, "reason": reason,
              "candidates": {n: {"val_iou": ious[n], "iou_points_lost": lost[n], "ns_per_px": round(speed[n], 1)}
                             for n in names},
              "bf16_native": cpu_has_bf16(), "probe": list(PROBE_SHAPE), "skipped": skipped}
    # read again: another node may have written its record while this one was timing. The records of other CPUs
    # stay (a run folder shared by a cluster's different nodes), those of older models go
    kept = {cpu: r for cpu, r in read_records(record_path).items()
            if cpu != key["cpu"] and all(r.get(k) == v for k, v in key.items() if k != "cpu")}
    write_json_atomic(record_path, {"records": {**kept, key["cpu"]: record}})
    log.info("mapping precision for %s: %s", run, reason)
    return record


def mapping_backend(model: str | Path, precision: str = "auto", backend: str = "auto", device: str = "auto",
                    threads: int | None = None) -> tuple[Backend, str | None]:
    """The backend ``glofwatch map`` runs, and a note about the precision (None when nothing to say).

    ``precision`` other than fp32 applies to CPU mapping of a run folder with OpenVINO
    (``backend`` auto or openvino); ``auto`` follows :func:`choose_precision`, falling back to
    fp32 with a note when the choice cannot be made (no validation crops, no OpenVINO).
    """
    from glofwatch.infer.backends import build_backend
    from glofwatch.runtime import resolve_device

    check_precision(precision)
    run = Path(model)
    cpu = resolve_device(device) == "cpu"
    if precision == "fp32" or not cpu or backend not in ("auto", "openvino") or not (run / "model.pt").is_file():
        if precision in ("int8", "int8-all", "bf16"):
            raise ConfigError(f"--precision {precision} needs a run folder mapped on CPU with OpenVINO "
                              f"(got {model}, --device {device}, --backend {backend}); use --precision fp32 or auto")
        return build_backend(backend, model, device=device, threads=threads), None
    if precision != "auto":
        return build_candidate(precision, run, threads), f"precision {precision} (asked for)"
    try:
        record = choose_precision(run, threads=threads)
    except GlofwatchError as exc:
        note = f"mapped in fp32: the INT8/bf16 check could not run ({exc})"
        return build_backend(backend, model, device=device, threads=threads), note
    return build_candidate(record["chosen"], run, threads), f"precision {record['reason']}"


__all__ = ["CHOICE_FILE", "IOU_TOLERANCE", "ISA_CAP_VAR", "PRECISIONS", "build_candidate", "check_precision",
           "choose_precision", "cpu_has_bf16", "cpu_signature", "isa_cap", "mapping_backend", "read_records"]
