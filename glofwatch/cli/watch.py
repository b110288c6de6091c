"""``glofwatch watch CONFIG.yaml``: fetch new dates for each area, map them, update tracked lakes and alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def watch_cmd(
    config: Path = typer.Argument(..., help="Watch configuration (YAML): out, start, model, areas (name, bbox or "
                                  "polygon, thresholds)."),
    every: Optional[float] = typer.Option(None, "--every", help="Repeat every this many hours (default: one pass)."),
) -> None:
    """Fetch the dates new since the last pass, map them, and update the tracked inventory, hazard and alerts.

    Idempotent (a second pass writes nothing new), resumable after a kill, and locked (OUT/.watch.lock) so two
    passes cannot collide. Progress is printed per area and date.
    """
    import time

    from rich.console import Console

    from glofwatch.errors import ConfigError
    from glofwatch.watch.config import load_config
    from glofwatch.watch.run import run_watch

    if every is not None and every <= 0:
        raise ConfigError(f"--every {every:g} must be a positive number of hours, e.g. --every 24")
    console = Console(stderr=True)
    while True:
        cfg = load_config(config)
        runs = run_watch(cfg, say=lambda line: console.print(line, soft_wrap=True, markup=False))
        for r in runs:
            typer.echo(f"{r.name}: {len(r.new_dates)} new date(s), {len(r.mapped)} mapped, {len(r.dates)} in total; "
                       f"{'alerts updated' if r.chain else 'alerts unchanged'} ({r.new_messages} new CAP message(s))")
        if every is None:
            return
        time.sleep(every * 3600.0)


def register(app: typer.Typer) -> None:
    """Add ``watch`` to the root app."""
    app.command("watch")(watch_cmd)
