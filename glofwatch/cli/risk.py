"""``glofwatch risk``: an explained GLOF hazard score per tracked lake."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def risk_cmd(
    monitor_dir: Path = typer.Argument(..., help="Folder written by `glofwatch monitor` (monitor.gpkg, monitor.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: risk.gpkg, risk.csv, breakdown.json, risk.json."),
    dem: Optional[Path] = typer.Option(None, "--dem",
        help="DEM GeoTIFF in metres, projected CRS (slopes, elevation, flow path)."),
    glaciers: Optional[Path] = typer.Option(None, "--glaciers", help="Glacier outlines, e.g. an RGI shapefile."),
    settlements: Optional[Path] = typer.Option(None, "--settlements",
        help="Settlements: points (.gpkg/.shp) or a CSV with lon, lat, name."),
    criteria: Optional[Path] = typer.Option(None, "--criteria",
        help="YAML overriding the shipped criteria (thresholds, weights, ...)."),
    top: int = typer.Option(10, help="Lakes shown in the table."),
) -> None:
    """Score each tracked lake against published GLOF criteria; criteria without input count as unknown."""
    import math

    from rich.console import Console
    from rich.table import Table

    from glofwatch.risk.run import assess_risk

    result = assess_risk(monitor_dir, out, dem=dem, glaciers=glaciers, settlements=settlements, criteria=criteria)
    cfg = result.config
    table = Table(title=f"GLOF hazard: {len(result.scores)} lake(s), criteria {cfg.name} v{cfg.version} ({cfg.hash})")
    for col in ("rank", "lake", "score", "coverage", "unknown", "top criteria"):
        table.add_column(col, justify="left" if col == "top criteria" else "right")
    for s in sorted(result.scores, key=lambda s: s.rank)[: max(top, 0)]:
        score = "n/a" if math.isnan(s.hazard_score) else f"{s.hazard_score:.3f}"
        table.add_row(str(s.rank), str(s.lake_id), score, f"{s.coverage:.0%}", str(s.n_unknown),
                      ", ".join(r.name for r in s.top()))
    Console().print(table)
    Console(stderr=True).print(f"wrote {', '.join(p.name for p in result.files)} to {out}")


def register(app: typer.Typer) -> None:
    """Add ``risk`` to the root app."""
    app.command("risk")(risk_cmd)
