"""Base layer: where code runs (CPU or CUDA device) and how much memory a process has used."""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
from collections.abc import Iterator
from typing import Any

from glofwatch.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``--device`` choice (``auto``: CUDA when visible).

    Raises:
        ConfigError: unknown name, or ``cuda`` asked for with no visible GPU.
    """
    import torch

    if device not in DEVICES:
        raise ConfigError(f"device '{device}' is unknown; use auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def torch_device(device: str) -> Any:
    """:func:`resolve_device` as a ``torch.device``."""
    import torch

    return torch.device(resolve_device(device))


def _libc():  # noqa: ANN202 - ctypes library or None
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(n: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``n`` for threads started from now on (Linux; False elsewhere).

    Each thread that allocates gets its own arena by default, and freed strip buffers stay
    in them: with a reader and a writer thread a whole-tile mapping held about 100 MB more
    at its peak than with two arenas.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, int(n)))


def start_environment() -> dict[str, str] | None:
    """The environment this process started with (``/proc/self/environ``; None where there is none).

    Not ``os.environ``: glibc reads its variables once, at start-up, and Dask's nanny writes its
    workers' variables into the environment of the process that starts them.
    """
    from pathlib import Path

    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


FIXED_THRESHOLD_VARS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
"""glibc variables that fix the mmap threshold at start-up (Dask's nanny sets the first for its workers)."""


def fixed_malloc_threshold_note() -> str | None:
    """A note when this process started with glibc's mmap threshold fixed by the environment, else None.

    glibc raises its mmap threshold as large blocks are freed, so the strip and tile buffers a
    mapping allocates over and over come from the heap. Setting ``MALLOC_TRIM_THRESHOLD_`` (Dask's
    nanny sets 65536 for its workers) or ``MALLOC_MMAP_THRESHOLD_`` turns that off: every buffer above
    128 kB is mapped fresh and faulted in again. glibc reads them at start-up (:func:`start_environment`).
    A whole Sentinel-2 tile mapped in 32.8 s with ``MALLOC_TRIM_THRESHOLD_=65536`` against 27.1 s without
    (one process, 3 interleaved runs each, 2-core Xeon), for a peak 280 MB lower.
    """
    start = start_environment()
    if start is None:
        return None
    found = [f"{k}={start[k]}" for k in FIXED_THRESHOLD_VARS if start.get(k)]
    if not found:
        return None
    return (f"{' '.join(found)} in this process's environment fixes glibc's mmap threshold, which made a whole tile "
            "map about 20 % slower for about 300 MB less memory; where each worker has 3 GB or more, unset it "
            "where the workers start (for `dask worker`: distributed.nanny.pre-spawn-environ."
            "MALLOC_TRIM_THRESHOLD_: null in the Dask config)")


def release_memory() -> bool:
    """Hand freed heap memory back to the system (glibc ``malloc_trim``; False where unavailable).

    Between the stages of a mapping (network, then polygons) this keeps the next stage from
    starting on top of the last one's freed but still resident buffers (0.7 GB on a whole tile).
    """
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


ISA_CAP_VAR = "ONEDNN_MAX_CPU_ISA"
"""oneDNN's cap on the instructions its kernels use; OpenVINO's CPU plugin honours it too, so
``ONEDNN_MAX_CPU_ISA=AVX2`` runs the graphs as on a CPU with AVX2 only (README, "An AVX2-only CPU")."""


def isa_cap() -> str | None:
    """The instruction-set cap in force (:data:`ISA_CAP_VAR`, upper case), or None."""
    return os.environ.get(ISA_CAP_VAR, "").strip().upper() or None


def cpu_model() -> str:
    """The CPU's model name (``model name`` in /proc/cpuinfo; else what :mod:`platform` knows)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: ``VmHWM`` from ``/proc/self/status`` (reset by ``exec``, so a worker process
    started by a big parent reports its own peak; ``ru_maxrss`` keeps the parent's).
    Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def stop_process(proc: Any, timeout_s: float = 5.0) -> None:
    """Stop a child process: SIGTERM, then SIGKILL when it has not ended after ``timeout_s`` seconds."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def passive_openmp(backend: str = "auto", device: str = "cpu") -> bool:
    """Let torch's OpenMP threads sleep as soon as a parallel region ends, in a mapping process.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it) when torch is not imported yet and
    the network will not run in torch on the CPU (OpenVINO or ONNX Runtime run it; torch only
    normalises the tiles). Spinning OpenMP threads otherwise take the cores from that runtime and
    from the reader and writer threads: a whole Sentinel-2 tile mapped in 49-52 s with them
    spinning and in 45-47 s with PASSIVE (interleaved runs on 2 cores). Training stays as it is (PASSIVE made CPU
    training steps 6-25 % slower). Child processes (the bench worker, Dask workers) inherit it.

    Returns:
        Whether the policy is PASSIVE in this process.
    """
    if "torch" not in sys.modules and backend != "torch" and not str(device).startswith("cuda"):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


_GLUE_LOCK = threading.Lock()
_GLUE = {"depth": 0, "saved": 0}


@contextlib.contextmanager
def single_threaded_glue(backend: str, device: str = "cpu") -> Iterator[bool]:
    """Run torch's own operations in one thread while another runtime runs the network on the CPU.

    When OpenVINO or ONNX Runtime runs the network (their own thread pools), torch only does
    the glue around it: normalising each tile, the sigmoid, the statistics. Each such operation
    is small (1-4 ms on a 512 px tile), and with two OpenMP threads each one waits for a core the
    runtime or the reader and writer threads hold. On the whole synthetic Sentinel-2 tile on 2
    cores (OpenVINO bf16, ``OMP_WAIT_POLICY=PASSIVE``, GDAL still compressing in two threads, three
    interleaved pairs) the mapping took 30.5, 26.8 and 28.7 s with the glue in one thread against
    33.5, 28.4 and 29.8 s, 2.3-3.1 CPU seconds less each time.
    The setting is torch's, so it is process-wide: nested and concurrent uses (worker threads of
    one process) share it, and it is restored when the last ends; a torch network run by another
    thread meanwhile would run in one thread too. Nothing changes when torch runs the network, or
    on a GPU.

    Yields:
        Whether torch runs single-threaded inside.
    """
    import torch

    use = backend != "torch" and not str(device).startswith("cuda")
    if use:
        with _GLUE_LOCK:
            if _GLUE["depth"] == 0:
                _GLUE["saved"] = torch.get_num_threads()
                torch.set_num_threads(1)
            _GLUE["depth"] += 1
    try:
        yield use
    finally:
        if use:
            with _GLUE_LOCK:
                _GLUE["depth"] -= 1
                if _GLUE["depth"] == 0:
                    torch.set_num_threads(_GLUE["saved"])
