"""``glofwatch risk``: score every tracked lake and write the explained results.

:func:`assess_risk` reads ``MONITOR_DIR/monitor.gpkg`` (layer ``tracks``) and
the optional DEM, glacier outlines and settlements, scores each lake with the
criteria set, and writes into ``OUT``:

- ``risk.gpkg`` layer ``lakes``: the track columns (in the tracks' CRS) plus
  ``hazard_score``, ``coverage``, ``rank``, ``n_unknown``;
- ``risk.csv``: the same table without geometry, plus ``top_criteria``;
- ``breakdown.json``: per lake_id the score and the list of criterion results;
- ``risk.json``: inputs, criteria name/version/hash and counts.

Every file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.io.atomic import atomic_path, write_json_atomic
from glofwatch.risk.config import CriteriaConfig, load_criteria
from glofwatch.risk.context import RiskContext
from glofwatch.risk.criteria import CRITERIA
from glofwatch.risk.inputs import read_glaciers, read_settlements, read_tracks, working_crs
from glofwatch.risk.score import LakeScore, score_lakes
from glofwatch.risk.terrain import read_dem

SCORE_COLUMNS = ("hazard_score", "coverage", "rank", "n_unknown")
"""Columns the risk stage adds to the track columns in ``risk.gpkg``."""

OUTPUT_FILES = ("risk.gpkg", "risk.csv", "breakdown.json", "risk.json")


@dataclass
class RiskResult:
    """What :func:`assess_risk` computed and wrote.

    Attributes:
        out_dir: the output folder.
        scores: one :class:`LakeScore` per tracked lake, in track order.
        config: the criteria set used.
        files: the written files.
        summary: the content of ``risk.json``.
    """

    out_dir: Path
    scores: list[LakeScore]
    config: CriteriaConfig
    files: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _margin_m(config: CriteriaConfig) -> float:
    reach = [config.settings["mother_glacier_max_m"] + config.settings["tongue_length_m"]]
    for spec in config.enabled:
        if "distance_km" in spec.params:
            reach.append(float(spec.params["distance_km"]) * 1000.0 + float(spec.params.get("buffer_m", 0.0)))
        if "ring_m" in spec.params:
            reach.append(float(spec.params["ring_m"]))
    return max(reach) + 1000.0


def assess_risk(
    monitor_dir: str | Path,
    out_dir: str | Path,
    dem: str | Path | None = None,
    glaciers: str | Path | None = None,
    settlements: str | Path | None = None,
    criteria: str | Path | None = None,
) -> RiskResult:
    """Score the hazard of every tracked lake and write the risk outputs (see the module docs).

    Args:
        monitor_dir: folder with ``monitor.gpkg`` (and ``monitor.json``) from the changes stage.
        out_dir: output folder (created).
        dem: DEM GeoTIFF in a projected CRS, metres; without it the terrain criteria are unknown.
        glaciers: glacier outlines (e.g. RGI); without them the glacier criteria are unknown.
        settlements: settlement points (vector file or CSV with lon/lat); without them
            the downstream exposure is unknown.
        criteria: YAML override of the shipped criteria.

    Returns:
        The :class:`RiskResult`.
    """
    config = load_criteria(criteria, known=CRITERIA.names())
    tracks, monitor = read_tracks(monitor_dir)
    terrain = None
    if dem is not None and len(tracks):
        terrain = read_dem(dem, bounds=tuple(tracks.total_bounds), bounds_crs=tracks.crs, margin_m=_margin_m(config))
    crs = working_crs(tracks, terrain.crs if terrain is not None else None)
    ctx = RiskContext(
        lakes=tracks.to_crs(crs),
        settings=config.settings,
        terrain=terrain,
        glaciers=read_glaciers(glaciers, crs, config.settings["min_glacier_km2"]) if glaciers is not None else None,
        settlements=read_settlements(settlements, crs) if settlements is not None else None,
    )
    ctx.lakes["geometry"] = ctx.lakes.geometry.make_valid()
    scores = score_lakes(ctx, config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = {
        "monitor_dir": str(monitor_dir), "dem": _text(dem), "glaciers": _text(glaciers),
        "settlements": _text(settlements), "criteria": _text(criteria),
    }  # fmt: skip
    summary = _summary(scores, config, inputs, _crs_text(crs), monitor)
    summary["counts"]["glaciers"] = len(ctx.glaciers) if ctx.glaciers is not None else None
    summary["counts"]["settlements"] = len(ctx.settlements) if ctx.settlements is not None else None
    result = RiskResult(out_dir=out_dir, scores=scores, config=config, summary=summary)
    table = _table(tracks, scores)
    result.files = [
        _write_gpkg(table, out_dir / "risk.gpkg"),
        _write_csv(table, scores, out_dir / "risk.csv"),
        write_json_atomic(out_dir / "breakdown.json", {
            "criteria_name": config.name, "criteria_version": config.version, "criteria_hash": config.hash,
            "total_weight": config.total_weight,
            "lakes": {str(s.lake_id): s.as_dict() for s in scores},
        }),  # fmt: skip
        write_json_atomic(out_dir / "risk.json", summary),
    ]
    return result


def _text(path: str | Path | None) -> str | None:
    return None if path is None else str(path)


def _crs_text(crs: Any) -> str:
    from pyproj import CRS

    return CRS.from_user_input(crs).to_string()


def _table(tracks: Any, scores: list[LakeScore]) -> Any:
    table = tracks.copy()
    table["hazard_score"] = [s.hazard_score for s in scores]
    table["coverage"] = [s.coverage for s in scores]
    table["rank"] = [s.rank for s in scores]
    table["n_unknown"] = [s.n_unknown for s in scores]
    columns = [c for c in table.columns if c != "geometry" and c not in SCORE_COLUMNS]
    return table[[*columns, *SCORE_COLUMNS, "geometry"]]


def _write_gpkg(table: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.unlink()  # the GeoPackage driver will not write over an empty placeholder file
        table.to_file(tmp, driver="GPKG", layer="lakes", engine="pyogrio")
    return path


def _write_csv(table: Any, scores: list[LakeScore], path: Path) -> Path:
    frame = table.drop(columns="geometry").copy()
    frame["top_criteria"] = ["; ".join(r.name for r in s.top()) for s in scores]
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _summary(scores: list[LakeScore], config: CriteriaConfig, inputs: dict[str, Any], crs: str,
             monitor: dict[str, Any]) -> dict[str, Any]:
    names = [c.name for c in config.enabled]
    unknown = {n: sum(1 for s in scores for r in s.results if r.name == n and not r.known) for n in names}
    met = {n: sum(1 for s in scores for r in s.results if r.name == n and r.status == "met") for n in names}
    finite = [s.hazard_score for s in scores if math.isfinite(s.hazard_score)]
    return {
        "stage": "risk",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "inputs": inputs,
        "working_crs": crs,
        "criteria": {
            "name": config.name, "version": config.version, "hash": config.hash, "sources": list(config.sources),
            "total_weight": config.total_weight, "enabled": names,
            "disabled": [c.name for c in config.criteria.values() if not c.enabled],
            "settings": dict(config.settings),
        },
        "counts": {
            "lakes": len(scores),
            "scored": len(finite),
            "unknown_by_criterion": unknown,
            "met_by_criterion": met,
            "max_hazard_score": max(finite) if finite else None,
            "mean_coverage": round(sum(s.coverage for s in scores) / len(scores), 6) if scores else None,
        },
        "monitor": monitor,
    }  # fmt: skip
