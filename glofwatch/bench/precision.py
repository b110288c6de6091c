"""``glofwatch bench precision``: the lake recall each mapping precision costs, over several synthetic tiles.

One synthetic tile holds about 160-210 truth lakes of 0.01 km2 or more, so one lake is about
0.5-0.6 points of recall: a single tile cannot show whether a precision costs lakes or just
flips a lake that sits at the found rule (covered half) one way or the other. This benchmark
maps each tile (seeds) with the fast path (``glofwatch map`` defaults: screen, trimmed boxes)
once per precision, scores each map against the tile's truth and lists, against fp32 in the
same runtime (OpenVINO), every lake a precision loses or gains with both covers. Totals pool
the lakes of all tiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError

DEFAULT_SEEDS = (0, 1, 2, 3)


REFINED = "+fp32"
"""Suffix of a precision whose uncertain network inputs run again in fp32 (``bf16+fp32``)."""


def check_precisions(names: Sequence[str]) -> list[str]:
    """fp32 first (the reference), then the others asked for, each a known precision other than ``auto``.

    A lower precision may carry :data:`REFINED` (``int8+fp32``, ``bf16+fp32``): mapped with the fp32
    refinement ``glofwatch map`` uses; without it, the graph alone.
    """
    from glofwatch.infer.precision import check_precision

    out = ["fp32"]
    for name in names:
        base = name.removesuffix(REFINED)
        if check_precision(base) == "auto":
            raise ConfigError("--precisions: name the precisions to compare (fp32, int8, int8-all, bf16, or one of "
                              "them + fp32: int8+fp32), not auto")
        if base == "fp32" and name != base:
            raise ConfigError("--precisions: fp32+fp32 is fp32; refine a lower precision (int8+fp32, bf16+fp32)")
        if name not in out:
            out.append(name)
    if len(out) == 1:
        raise ConfigError("--precisions: give at least one precision besides fp32 (the reference), e.g. int8,bf16")
    return out


def pool(per_tile: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Totals over the tiles, by precision: lakes, found, lost, gained and the net recall change in points."""
    totals = {}
    for name in names:
        rows = [t["runs"][name] for t in per_tile if name in t["runs"]]
        lakes = sum(r["lakes"] for r in rows)
        lost = sum(len(r["lost"]) for r in rows)
        gained = sum(len(r["gained"]) for r in rows)
        totals[name] = {"tiles": len(rows), "lakes": lakes, "found": sum(r["found"] for r in rows), "lost": lost,
                        "gained": gained, "recall_points": 100 * (gained - lost) / lakes if lakes else None,
                        "worst_tile_points": min((r["recall_points"] for r in rows
                                                  if r["recall_points"] is not None), default=None)}
    return totals


def bench_precision(
    model: str | Path,
    out_dir: str | Path | None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    precisions: Sequence[str] | None = None,
    size: int = 10980,
    tile: int = 512,
    overlap: int = 32,
    cache: str | Path | None = None,
    threads: int | None = None,
    isolate: bool = True,
    dem_grid: str = "glo30",
    cloud_cover: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Map ``seeds`` synthetic tiles in each of ``precisions`` and write ``precision.json`` and ``.md``.

    Args:
        model: a run folder (the lower precisions are built from its ``model.pt``).
        out_dir: report folder (None: write nothing).
        seeds: synthetic tile seeds.
        precisions: precisions to compare with fp32, which is always mapped, as the reference (default:
            int8, and bf16 where the CPU computes it natively).
        size, tile, overlap: as ``glofwatch bench scene``.
        cache: folder for the synthetic tiles (default ``<cache_dir()>/bench``).
        threads: CPU threads (default: torch's default).
        isolate: map each run in a fresh process.
        dem_grid: the tiles' DEM (see :func:`glofwatch.bench.dem.bench_dem`).
        cloud_cover: cloud share of the tiles (default as ``bench scene``).
        progress: called with one line per step.

    Raises:
        ConfigError: not a run folder, an unknown precision, no seed, or bf16 on a CPU without it.
    """
    import tempfile

    from glofwatch.bench import machine_info, run_worker, write_report
    from glofwatch.bench.dem import bench_dem, check_dem_grid
    from glofwatch.bench.scene import DEFAULT_CLOUD_COVER, cached_scene, flipped_lakes, lake_scores, map_job
    from glofwatch.infer.backends import cache_dir
    from glofwatch.infer.precision import cpu_has_bf16

    say = progress or (lambda _msg: None)
    names = check_precisions(precisions if precisions is not None else ["int8"] + (["bf16"] if cpu_has_bf16() else []))
    if not (Path(model) / "model.pt").is_file():
        raise ConfigError(f"{model}: not a run folder with model.pt; the precisions are built from one")
    if not seeds:
        raise ConfigError("--seeds: give at least one synthetic tile seed, e.g. 0,1,2,3")
    if any(n.removesuffix(REFINED) == "bf16" for n in names) and not cpu_has_bf16():
        raise ConfigError("--precisions bf16: this CPU has no native bfloat16; compare int8 (and int8-all) only")
    check_dem_grid(dem_grid)
    cloud = DEFAULT_CLOUD_COVER if cloud_cover is None else cloud_cover
    cache = Path(cache) if cache is not None else cache_dir() / "bench"
    per_tile: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="glofwatch-bench-precision-") as work:
        for seed in seeds:
            say(f"synthetic tile {size}x{size}, seed {seed} (cached in {cache})")
            scene = cached_scene(cache, size, seed, cloud)
            dem = bench_dem(scene.parent, dem_grid)
            truth = scene.parent / "lakes_mask.tif"
            runs: dict[str, dict[str, Any]] = {}
            lakes: dict[str, dict[int, tuple[float, float, bool]]] = {}
            for name in names:
                say(f"  mapping in {name}")
                map_dir = Path(work) / f"s{seed}-{name}"
                job: dict[str, Any] = {
                    "scene": str(scene), "model": str(model), "backend": "openvino", "device": "cpu", "tile": tile,
                    "overlap": overlap, "batch_size": 0, "threads": threads, "out": str(map_dir), "dem": str(dem),
                    "screen": True, "precision": name.removesuffix(REFINED), "refine": name.endswith(REFINED)}
                t0 = time.perf_counter()
                res = run_worker("glofwatch.bench.scene", job) if isolate else map_job(job)
                acc, lakes[name] = lake_scores(map_dir, truth)
                runs[name] = {"backend_used": res["backend_used"], "map_s": res["map_s"],
                              "wall_s": time.perf_counter() - t0, "lakes": acc["truth_lakes_ge_0.01km2"],
                              "found": acc["found_ge_0.01km2"], "pixel_iou": acc["pixel_iou"]}
            for name in names:
                flips = flipped_lakes(lakes["fp32"], lakes[name])
                r = runs[name]
                r.update(flips, recall_points=100 * (len(flips["gained"]) - len(flips["lost"])) / r["lakes"]
                         if r["lakes"] else None)
            per_tile.append({"seed": seed, "scene": str(scene), "runs": runs})
    doc = {"kind": "precision", "machine": machine_info(),
           "settings": {"model": str(model), "seeds": list(seeds), "precisions": names, "size": size, "tile": tile,
                        "overlap": overlap, "threads": threads, "isolate": isolate, "dem_grid": dem_grid,
                        "cloud_cover": cloud},
           "tiles": per_tile, "totals": pool(per_tile, names)}
    if out_dir is not None:
        write_report(out_dir, "precision", doc, precision_markdown(doc))
    return doc


def precision_markdown(doc: dict[str, Any]) -> str:
    """The report: totals by precision, each tile, and every flipped lake with its covers."""
    from glofwatch.bench import markdown_table

    def pts(v: float | None) -> str:
        return "–" if v is None else f"{v:+.2f}"

    s = doc["settings"]
    lines = [f"# Lake recall by mapping precision ({len(s['seeds'])} synthetic {s['size']} px tiles)", "",
             "Fast path (screen, trimmed boxes) in each precision, OpenVINO; lakes of 0.01 km2 or more, found when "
             "covered at least half; lost and gained against fp32 on the same tile. A precision alone is its graph "
             "alone; with +fp32 its uncertain network inputs ran again in fp32, as `glofwatch map` does.", ""]
    lines.append(markdown_table(
        ["precision", "tiles", "lakes", "found", "lost", "gained", "recall change (points)", "worst tile"],
        [[n, t["tiles"], t["lakes"], t["found"], t["lost"], t["gained"], pts(t["recall_points"]),
          pts(t["worst_tile_points"])] for n, t in doc["totals"].items()]))
    lines += ["", markdown_table(
        ["seed", "precision", "map s", "lakes", "found", "lost", "gained", "pixel IoU"],
        [[t["seed"], n, f"{r['map_s']:.1f}", r["lakes"], r["found"], len(r["lost"]), len(r["gained"]),
          f"{r['pixel_iou']:.4f}"] for t in doc["tiles"] for n, r in t["runs"].items()])]
    flips = [(t["seed"], n, what, lk) for t in doc["tiles"] for n, r in t["runs"].items()
             for what in ("lost", "gained") for lk in r[what]]
    lines.append("")
    if flips:
        lines.append("Flipped lakes (fp32 cover -> this precision's cover):")
        lines += [f"- seed {seed}, {n} {what} lake {lk['truth_lake']} ({lk['area_km2']:.4f} km2): "
                  f"{lk['reference_covered_pct']:.1f} -> {lk['covered_pct']:.1f} %" for seed, n, what, lk in flips]
    else:
        lines.append("No precision flips a lake on these tiles.")
    return "\n".join(lines)


__all__ = ["DEFAULT_SEEDS", "REFINED", "bench_precision", "check_precisions", "pool",
           "precision_markdown"]
