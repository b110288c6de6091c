"""``glofwatch bench changes``: false and missed lake changes against synthetic truth, per area-uncertainty rule.

For each seed the benchmark writes a two-date synthetic series (one landscape: the generator keeps most
lakes stable, up to a few percent of wobble, and makes one lake grow, one split, two merge and one drain;
``series.json``), maps both dates with the model and runs ``glofwatch monitor`` on the maps once per
threshold-band half-width (:mod:`glofwatch.changes.sensitivity`; 0 is the half-pixel rule alone).
Every tracked lake seen on both dates is matched to the truth lake its later outline overlaps most,
and scored:

* stable truth lakes: how many changed by more than one combined sigma (a ``growing``,
  ``shrinking`` or ``drained`` status) and by more than ``k`` sigma (what an alert acts on: a
  ``drained`` one is a red outburst alert, :mod:`glofwatch.alerts.levels`), and the RMS of
  (mapped change - true change) / sigma (about 1 when the sigma is honest; below 1 conservative);
* the drained truth lakes: how many are ``drained`` beyond ``k`` sigma (an outburst alert);
* the grown truth lakes: how many are ``growing``.

The reports go to ``OUT/changes.json`` and ``OUT/changes.md``; the series are kept in the cache
folder and the maps in ``OUT/maps-<seed>`` (both reused when complete).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SEEDS = (1, 2, 3, 4, 5, 6)
DEFAULT_LOGITS = (0.0, 0.5, 0.75, 1.0)
DEFAULT_SIZE = 2048


def truth_kinds(series: dict[str, Any]) -> dict[int, str]:
    """Truth lake id -> ``stable``, ``grow``, ``drain``, ``split`` or ``merge`` from a ``series.json`` record.

    Example:
        >>> ev = {"grow": {"lake_id": 4}, "drain": {"lake_id": 6}, "split": {"into": [3, 20]},
        ...       "merge": {"lake_ids": [2, 21]}}
        >>> kinds = truth_kinds({"stable": [1, 5], "events": ev})
        >>> [kinds[i] for i in (1, 2, 3, 4, 5, 6, 20, 21)]
        ['stable', 'merge', 'split', 'grow', 'stable', 'drain', 'split', 'merge']
    """
    events = series["events"]
    kinds = {int(i): "stable" for i in series["stable"]}
    kinds[int(events["grow"]["lake_id"])] = "grow"
    kinds[int(events["drain"]["lake_id"])] = "drain"
    kinds.update({int(i): "split" for i in events["split"]["into"]})
    kinds.update({int(i): "merge" for i in events["merge"]["lake_ids"]})
    return kinds


def score_tracks(tracks: Any, truth_before: Any, truth_after: Any, kinds: dict[int, str], k: float) -> dict[str, Any]:
    """Counts of false and found changes of one monitor run (see the module docs).

    Args:
        tracks: the monitor's tracks table (any CRS).
        truth_before, truth_after: the series' ``lakes_truth.gpkg`` of the two dates (``lake_id``, ``area_km2``).
        kinds: :func:`truth_kinds`.
        k: the alerts' significance factor.
    """
    tracks = tracks.to_crs(truth_after.crs)
    before = dict(zip(truth_before["lake_id"].astype(int), truth_before["area_km2"], strict=True))
    after = dict(zip(truth_after["lake_id"].astype(int), truth_after["area_km2"], strict=True))
    ids = truth_after["lake_id"].to_numpy(dtype=int)
    out: dict[str, Any] = {"stable": 0, "stable_beyond_1_sigma": 0, "stable_beyond_k_sigma": 0,
                           "stable_drained": 0, "stable_outburst_alerts": 0, "drains": 0, "drains_alerted": 0,
                           "growths": 0, "growths_found": 0}  # fmt: skip
    errors = []
    for row in tracks.itertuples():
        change, sigma = float(row.change_km2), float(row.change_uncertainty_km2)
        if not (np.isfinite(change) and np.isfinite(sigma) and sigma > 0):
            continue  # seen on one date only
        overlap = truth_after.geometry.intersection(row.geometry).area.to_numpy()
        if overlap.size == 0 or overlap.max() <= 0:
            continue
        tid = int(ids[int(np.argmax(overlap))])
        kind, ratio = kinds.get(tid), abs(change) / sigma
        if kind == "stable" and tid in before:
            out["stable"] += 1
            out["stable_beyond_1_sigma"] += int(ratio > 1)
            out["stable_beyond_k_sigma"] += int(ratio > k)
            out["stable_drained"] += int(row.status == "drained")
            out["stable_outburst_alerts"] += int(outburst_alert(row, k))
            errors.append((change - (after[tid] - before[tid])) / sigma)
        elif kind == "drain":
            out["drains"] += 1
            out["drains_alerted"] += int(outburst_alert(row, k))
        elif kind == "grow":
            out["growths"] += 1
            out["growths_found"] += int(row.status == "growing")
    out["error_z"] = errors
    return out


def outburst_alert(row: Any, k: float) -> bool:
    """Whether ``glofwatch alerts`` makes a tracked lake (a row of the tracks table) an outburst alert.

    Asks :func:`glofwatch.alerts.levels.assess_lake` itself, so the benchmark counts what the alerts send.
    """
    from glofwatch.alerts.levels import LevelRules, assess_lake

    lake = {"lake_id": int(row.lake_id), "status": str(row.status), "change_km2": float(row.change_km2),
            "change_uncertainty_km2": float(row.change_uncertainty_km2)}
    return assess_lake(lake, LevelRules(k=k)).drained


def bench_changes(
    model: str | Path,
    out_dir: str | Path,
    seeds: tuple[int, ...] | list[int] = DEFAULT_SEEDS,
    logits: tuple[float, ...] | list[float] = DEFAULT_LOGITS,
    size: int = DEFAULT_SIZE,
    cache: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Map ``seeds`` synthetic series with ``model`` and score each band half-width (see the module docs)."""
    import geopandas as gpd

    from glofwatch.alerts.levels import LevelRules
    from glofwatch.changes.monitor import run_monitor
    from glofwatch.errors import ConfigError
    from glofwatch.pipeline.chain import map_dated
    from glofwatch.scene.synth.series import write_synthetic_series

    say = progress or (lambda _m: None)
    if not seeds or not logits:
        raise ConfigError("bench changes needs at least one seed and one band half-width, e.g. --seeds 1 --logits 0")
    if any(not np.isfinite(v) or v < 0 for v in logits):
        raise ConfigError(f"--logits {','.join(map(str, logits))}: give half-widths of 0 or more (0: half-pixel rule)")
    out = Path(out_dir)
    cache = Path(cache) if cache else Path.home() / ".cache" / "glofwatch" / "bench"
    k = LevelRules().k
    start = time.perf_counter()
    totals: dict[float, dict[str, Any]] = {float(v): {} for v in logits}
    per_seed = []
    for seed in seeds:
        series = cache / f"series-{size}-s{seed}"
        if not (series / "series.json").is_file():
            say(f"seed {seed}: synthesising a two-date {size} px series -> {series}")
            write_synthetic_series(series, n_dates=2, size=size, seed=seed)
        meta = json.loads((series / "series.json").read_text())
        dates = meta["dates"]
        first = series / dates[0]
        def tell(line: str, s: int = seed) -> None:
            say(f"seed {s}: {line}")

        maps = map_dated({d: series / d / "scene.tif" for d in dates}, model, out / f"maps-{seed}",
                         dem=first / "dem.tif", say=tell)
        truth0 = gpd.read_file(series / dates[0] / "lakes_truth.gpkg")
        truth1 = gpd.read_file(series / dates[-1] / "lakes_truth.gpkg")
        kinds = truth_kinds(meta)
        for logit in totals:
            result = run_monitor([maps[d] / "lakes.gpkg" for d in dates], out / f"monitor-{seed}-{logit:g}",
                                 band_logit=logit or None)
            scored = score_tracks(result.tracks, truth0, truth1, kinds, k)
            per_seed.append({"seed": seed, "band_logit": logit, **{n: v for n, v in scored.items() if n != "error_z"}})
            total = totals[logit]
            for name, value in scored.items():
                total[name] = total.get(name, [] if name == "error_z" else 0) + value
        say(f"seed {seed}: scored {len(totals)} band half-width(s)")
    rows = []
    for logit, total in totals.items():
        z = np.asarray(total.pop("error_z"), dtype=float)
        rows.append({"band_logit": logit, **total, "error_z_rms": float(np.sqrt(np.mean(z**2))) if z.size else None})
    doc = {"model": str(model), "seeds": list(seeds), "size": size, "k": k, "rows": rows, "per_seed": per_seed,
           "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    from glofwatch.bench import write_report

    write_report(out, "changes", doc, changes_markdown(doc))
    return doc


def changes_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report of :func:`bench_changes`."""
    from glofwatch.bench import markdown_table

    k = doc["k"]
    header = ["band (logits)", "stable lakes", "> 1 sigma", f"> {k:g} sigma", "drained", "outburst alerts",
              "error z RMS", "drains alerted", "growths found"]  # fmt: skip
    rows = [[("half-pixel rule" if r["band_logit"] == 0 else f"{r['band_logit']:g}"), r["stable"],
             r["stable_beyond_1_sigma"], r["stable_beyond_k_sigma"], r["stable_drained"], r["stable_outburst_alerts"],
             r["error_z_rms"], f"{r['drains_alerted']} / {r['drains']}", f"{r['growths_found']} / {r['growths']}"]
            for r in doc["rows"]]  # fmt: skip
    seeds = ",".join(map(str, doc["seeds"]))
    return (f"# Lake changes against synthetic truth\n\nModel `{doc['model']}`, two-date series of {doc['size']} px, "
            f"seeds {seeds}. Stable lakes: the changes of lakes the generator keeps stable (false changes); "
            f"an outburst alert is a `drained` status beyond {k:g} sigma.\n\n"
            + markdown_table(header, rows) + f"\n\n{doc['seconds']:.0f} s in all.")
