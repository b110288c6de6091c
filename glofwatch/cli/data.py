"""``glofwatch data ...``: the data sub-app shared by the data commands."""

from __future__ import annotations

import typer

data_app = typer.Typer(
    help="Check, build and synthesise training data sets.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``glofwatch data`` to the root app."""
    app.add_typer(data_app, name="data")
