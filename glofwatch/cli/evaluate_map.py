"""``glofwatch evaluate-map``: whole-scene accuracy of a ``glofwatch map`` folder against truth."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def evaluate_map_cmd(
    map_dir: Path = typer.Argument(..., help="A scene folder written by `glofwatch map` (OUT/<scene>: mask.tif)."),
    truth: Path = typer.Option(..., "--truth", "-t", help="Truth: a mask GeoTIFF (1 lake, 0 not, 255 nodata) or lake "
                               "polygons (.gpkg, .geojson, .shp), e.g. lakes_mask.tif of `glofwatch data synth "
                               "--scene`."),
    min_area_m2: Optional[float] = typer.Option(None, "--min-area-m2", help="Minimum mapping unit for lake counts "
                                                "(default: the map's own, 1000 m2)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for accuracy.json and accuracy_lakes.csv "
                                       "(default: MAP_DIR)."),
) -> None:
    """Pixel IoU, lake recall and precision by size, area error and false lakes per 100 km2 of a mapped scene."""
    from rich.console import Console
    from rich.table import Table

    from glofwatch.mapping.accuracy import score_map

    r = score_map(map_dir, truth, min_area_m2=min_area_m2, out=out)
    px, lk = r["pixel"], r["lakes"]

    def pct(v: object) -> str:
        return "–" if v is None else f"{100 * float(v):.1f}"  # type: ignore[arg-type]

    console = Console()
    table = Table(title=f"{map_dir}: lakes by size (truth {truth.name})")
    for col in ("size", "truth lakes", "found", "recall %", "mapped lakes", "true", "precision %",
                "median |area err| %"):
        table.add_column(col, justify="left" if col == "size" else "right")
    for b in lk["by_size"]:
        err = b["area_error_median_abs_pct"]
        table.add_row(b["bin"], str(b["truth_lakes"]), str(b["found"]), pct(b["recall"]), str(b["predicted_lakes"]),
                      str(b["true_predicted"]), pct(b["precision"]), "–" if err is None else f"{err:.1f}")
    console.print(table)
    fl = lk["false_lakes_per_100km2"]
    console.print(
        f"pixel IoU {pct(px['iou'])} %, precision {pct(px['precision'])} %, recall {pct(px['recall'])} %; "
        f"lakes: recall {pct(lk['recall'])} %, precision {pct(lk['precision'])} %, {lk['false_lakes']} false lakes "
        f"({'–' if fl is None else f'{fl:.2f}'} per 100 km2 of {lk['scored_area_km2']:.1f} km2); threshold "
        f"{r.get('threshold')}; written to {(out or map_dir) / 'accuracy.json'}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``evaluate-map``."""
    app.command("evaluate-map")(evaluate_map_cmd)
