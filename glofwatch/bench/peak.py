"""Physical reference points: matrix-multiply peak, model FLOPs, peak memory.

Achieved GFLOP/s of a model (its FLOPs x images/s) divided by the measured
``torch.mm`` peak shows how far inference is from what the cores can do.
"""

from __future__ import annotations

import time
from typing import Any

ROBUST_SIZES = (1024, 2048, 3072, 4096)


def matmul_peak_gflops(n: int | tuple[int, ...] = ROBUST_SIZES, repeats: int = 5, threads: int | None = None,
                       dtype: str = "float32") -> dict[str, Any]:
    """Best ``torch.mm`` throughput over matrix sides ``n`` (best of ``repeats`` each).

    One size can sit badly with the caches or the kernel's blocking, so the peak is the
    best over several sides (:data:`ROBUST_SIZES`), each timed after a warm-up; ``per_size``
    keeps them all. ``dtype="bfloat16"`` measures the bf16 peak (AMX / AVX512-BF16 CPUs).

    Returns:
        {"gflops": best GFLOP/s (2 n^3 FLOPs per product), "n": side of the best, "per_size":
        {side: GFLOP/s}, "repeats", "threads", "best_s", "dtype"}.
    """
    import torch

    sizes = (n,) if isinstance(n, int) else tuple(n)
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    per_size: dict[int, float] = {}
    best_s: dict[int, float] = {}
    try:
        gen = torch.Generator().manual_seed(0)
        for side in sizes:
            a = torch.randn(side, side, generator=gen).to(getattr(torch, dtype))
            b = torch.randn(side, side, generator=gen).to(getattr(torch, dtype))
            torch.mm(a, b)  # warm-up (allocations, thread pool)
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                torch.mm(a, b)
                best = min(best, time.perf_counter() - t0)
            per_size[side] = 2 * side**3 / best / 1e9
            best_s[side] = best
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old)
    top = max(per_size, key=lambda k: per_size[k])
    return {"gflops": per_size[top], "n": top, "per_size": per_size, "repeats": repeats, "threads": used,
            "best_s": best_s[top], "dtype": dtype}


def count_gflops(net: Any, shape: tuple[int, ...]) -> float:
    """Forward FLOPs of ``net`` on one zero input of ``shape`` in GFLOP (a multiply-add counts 2).

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and
    matrix products; elementwise ops are not counted).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.eval()(torch.zeros(shape, device=device))
    return counter.get_total_flops() / 1e9


def rss_mb() -> float:
    """Current resident memory of this process, in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20
