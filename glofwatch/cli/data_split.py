"""``glofwatch data split``: a held-out test split of a one-folder data set, in the study layout."""

from __future__ import annotations

from pathlib import Path

import typer

from glofwatch.cli.data import data_app


@data_app.command("split")
def split_cmd(
    root: Path = typer.Argument(..., help="Data root with images/ and masks/ (or labels/)."),
    out: Path = typer.Argument(..., help="New folder for train/ and test/ (study layout)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of pairs held out for testing."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives the same split."),
    split: str = typer.Option("all", help="Split of a study-layout root to re-split (e.g. train)."),
    copy: bool = typer.Option(False, "--copy", help="Copy the files instead of linking them."),
    group_by: str = typer.Option("none", "--group-by", help="Keep groups whole: none, regex:PATTERN (on the file "
                                 "stem), csv:FILE (name,group) or footprint (georeferenced crops that overlap)."),
) -> None:
    """Hold out a seeded test share of ROOT: OUT/{train,test}/{images,labels} as links (or copies) + split.json."""
    from glofwatch.data.holdout import make_holdout

    summary = make_holdout(root, out, test_fraction=test_fraction, seed=seed, split=split, copy=copy, group_by=group_by)
    grouped = ""
    if group_by != "none":
        grouped = f", {summary['groups']['train']} / {summary['groups']['test']} groups by {group_by}"
    typer.echo(f"{out}: {summary['train']} train / {summary['test']} test pairs "
               f"({summary['mode']}s, seed {seed}{grouped}); list in {out / 'split.json'}")


def register(app: typer.Typer) -> None:
    """Nothing to add: ``split`` hangs on the ``data`` sub-app registered by ``glofwatch.cli.data``."""
