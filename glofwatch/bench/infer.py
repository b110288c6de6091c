"""``glofwatch bench infer``: every model x backend side by side in one run.

For each model the network is exported once (fp32 ONNX, and INT8 QDQ ONNX when an
``-int8`` backend is asked for); then each backend runs in its own fresh Python
process (``isolate=True``) so that its peak resident memory is its own, or
all backends run round-robin in one process (``interleave=True``) so that
changes in machine load hit every backend alike (use this on a shared machine
for honest ratios). Each
measures the network alone on normalised random input of ``size`` x ``size``
(normalisation is identical for every backend and excluded), at each batch size:
``warmup`` untimed calls, then timed calls until ``min_iters`` calls and
``min_time_s`` seconds (at most ``max_iters``).

Reported per model, backend and batch: images/s (batch / median latency),
latency p50/p95 in ms per call, speed-up over eager torch, achieved GFLOP/s
(model GFLOPs x images/s) and its share of the machine's ``torch.mm`` peak
measured in the same run; per model and backend: peak RSS and load time.

Models are registry names (random weights: speed does not depend on them;
INT8 is then calibrated on noise) or run folders / model files (INT8
calibrated on the run's training crops).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, GlofwatchError

BENCH_BACKENDS = ("torch", "onnxruntime", "openvino", "onnxruntime-int8", "openvino-int8")
DEFAULT_MODELS = ("unet-efflite0-slim", "deeplabv3plus-resnet50")
DEFAULT_BACKENDS = ("torch", "onnxruntime", "openvino")


def parse_list(values: list[str] | tuple[str, ...]) -> list[str]:
    """Split repeated and comma-separated option values: ``["a,b", "c"] -> ["a", "b", "c"]``."""
    return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


def _check_backends(backends: list[str]) -> None:
    from glofwatch.registry import close_matches_hint

    for name in backends:
        if name not in BENCH_BACKENDS:
            hint = close_matches_hint(name, list(BENCH_BACKENDS))
            raise ConfigError(f"unknown benchmark backend '{name}'{hint} (known: {', '.join(BENCH_BACKENDS)})")


def bench_bundle(model: str) -> tuple[Any, str]:
    """(bundle, kind) for a registry name (random weights, seed 0) or a run folder / model file."""
    import torch

    from glofwatch.config import TrainConfig
    from glofwatch.models.bundle import ModelBundle, load_bundle
    from glofwatch.models.registry import MODELS, build_model

    if model in MODELS and not Path(model).exists():
        torch.manual_seed(0)
        net = build_model(model, weights=None).eval()
        return ModelBundle(net, TrainConfig(model=model, weights="none", preset="bench"), {}, {}), "random-init"
    if not Path(model).exists():
        from glofwatch.registry import close_matches_hint

        raise ConfigError(f"'{model}' is neither a model name{close_matches_hint(model, MODELS.names())} "
                          "nor a run folder; see `glofwatch models`")
    return load_bundle(model), "trained"


def measure_backend(job: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """Time one backend on one model (the body of a worker process).

    Args:
        job: {"model": file, "engine": torch|onnxruntime|openvino, "in_channels", "size",
            "batches", "warmup", "min_iters", "max_iters", "min_time_s", "threads"}.
        model: an in-memory bundle to use instead of ``job["model"]`` (in-process runs).

    Returns:
        {"load_s", "rss_start_mb", "peak_rss_mb", "batches": {"1": {p50_ms, p95_ms, mean_ms,
        images_per_s, iters}, ...}}.
    """
    import torch

    from glofwatch.bench.peak import rss_mb
    from glofwatch.infer.backends import build_backend
    from glofwatch.runtime import peak_rss_mb

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    rss0 = rss_mb()
    t0 = time.perf_counter()
    backend = build_backend(job["engine"], model if model is not None else Path(job["model"]), device="cpu",
                            threads=job.get("threads"))
    load_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {}
    for batch in job["batches"]:
        z = torch.randn(batch, job["in_channels"], job["size"], job["size"], generator=gen)
        for _ in range(job["warmup"]):
            backend.run(z)
        times: list[float] = []
        while not _enough(times, job):
            t = time.perf_counter()
            backend.run(z)
            times.append(time.perf_counter() - t)
        out[str(batch)] = _timing(times, batch)
    return {"load_s": load_s, "rss_start_mb": rss0, "peak_rss_mb": peak_rss_mb(), "batches": out}


def _enough(times: list[float], job: dict[str, Any]) -> bool:
    return len(times) >= job["min_iters"] and (sum(times) >= job["min_time_s"] or len(times) >= job["max_iters"])


def _timing(times: list[float], batch: int) -> dict[str, Any]:
    import numpy as np

    arr = np.asarray(times)
    p50 = float(np.percentile(arr, 50))
    return {"p50_ms": 1000 * p50, "p95_ms": float(1000 * np.percentile(arr, 95)), "mean_ms": float(1000 * arr.mean()),
            "images_per_s": batch / p50, "iters": len(times)}


def measure_interleaved(jobs: list[dict[str, Any]], model: Any = None) -> list[dict[str, Any] | Exception]:
    """Time several backends of one model round-robin in this process.

    Every round calls each unfinished backend once (the order rotates), so a
    change in machine load hits all backends alike: the ratios stay honest on a
    shared machine. Peak RSS is this process's (all backends together).

    Returns:
        One result (as :func:`measure_backend`) or the exception per job.
    """
    import torch

    from glofwatch.bench.peak import rss_mb
    from glofwatch.infer.backends import build_backend
    from glofwatch.runtime import peak_rss_mb

    job0 = jobs[0]
    if job0.get("threads"):
        torch.set_num_threads(int(job0["threads"]))
    built: list[Any] = []
    results: list[dict[str, Any] | Exception] = []
    for job in jobs:
        rss0 = rss_mb()
        t0 = time.perf_counter()
        try:
            src = model if job["engine"] == "torch" and model is not None else Path(job["model"])
            built.append(build_backend(job["engine"], src, device="cpu", threads=job.get("threads")))
            results.append({"load_s": time.perf_counter() - t0, "rss_start_mb": rss0, "batches": {}})
        except Exception as exc:  # noqa: BLE001 - reported per backend
            built.append(None)
            results.append(exc)
    live = [i for i, b in enumerate(built) if b is not None]
    gen = torch.Generator().manual_seed(0)
    for batch in job0["batches"]:
        z = torch.randn(batch, job0["in_channels"], job0["size"], job0["size"], generator=gen)
        for i in live:
            for _ in range(job0["warmup"]):
                built[i].run(z)
        times: dict[int, list[float]] = {i: [] for i in live}
        rnd = 0
        while not all(_enough(times[i], job0) for i in live):
            order = live[rnd % len(live):] + live[: rnd % len(live)]
            for i in order:
                if _enough(times[i], job0):
                    continue
                t = time.perf_counter()
                built[i].run(z)
                times[i].append(time.perf_counter() - t)
            rnd += 1
        for i in live:
            results[i]["batches"][str(batch)] = _timing(times[i], batch)  # type: ignore[index]
    peak = peak_rss_mb()
    for i in live:
        results[i]["peak_rss_mb"] = peak  # type: ignore[index]
    return results


def _exports(bundle: Any, backends: list[str], folder: Path, kind: str, model: str, size: int,
             int8_scope: str = "decoder") -> dict[str, Any]:
    """Export the files the backends need; returns {"onnx": path, "int8": path, "export_s": {...}}."""
    import torch

    from glofwatch.models.export import export_model

    files: dict[str, Any] = {"export_s": {}}
    if any(b != "torch" for b in backends):
        t0 = time.perf_counter()
        files["onnx"] = export_model(bundle, "onnx", out=folder / "model.onnx")
        files["export_s"]["onnx"] = time.perf_counter() - t0
    if any(b.endswith("-int8") for b in backends):
        t0 = time.perf_counter()
        try:
            if kind == "random-init":  # untrained: calibrate on noise (speed only)
                gen = torch.Generator().manual_seed(1)
                noise = [torch.randn(1, bundle.spec.in_channels, size, size, generator=gen).numpy() for _ in range(4)]
                files["int8"] = export_model(bundle, "onnx", out=folder / "model-int8.onnx", int8=True,
                                             calib_inputs=noise, int8_scope=int8_scope)
            else:  # trained: calibrate on the run's training crops
                files["int8"] = export_model(Path(model), "onnx", out=folder / "model-int8.onnx", int8=True,
                                             calib_images=16, int8_scope=int8_scope)
        except GlofwatchError as exc:
            files["int8_error"] = str(exc)
        files["export_s"]["int8"] = time.perf_counter() - t0
    return files


def bench_infer(
    models: list[str],
    backends: list[str],
    out_dir: str | Path | None,
    size: int = 320,
    batches: tuple[int, ...] = (1, 8),
    warmup: int = 2,
    min_iters: int = 5,
    max_iters: int = 50,
    min_time_s: float = 3.0,
    threads: int | None = None,
    isolate: bool = True,
    matmul_n: int = 0,
    progress: Callable[[str], None] | None = None,
    interleave: bool = False,
    int8_scope: str = "decoder",
) -> dict[str, Any]:
    """Benchmark ``models`` x ``backends``; write ``infer.json`` and ``infer.md`` to ``out_dir``.

    Args:
        models: registry names or run folders / model files.
        backends: names from :data:`BENCH_BACKENDS`.
        out_dir: output folder (None: write nothing).
        size: square input side in pixels (rounded down to each model's stride).
        batches: batch sizes to time.
        warmup, min_iters, max_iters, min_time_s: timing loop (see module doc).
        threads: CPU threads for every backend (default: torch's default).
        isolate: one fresh process per backend (honest peak RSS); False runs in this
            process (faster; ``peak_rss_mb`` is then this process's peak so far).
        matmul_n: side of the square matrices for the ``torch.mm`` peak (0: the best of several sides,
            :data:`glofwatch.bench.peak.ROBUST_SIZES`).
        progress: called with one line per step.
        interleave: time all backends of a model round-robin in this process
            (:func:`measure_interleaved`; honest ratios on a busy machine, one shared peak RSS).
            Overrides ``isolate``.
        int8_scope: layers quantised for the ``-int8`` backends (see
            :func:`glofwatch.models.export.quantize_onnx`).

    Returns:
        The report written to ``infer.json``.
    """
    import torch

    from glofwatch.bench import machine_info, run_worker, write_report
    from glofwatch.bench.peak import ROBUST_SIZES, count_gflops, matmul_peak_gflops
    from glofwatch.models.bundle import save_bundle
    from glofwatch.models.registry import get_spec

    say = progress or (lambda msg: None)
    _check_backends(backends)
    if not models:
        raise ConfigError("no models to benchmark; pass --models NAME[,NAME...]")
    threads = threads or torch.get_num_threads()
    say(f"matrix-multiply peak ({matmul_n or 'best of several'} sides, fp32, {threads} threads)")
    peak = matmul_peak_gflops(matmul_n or ROBUST_SIZES, threads=threads)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="glofwatch-bench-") as work:
        for i, model in enumerate(models):
            bundle, kind = bench_bundle(model)
            stride = get_spec(bundle.config.model).stride
            side = max(stride, size // stride * stride)
            folder = Path(work) / f"m{i}"
            folder.mkdir()
            say(f"{model}: counting FLOPs and exporting")
            gflops = count_gflops(bundle.net, (1, bundle.spec.in_channels, side, side))
            files = _exports(bundle, backends, folder, kind, model, side, int8_scope)
            if isolate and not interleave and "torch" in backends:
                files["torch"] = save_bundle(folder / "model.pt", bundle.net, bundle.config, bundle.metrics,
                                             bundle.meta)
            jobs: list[tuple[str, dict[str, Any]]] = []
            for name in backends:
                engine = name.removesuffix("-int8")
                if name.endswith("-int8") and "int8" not in files:
                    errors.append({"model": model, "backend": name, "error": files.get("int8_error", "no INT8 export")})
                    continue
                source = (files["int8"] if name.endswith("-int8")
                          else files.get("onnx") if engine != "torch" else files.get("torch"))
                jobs.append((name, {"model": str(source) if source else None, "engine": engine,
                                    "in_channels": bundle.spec.in_channels, "size": side, "batches": list(batches),
                                    "warmup": warmup, "min_iters": min_iters, "max_iters": max_iters,
                                    "min_time_s": min_time_s, "threads": threads}))
            if interleave:
                say(f"{model}: {', '.join(n for n, _ in jobs)} interleaved")
                outcomes = measure_interleaved([j for _, j in jobs], model=bundle)
            else:
                outcomes = []
                for name, job in jobs:
                    say(f"{model}: {name}")
                    try:
                        outcomes.append(run_worker("glofwatch.bench.infer", job) if isolate else
                                        measure_backend(job, model=bundle if job["engine"] == "torch" else None))
                    except Exception as exc:  # noqa: BLE001 - one failing backend must not lose the others
                        outcomes.append(exc)
            for (name, _), res in zip(jobs, outcomes, strict=True):
                if isinstance(res, Exception):
                    msg = str(res).splitlines()[0] if str(res) else res.__class__.__name__
                    errors.append({"model": model, "backend": name, "error": msg})
                    say(f"{model}: {name} failed: {msg}")
                    continue
                results.append({"model": bundle.config.model, "source": model, "kind": kind, "backend": name,
                                "size": side, "gflops_per_image": gflops,
                                "export_s": files["export_s"].get("int8" if name.endswith("-int8") else "onnx"), **res})
    _derive(results, peak["gflops"])
    doc = {
        "kind": "infer",
        "machine": machine_info(),
        "settings": {"size": size, "batches": list(batches), "warmup": warmup, "min_iters": min_iters,
                     "max_iters": max_iters, "min_time_s": min_time_s, "threads": threads,
                     "isolate": isolate and not interleave, "interleave": interleave, "int8_scope": int8_scope,
                     "measures": "network forward on normalised input; normalisation excluded"},
        "matmul_peak": peak,
        "results": results,
        "errors": errors,
    }
    if out_dir is not None:
        write_report(out_dir, "infer", doc, infer_markdown(doc))
    return doc


def _derive(results: list[dict[str, Any]], peak_gflops: float) -> None:
    torch_rows = {r["model"]: r for r in results if r["backend"] == "torch"}
    for r in results:
        ref = torch_rows.get(r["model"])
        for b, m in r["batches"].items():
            m["achieved_gflops"] = r["gflops_per_image"] * m["images_per_s"]
            m["peak_fraction"] = m["achieved_gflops"] / peak_gflops
            base = ref["batches"].get(b) if ref else None
            m["speedup_vs_torch"] = m["images_per_s"] / base["images_per_s"] if base else None


def infer_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: settings line, then one row per model x backend x batch."""
    from glofwatch.bench import markdown_table

    mach, s, peak = doc["machine"], doc["settings"], doc["matmul_peak"]
    has_int8 = any(r["backend"].endswith("-int8") for r in doc["results"])
    mode = (f"INT8 scope: {s.get('int8_scope', 'decoder')}. " if has_int8
            else "") + ("Backends timed round-robin in one process (peak RSS shared)" if s.get("interleave")
            else "One process per backend" if s.get("isolate") else "Backends timed one after another in one process")
    head = (f"Inference at {s['size']}x{s['size']} px, network only, {s['threads']} thread(s) on {mach['cpu']} "
            f"({mach['logical_cpus']} logical CPUs, load {mach['load_avg_1min']}); torch.mm fp32 peak "
            f"{peak['gflops']:.1f} GFLOP/s. Speed-up is against eager torch of the same model and batch. "
            f"{mode}. INT8 rows do integer arithmetic and can exceed the fp32 peak.\n")
    rows = []
    for r in doc["results"]:
        for b, m in r["batches"].items():
            rows.append([r["model"], r["backend"], int(b), m["images_per_s"], m["p50_ms"], m["p95_ms"],
                         m["speedup_vs_torch"], r["gflops_per_image"], m["achieved_gflops"],
                         f"{100 * m['peak_fraction']:.0f} %", r["peak_rss_mb"]])
    table = markdown_table(["model", "backend", "batch", "images/s", "p50 ms", "p95 ms", "x torch", "GFLOPs/img",
                            "GFLOP/s", "of mm peak", "peak RSS MiB"], rows)
    errs = "".join(f"\n- {e['model']} / {e['backend']}: {e['error']}" for e in doc["errors"])
    return head + "\n" + table + ("\n\nFailed:" + errs if errs else "")


def _worker_main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    print(json.dumps(measure_backend(job)))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
