"""``glofwatch monitor``: lake inventories of several dates -> tracked lakes with area changes and a status each."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from glofwatch.changes.sensitivity import DEFAULT_BAND_LOGIT


def monitor_cmd(
    inventories: list[Path] = typer.Argument(..., help="Lake inventories (GeoPackage, Shapefile, GeoJSON; any CRS) "
                                             "or folders of lakes.gpkg written by `glofwatch map`."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Output folder: monitor.gpkg, tracks.csv, observations.csv, monitor.json."),
    dates: Optional[str] = typer.Option(None, "--dates", help="One date per inventory, in order: D1,D2,... "
                                        "(default: a date column, else YYYY-MM-DD in the file or folder name)."),
    pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in metres for the area "
                                               "uncertainty (default: probability.tif/mask.tif beside the file, "
                                               "else 10)."),
    drain_threshold: float = typer.Option(0.3, "--drain-threshold", help="A real loss of more than this share of a "
                                          "lake's area between two dates is 'drained' (0.3 = 30 %)."),
    k_sigma: float = typer.Option(1.0, "--k-sigma", help="A change is real when it exceeds this many combined sigmas."),
    min_overlap: float = typer.Option(0.1, "--min-overlap", help="Outlines of consecutive dates are one lake when they "
                                      "share more than this share of the smaller one."),
    db: Optional[str] = typer.Option(None, "--db", help="Also write the tables to PostGIS: postgresql://user:pw@host:5432/db."),
    band_logit: float = typer.Option(DEFAULT_BAND_LOGIT, "--band-logit",
                                     help="Outlines of `glofwatch map` are also uncertain by half the area whose "
                                     "decision flips within this many logits of the model's threshold, where that "
                                     "exceeds perimeter x pixel / 2 (0: the half-pixel rule alone)."),
) -> None:
    """Track lakes through inventories of several dates: stable ids through growth, merges and splits,
    areas with uncertainty (perimeter x pixel / 2, or a model map's threshold band), and
    new/vanished/stable/growing/shrinking/merged/split/drained."""
    from rich.console import Console
    from rich.table import Table

    from glofwatch.changes.inventory import find_inventories, parse_dates_option
    from glofwatch.changes.monitor import run_monitor
    from glofwatch.changes.tracks import STATUSES

    err = Console(stderr=True)
    files = find_inventories(list(inventories))
    result = run_monitor(files, out, dates=parse_dates_option(dates, len(files)), pixel_size_m=pixel_size,
                         k_sigma=k_sigma, drain_threshold=drain_threshold, min_overlap=min_overlap, db=db,
                         progress=lambda msg: err.print(msg, soft_wrap=True, highlight=False, markup=False),
                         band_logit=band_logit if band_logit != 0 else None)
    counts = result.summary["counts"]
    table = Table(title=f"{counts['lakes']} lakes, {counts['observations']} outlines on "
                        f"{len(result.summary['dates'])} dates ({', '.join(result.summary['dates'])})")
    table.add_column("status")
    table.add_column("lakes", justify="right")
    table.add_column("area on last date km2", justify="right")
    tracks = result.tracks
    on_last = tracks["last_date"] == result.summary["dates"][-1]
    for status in STATUSES:
        sel = (tracks["status"] == status) & on_last
        table.add_row(status, str(counts["by_status"][status]), f"{tracks.loc[sel, 'area_last_km2'].sum():.4f}")
    Console().print(table)
    drained = tracks[tracks["status"] == "drained"]
    for row in drained.itertuples():
        err.print(f"[bold red]drained[/] lake {row.lake_id} at lat {row.centroid_lat:.4f} lon {row.centroid_lon:.4f}: "
                  f"{row.area_prev_km2:.3f} -> {row.area_last_km2:.3f} km2 by {row.last_date} (possible outburst)")
    err.print(f"wrote {', '.join(str(p) for p in result.files.values())}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to the root app."""
    app.command("monitor")(monitor_cmd)
