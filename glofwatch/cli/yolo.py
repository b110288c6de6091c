"""``glofwatch data yolo``: convert a mask data set to YOLO segmentation labels (cached)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from glofwatch.cli.data import data_app


@data_app.command("yolo")
def yolo_labels(
    root: Path = typer.Argument(..., help="Data folder: ROOT/{train,test}/{images,labels} or ROOT/{images,masks}."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="YOLO folder (default: cache under $GLOFWATCH_CACHE)."),
    val_fraction: float = typer.Option(0.1, help="Share of the train split held back for validation."),
    seed: int = typer.Option(42, help="Seed of the train/validation split (the run's seed)."),
    min_area_px: int = typer.Option(4, help="Drop connected lakes smaller than this many pixels."),
    holes: str = typer.Option("bridge", help="bridge (cut each hole into the outer ring) or fill (drop holes)."),
) -> None:
    """Write YOLO polygon labels and data.yaml for a mask data set; print label statistics per split."""
    from rich.console import Console
    from rich.table import Table

    from glofwatch.data.yolo_dataset import prepare_yolo_dataset

    data = prepare_yolo_dataset(root, out, val_fraction=val_fraction, seed=seed, min_area_px=min_area_px, holes=holes)
    table = Table(title=f"YOLO labels ({'written' if data.rebuilt else 'cached'}): {data.yaml}")
    cols = ("images", "empty_images", "lakes", "specks_dropped", "speck_pixels", "holes_bridged", "holes_filled")
    table.add_column("split")
    for c in cols:
        table.add_column(c.replace("_", " "), justify="right")
    for split, stats in data.stats.items():
        table.add_row(split, *(str(stats.get(c, 0)) for c in cols))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """The command lives on ``data_app``, which :mod:`glofwatch.cli.data` adds to the root app."""
