"""Physical reference points: matrix-multiply peak, model FLOPs, peak memory.

Achieved GFLOP/s of a model (its FLOPs x images/s) divided by the measured
``torch.mm`` peak shows how far inference is from what the cores can do.
"""

from __future__ import annotations

import time
from typing import Any


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, threads: int | None = None) -> dict[str, Any]:
    """Best-of-``repeats`` fp32 ``torch.mm`` throughput of two n x n matrices.

    Returns:
        {"gflops": best GFLOP/s (2 n^3 FLOPs per product), "n", "repeats", "threads", "best_s"}.
    """
    import torch

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        torch.mm(a, b)  # warm-up (allocations, thread pool)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old)
    return {"gflops": 2 * n**3 / best / 1e9, "n": n, "repeats": repeats, "threads": used, "best_s": best}


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
