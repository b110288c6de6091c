"""``glofwatch data check ROOT``: check a training data set before using it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from glofwatch.cli.data import data_app

MAX_PROBLEMS_SHOWN = 100


def _pct(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def _sizes(sizes: dict[str, int]) -> str:
    """``{"320x318": 2}`` (HxW) -> ``"318x320 (2)"`` (WxH, as error messages write sizes)."""
    parts = []
    for key, count in sorted(sizes.items(), key=lambda kv: -kv[1]):
        h, w = key.split("x")
        parts.append(f"{w}x{h} ({count})")
    return ", ".join(parts) or "-"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def _print_report(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.root} ({report.layout} layout)")
    for column in (
        "split",
        "pairs",
        "read",
        "sizes WxH",
        "channels",
        "dtype",
        "lake % mean [min-max]",
        "lakes/image mean (max)",
        "no lake",
        "no-data % mean (max)",
    ):
        table.add_column(column, overflow="fold")
    for s in report.splits:
        lakes = "-" if math.isnan(s.lakes_per_image_mean) else f"{s.lakes_per_image_mean:.2f} ({s.lakes_per_image_max})"
        table.add_row(
            s.name,
            str(s.n_pairs),
            str(s.n_read),
            _sizes(s.sizes),
            _counts(s.channels),
            _counts(s.dtypes),
            f"{_pct(s.lake_fraction_mean)} [{_pct(s.lake_fraction_min)}-{_pct(s.lake_fraction_max)}]",
            lakes,
            str(s.images_without_lake),
            f"{_pct(s.nodata_fraction_mean)} ({_pct(s.nodata_fraction_max)})",
        )
    Console(width=160).print(table)


@data_app.command("check")
def check(
    root: Path = typer.Argument(..., help="Data folder: ROOT/{train,test}/{images,labels} or ROOT/{images,masks}."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the report as JSON to this file."),
) -> None:
    """Read every image and mask, print statistics and list problems (exit 1 if any)."""
    from glofwatch.data.checks import check_dataset
    from glofwatch.io.atomic import write_json_atomic

    report = check_dataset(root)
    _print_report(report)
    if json_path is not None:
        write_json_atomic(json_path, report.to_dict())
        typer.echo(f"report written to {json_path}")
    if report.problems:
        typer.echo(f"{len(report.problems)} problem(s):")
        for line in report.problems[:MAX_PROBLEMS_SHOWN]:
            typer.echo(f"  {line}")
        hidden = len(report.problems) - MAX_PROBLEMS_SHOWN
        if hidden > 0:
            typer.echo(f"  ... and {hidden} more (write them all with --json PATH)")
        raise typer.Exit(code=1)
    typer.echo("no problems found")


def register(app: typer.Typer) -> None:
    """The command lives on ``data_app``, which :mod:`glofwatch.cli.data` adds to the root app."""
