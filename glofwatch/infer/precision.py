"""Mapping precision on CPU: the fastest graph whose validation IoU and lake recall stay within 0.5 points of fp32.

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

:func:`choose_precision` scores each on the run's validation crops (micro IoU and the recall of
truth lakes of at least 0.01 km2, the same crops and threshold for all) and times each on the
same probe batch, round-robin. The choice is the fastest candidate whose IoU is at least the
fp32 IoU minus :data:`IOU_TOLERANCE` and whose lake recall, net of the lakes it gains, is at
least fp32's minus :data:`LAKE_RECALL_TOLERANCE`; if none is, fp32, and the record says why.
The record also counts the lakes each candidate loses and gains against fp32 and the share of
fp32's lake pixels it maps the other way.

What the lake rule can see is bounded by the validation crops: with 39 lakes (the demo run),
one lost lake is 2.6 points, so the rule allows none; a candidate that flips none there can
still flip a lake whose fp32 cover sits at the 50 % found rule on a whole scene (on the
synthetic tile, bf16 and INT8 each lost a lake fp32 found at 51 % cover). ``glofwatch bench
scene`` lists the lakes a precision loses and gains, with their cover, and ``glofwatch bench
precision`` pools them over several tiles. The record
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
LAKE_RECALL_TOLERANCE = 0.005
"""Largest validation lake-recall loss (0.5 points, net of lakes gained) a faster graph may cost."""
LAKE_MIN_PX = 100
"""Smallest validation truth lake the recall counts: 0.01 km2 at Sentinel-2's 10 m, as ``bench scene``."""
CHOICE_RULES = "val-iou+lake-recall"
"""The rules a record was made by: a record made by other rules is redone."""
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


def _val_scores(backends: dict[str, Backend], run: Path, root: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """Each candidate's validation IoU and lake recall, and how much of fp32's lake map it changes.

    One pass over the run's validation crops, every candidate on every crop: micro IoU (one
    confusion matrix over the valid pixels, as ``glofwatch evaluate``), the truth lakes of at least
    :data:`LAKE_MIN_PX` px it finds (:func:`glofwatch.connectivity.lakes_found`), the found status
    it flips against fp32 (``lakes_lost``, ``lakes_gained``) and the share of fp32's lake pixels it
    maps the other way (``lake_px_changed_pct``). Also returns the number of truth lakes scored.
    """
    import numpy as np

    from glofwatch.connectivity import lakes_found
    from glofwatch.infer.evalset import eval_items
    from glofwatch.infer.meter import SegmentationMeter

    items = eval_items(root, "val", run)
    predictors = {n: b.predictor() for n, b in backends.items()}
    meters = {n: SegmentationMeter(threshold=p.threshold, curve_bins=None) for n, p in predictors.items()}
    found: dict[str, list[np.ndarray]] = {n: [] for n in backends}
    changed = dict.fromkeys(backends, 0)
    ref_px = 0
    for i in items.indices:
        image, truth, valid = items.dataset.load(i)
        lake = (truth == 1) & valid
        masks = {}
        for n, p in predictors.items():
            res = p.predict_image(image.astype(np.float32), valid)
            meters[n].update(res.probability[None], truth[None].astype(np.uint8), valid=valid[None])
            masks[n] = (res.mask == 1) & valid
            found[n].append(lakes_found(lake, masks[n], LAKE_MIN_PX))
        ref_px += int(np.count_nonzero(masks["fp32"]))
        for n, m in masks.items():
            changed[n] += int(np.count_nonzero(m != masks["fp32"]))
    ref = np.concatenate(found["fp32"]) if found["fp32"] else np.zeros(0, bool)
    out = {}
    for n in backends:
        f = np.concatenate(found[n]) if found[n] else np.zeros(0, bool)
        out[n] = {"val_iou": float(meters[n].summary()["micro"]["iou"]), "lakes_found": int(f.sum()),
                  "lakes_lost": int((ref & ~f).sum()), "lakes_gained": int((~ref & f).sum()),
                  "lake_px_changed_pct": round(100 * changed[n] / max(ref_px, 1), 3)}
    return out, int(ref.size)


def _fails(name: str, score: dict[str, Any], ref: dict[str, Any], n_lakes: int) -> str:
    """Why candidate ``name``'s validation ``score`` rules it out against fp32's ``ref`` ('' when it passes)."""
    why = []
    if score["val_iou"] < ref["val_iou"] - IOU_TOLERANCE:
        why.append(f"loses {score['iou_points_lost']:.2f} IoU points on validation (more than "
                   f"{100 * IOU_TOLERANCE:.1f})")
    lost = score.get("lake_recall_points_lost")
    if lost is not None and lost > 100 * LAKE_RECALL_TOLERANCE:
        why.append(f"loses {lost:.2f} lake-recall points on validation ({score['lakes_lost']} of {n_lakes} lakes "
                   f"lost, {score['lakes_gained']} gained; more than {100 * LAKE_RECALL_TOLERANCE:.1f})")
    return f"{name} " + " and ".join(why) if why else ""


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
    key = {**_model_key(model_file), "rules": CHOICE_RULES}
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
    scores, n_lakes = _val_scores(backends, run, root)
    speed = _time_per_px(backends)
    ref = scores["fp32"]
    for sc in scores.values():
        sc["iou_points_lost"] = round(100 * (ref["val_iou"] - sc["val_iou"]), 3)
        lakes_lost = 100 * (ref["lakes_found"] - sc["lakes_found"]) / n_lakes if n_lakes else None
        sc["lake_recall_points_lost"] = None if lakes_lost is None else round(lakes_lost, 3)
    chosen = min((n for n in names if not _fails(n, scores[n], ref, n_lakes)), key=lambda n: speed[n])
    if chosen == "fp32":
        reason = "fp32: " + "; ".join(_fails(n, scores[n], ref, n_lakes) or
                                      f"{n} is not faster here ({speed[n]:.0f} vs {speed['fp32']:.0f} ns/px)"
                                      for n in names if n != "fp32")
    else:
        c = scores[chosen]
        lakes = (f"lakes found {c['lakes_found']} vs {ref['lakes_found']} of {n_lakes} (lost {c['lakes_lost']}, "
                 f"gained {c['lakes_gained']})" if n_lakes else
                 f"no validation lake of {LAKE_MIN_PX} px or more, so lake recall not checked")
        reason = (f"{chosen}: {speed['fp32'] / speed[chosen]:.2f}x the fp32 speed, validation IoU "
                  f"{100 * c['val_iou']:.2f} vs {100 * ref['val_iou']:.2f} (tolerance {100 * IOU_TOLERANCE:.1f} "
                  f"points), {lakes}")
    record = {**key, "data_root": str(root), "tolerance_iou": IOU_TOLERANCE,
              "tolerance_lake_recall": LAKE_RECALL_TOLERANCE, "lake_min_px": LAKE_MIN_PX, "val_lakes": n_lakes,
              "chosen": chosen, "reason": reason,
              "candidates": {n: {**scores[n], "ns_per_px": round(speed[n], 1)} for n in names},
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


__all__ = ["CHOICE_FILE", "CHOICE_RULES", "IOU_TOLERANCE", "ISA_CAP_VAR", "LAKE_MIN_PX", "LAKE_RECALL_TOLERANCE",
           "PRECISIONS", "build_candidate", "check_precision", "choose_precision", "cpu_has_bf16", "cpu_signature",
           "isa_cap", "mapping_backend", "read_records"]
