"""``glofwatch reproduce``: every study row trained, evaluated and tabled by one command (resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def reproduce_cmd(
    data: Path = typer.Option(..., "--data", "-d", help="The study's data set (ROOT/{train,test}/{images,labels}, "
                              "IEEE Dataport doi 10.21227/th0c-8t68 or its Kaggle copy) or any glofwatch data root."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (runs/, rows/, tables.md, report.html); "
                             "run again with the same --out to resume."),
    budget: str = typer.Option("quick", "--budget", help="full (50 epochs as 30 + resumed 20) or quick "
                               "(a CPU time budget per row)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    weights: str = typer.Option("auto", "--weights", help="auto (ImageNet where on disk, else random init, noted in "
                                "the tables), imagenet (stop when missing) or none."),
    rows: Optional[str] = typer.Option(None, "--rows", help="Comma-separated presets (default: all study rows)."),
    row_seconds: float = typer.Option(120.0, "--row-seconds", help="Quick budget: training seconds per row."),
    set_: list[str] = typer.Option([], "--set", help="Setting for the semantic rows as key=value (repeatable)."),
    yolo_set: list[str] = typer.Option([], "--yolo-set", help="Setting for the YOLOv8-Seg row as key=value."),
    report: bool = typer.Option(True, "--report/--no-report", help="Also write report.html."),
    progress: bool = typer.Option(False, "--progress/--no-progress", help="Show training progress."),
) -> None:
    """Re-run the study's rows with its protocol; write Tables I and II beside the published numbers, and the report."""
    from glofwatch.cli.train import _parse_set
    from glofwatch.report.reproduce import reproduce

    def say(msg: str) -> None:
        typer.echo(msg, err=True)

    result = reproduce(data, out, budget=budget, device=device, weights=weights,
                       rows=[r.strip() for r in rows.split(",") if r.strip()] if rows else None,
                       overrides=_parse_set(set_), yolo_overrides=_parse_set(yolo_set), row_seconds=row_seconds,
                       report=report, progress=progress, say=say)
    typer.echo((out / "tables.md").read_text())
    typer.echo(f"wrote {result['tables']}" + (f" and {result['report']}" if "report" in result else ""))


def register(app: typer.Typer) -> None:
    """Add ``reproduce``."""
    app.command("reproduce")(reproduce_cmd)
