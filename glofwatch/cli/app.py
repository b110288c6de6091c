"""The ``glofwatch`` command: one Typer app, one module per stage.

Each module in :data:`COMMAND_MODULES` exposes ``register(app)`` and adds its
commands (or sub-apps) to the root app. Heavy libraries (torch, rasterio) are
imported inside the commands so ``glofwatch --help`` stays fast.

Any :class:`~glofwatch.errors.GlofwatchError` becomes one line on stderr,
``error: ...``, and exit status 2.
"""

from __future__ import annotations

import errno
import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from glofwatch.errors import GlofwatchError

COMMAND_MODULES = [
    "glofwatch.cli.data",
    "glofwatch.cli.data_check",
    "glofwatch.cli.yolo",
    "glofwatch.cli.data_synth",
    "glofwatch.cli.data_split",
    "glofwatch.cli.data_rendering",
    "glofwatch.cli.models",
    "glofwatch.cli.train",
    "glofwatch.cli.evaluate",
    "glofwatch.cli.evaluate_map",
    "glofwatch.cli.reproduce",
    "glofwatch.cli.demo",
    "glofwatch.cli.export",
    "glofwatch.cli.bench",
    "glofwatch.cli.map",
    "glofwatch.cli.fetch",
    "glofwatch.cli.watch",
    "glofwatch.cli.explain",
    "glofwatch.cli.monitor",
    "glofwatch.cli.risk",
    "glofwatch.cli.alerts",
    "glofwatch.cli.serve",
]


def report_error(exc: GlofwatchError) -> None:
    """Print a user error as one line on stderr."""
    typer.echo(f"error: {exc}", err=True)


# Failures of the machine, not of glofwatch: the file system refused a write or a read.
OS_FIXES = {
    errno.ENOSPC: "the disk is full; free disk space or write to another --out folder",
    errno.EDQUOT: "the disk quota is exceeded; free disk space or write to another --out folder",
    errno.EACCES: "permission denied; check the folder's permissions or choose another --out folder",
    errno.EPERM: "permission denied; check the folder's permissions or choose another --out folder",
    errno.EROFS: "the file system is read-only; choose another --out folder",
}


def os_error_line(exc: OSError) -> str | None:
    """One line for a full disk, a read-only or forbidden folder; None for other OS errors (bugs keep a traceback)."""
    fix = OS_FIXES.get(exc.errno or -1)
    if fix is None:
        return None
    where = exc.filename or "a file"
    return f"{where}: {fix}"


class GlofwatchGroup(TyperGroup):
    """Root command group that turns GlofwatchError into one line and exit status 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except GlofwatchError as exc:
            report_error(exc)
            raise typer.Exit(2) from exc
        except OSError as exc:
            line = os_error_line(exc)
            if line is None:
                raise
            typer.echo(f"error: {line}", err=True)
            raise typer.Exit(2) from exc


app = typer.Typer(
    cls=GlofwatchGroup,
    name="glofwatch",
    help="Map glacial lakes in Sentinel-2 imagery and turn the maps into GLOF warnings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from glofwatch import __version__

        typer.echo(__version__)
        raise typer.Exit()


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # stage not written yet
                continue
            raise
        module.register(app)


_load_commands()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="glofwatch")


if __name__ == "__main__":  # pragma: no cover
    main()
