"""Benchmarks that back the performance claims: inference, training steps, whole tiles, regions.

Each benchmark writes ``<kind>.json`` (every number, plus the machine and the
settings) and ``<kind>.md`` (a Markdown table) into one output folder:

* :mod:`glofwatch.bench.infer` -- images/s, latency, peak RSS and achieved
  GFLOP/s of every model x backend, side by side in one run, against the
  machine's measured matrix-multiply peak (:mod:`glofwatch.bench.peak`).
* :mod:`glofwatch.bench.train` -- seconds per training step per preset x
  precision x torch.compile x channels-last, on CPU or CUDA, and the projected
  time of the study protocol.
* :mod:`glofwatch.bench.scene` -- wall time, peak memory, network floor and lake
  recall of mapping a whole synthetic Sentinel-2 tile, reference against fast path.
* :mod:`glofwatch.bench.region` -- tiles per hour on 1 and 2 Dask workers, scaling
  efficiency and the projected time of a 350-tile region.
* :mod:`glofwatch.bench.trim` -- lake pixels the fast path's NDWI screen and trimmed
  boxes lose on real crops, per trim context.

Numbers on a shared or busy machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, library versions and thread settings of this machine."""
    import psutil
    import torch

    from glofwatch import __version__
    from glofwatch.runtime import ISA_CAP_VAR, cpu_model

    cpu = cpu_model()
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "glofwatch": __version__,
        # instruction-set caps that make this CPU run like an older one (README, "An AVX2-only CPU")
        "isa_caps": {k: os.environ[k] for k in (ISA_CAP_VAR, "MKL_ENABLE_INSTRUCTIONS") if os.environ.get(k)},
    }
    for module in ("onnxruntime", "openvino"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    return info


def cpu_words(machine: dict[str, Any]) -> str:
    """The CPU of a :func:`machine_info` record for a report, with any instruction-set cap in force."""
    caps = machine.get("isa_caps") or {}
    return machine["cpu"] + (f" capped by {', '.join(f'{k}={v}' for k, v in caps.items())}" if caps else "")


def parse_ints(text: str, option: str, example: str = "1,2") -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` for a comma-separated option (empty parts ignored).

    Raises:
        ConfigError: a part is not a whole number (the message names ``option`` and an ``example``).
    """
    from glofwatch.errors import ConfigError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} {text!r}: give whole numbers separated by commas, "
                          f"e.g. {option} {example}") from None


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table; floats get 3 significant digits, None becomes an en dash."""

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out_dir: str | Path, kind: str, doc: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``out_dir/<kind>.json`` and ``out_dir/<kind>.md`` atomically."""
    from glofwatch.io.atomic import write_json_atomic, write_text_atomic

    out_dir = Path(out_dir)
    return write_json_atomic(out_dir / f"{kind}.json", doc), write_text_atomic(out_dir / f"{kind}.md", markdown + "\n")


def run_worker(module: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run ``python -m module JOB_JSON`` in a fresh process and return the JSON of its last stdout line.

    A fresh process gives each measurement its own peak memory. Raises
    :class:`~glofwatch.errors.GlofwatchError` with the worker's last stderr line when it fails.
    """
    import json
    import subprocess
    import sys

    from glofwatch.errors import GlofwatchError

    proc = subprocess.run([sys.executable, "-m", module, json.dumps(job)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise GlofwatchError(f"{module} worker failed: {lines[-1] if lines else f'exit status {proc.returncode}'}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
