"""Dated scenes -> lake maps -> tracked lakes -> hazard scores -> alerts, in one call.

:func:`run_warning_chain` is what ``glofwatch demo`` ends with and what a monitoring loop
runs after it has new scenes: every stage writes its own folder under ``out_dir``
(``maps/<date>/``, ``monitor/``, ``risk/``, ``alerts/``), the folder ``glofwatch serve``
shows. A date whose map is complete is not mapped again, and the later stages are cheap,
so running the chain again after a kill finishes the work without redoing it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError


@dataclass
class WarningRun:
    """Folders and results of one chain run.

    Attributes:
        maps: date (YYYY-MM-DD) -> map folder of that date.
        monitor: the ``glofwatch monitor`` folder.
        risk: the ``glofwatch risk`` folder.
        alerts: the ``glofwatch alerts`` result (:class:`glofwatch.alerts.run.AlertRun`).
    """

    maps: dict[str, Path]
    monitor: Path
    risk: Path
    alerts: Any


def run_warning_chain(
    scenes: Mapping[str, str | Path],
    model: str | Path,
    out_dir: str | Path,
    dem: str | Path | None = None,
    glaciers: str | Path | None = None,
    settlements: str | Path | None = None,
    min_level: str = "yellow",
    sender: str = "glofwatch",
    status: str = "Actual",
    backend: str = "auto",
    device: str = "auto",
    say: Callable[[str], None] | None = None,
) -> WarningRun:
    """Map every dated scene with ``model``, then run monitor, risk and alerts on the lake maps.

    Args:
        scenes: date (``YYYY-MM-DD``) -> scene (GeoTIFF or folder of band files), two dates or more.
        model: run folder or model file (``.pt``, ``.onnx``, ``.xml``).
        out_dir: the served folder: ``maps/<date>/``, ``monitor/``, ``risk/``, ``alerts/``.
        dem: DEM GeoTIFF for the terrain criteria and the mapping's slope and cast-shadow rules
            (optional: those criteria are then unknown and the maps have no terrain rules).
        glaciers: glacier outlines (optional).
        settlements: settlement points for the exposure criterion (optional).
        min_level: lowest level that gets a CAP alert.
        sender: CAP sender id.
        status: CAP status (Actual, Exercise, Test, ...).
        backend: inference backend for mapping.
        device: auto, cpu or cuda.
        say: called with one line per step.

    Raises:
        InputError: fewer than two dates, a date that is not YYYY-MM-DD, or a missing scene.
    """
    from glofwatch.alerts.run import issue_alerts
    from glofwatch.changes.monitor import run_monitor
    from glofwatch.risk.run import assess_risk

    say = say or (lambda _line: None)
    out = Path(out_dir)
    maps = map_dated(scenes, model, out / "maps", dem=dem, backend=backend, device=device, say=say)
    dates = sorted(dt.date.fromisoformat(d) for d in maps)
    monitor = out / "monitor"
    result = run_monitor([maps[d.isoformat()] / "lakes.gpkg" for d in dates], monitor, dates=dates)
    by_status = {k: v for k, v in result.summary["counts"]["by_status"].items() if v}
    counts = ", ".join(f"{v} {k}" for k, v in by_status.items())
    say(f"monitor: {len(result.tracks)} tracked lakes ({counts}) -> {monitor}")
    risk = out / "risk"
    assess_risk(monitor, risk, dem=dem, glaciers=glaciers, settlements=settlements)
    say(f"risk: hazard scores -> {risk}")
    alerts = issue_alerts(risk, out / "alerts", min_level=min_level, sender=sender, status=status)
    say(f"alerts: {len(alerts.in_force)} in force, {len(alerts.messages)} new CAP message(s) -> {out / 'alerts'}")
    return WarningRun(maps, monitor, risk, alerts)


def map_dated(
    scenes: Mapping[str, str | Path],
    model: str | Path,
    maps_dir: str | Path,
    dem: str | Path | None = None,
    backend: str = "auto",
    device: str = "auto",
    say: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Map every dated scene as ``glofwatch map`` does into ``maps_dir/<date>/``; complete maps are kept.

    Returns:
        Date (YYYY-MM-DD) -> map folder, in date order.

    Raises:
        InputError: fewer than two dates, a date that is not YYYY-MM-DD, or a missing scene.
    """
    from glofwatch.mapping.batch import MapOptions, cached_predictor, is_complete, map_scene
    from glofwatch.mapping.resume import resume_key

    say = say or (lambda _line: None)
    if len(scenes) < 2:
        raise InputError(f"{len(scenes)} dated scene(s) given; tracking lake change needs two dates or more")
    dates = {}
    for text, scene in scenes.items():
        try:
            dates[dt.date.fromisoformat(text)] = Path(scene)
        except ValueError:
            raise InputError(f"scene date '{text}' is not YYYY-MM-DD; name each date like 2023-10-04") from None
        if not Path(scene).exists():
            raise InputError(f"{scene}: scene not found for {text}; give a GeoTIFF or a folder of band files")
    options = MapOptions(dem=str(dem) if dem is not None else None, backend=backend, device=device)
    resume = resume_key(model, options)
    predictor = None
    maps: dict[str, Path] = {}
    for day in sorted(dates):
        folder = Path(maps_dir) / day.isoformat()
        maps[day.isoformat()] = folder
        if is_complete(folder, resume["hash"]):
            say(f"map {day}: complete, kept ({folder})")
            continue
        # the predictor `glofwatch map` builds for these options (its precision choice included)
        predictor = predictor or cached_predictor(model, device, backend, options.tile, options.overlap,
                                                  precision=options.precision, threads=options.threads)
        summary = map_scene(dates[day], predictor, folder, tile=options.tile, overlap=options.overlap,
                            min_area_m2=options.min_area_m2, dem=options.dem, max_slope=options.max_slope,
                            shadow=options.shadow, resume=resume, screen=options.window_screen())
        say(f"map {day}: {summary.n_lakes} lakes, {summary.lake_area_km2:.2f} km2 -> {folder}")
    return maps
