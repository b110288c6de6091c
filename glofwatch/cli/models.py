"""``glofwatch models``: list the registered segmentation models."""

from __future__ import annotations

import json
import sys

import typer


def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON instead of a table."),
) -> None:
    """List the segmentation models that --model accepts.

    Params are counted for 3 input bands. "Default weights" says what
    --weights default loads: ImageNet encoder weights only where they are on
    disk (nothing is downloaded); otherwise the model starts from random
    weights. To use your own ImageNet file, put it at
    $GLOFWATCH_WEIGHTS_DIR/<encoder>.pth (e.g. resnet50.pth). Inputs must have H
    and W divisible by the stride (the mappers pad to it).
    """
    from glofwatch.models import count_params, list_models
    from glofwatch.models.weights import imagenet_available

    rows = []
    for spec in list_models():
        offline = imagenet_available(spec.encoder) if spec.default_weights else None
        rows.append(
            {
                "name": spec.name,
                "family": spec.family,
                "encoder": spec.encoder,
                "params_m": round(count_params(spec) / 1e6, 2),
                "default_weights": spec.default_weights,
                "imagenet_offline": offline,
                "study_row": spec.study_row,
                "stride": spec.stride,
                "fast": spec.fast,
                "for_tests": spec.for_tests,
                "description": spec.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title="glofwatch models (output: 1 logit channel, lake vs background)")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("family")
    table.add_column("encoder")
    table.add_column("params (M)", justify="right")
    table.add_column("default weights")
    table.add_column("study row")
    table.add_column("stride", justify="right")
    table.add_column("fast")
    for row in rows:
        if row["default_weights"] is None:
            weights = "random init"
        elif row["imagenet_offline"]:
            weights = f"{row['default_weights']} (offline)"
        else:
            weights = f"{row['default_weights']} (not on disk: random init)"
        table.add_row(
            str(row["name"]),
            str(row["family"]),
            str(row["encoder"] or "-"),
            f"{row['params_m']:.2f}",
            weights,
            str(row["study_row"] or ("tests only" if row["for_tests"] else "-")),
            str(row["stride"]),
            "yes" if row["fast"] else "no",
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``glofwatch models`` to the root app."""
    app.command("models")(models_command)
