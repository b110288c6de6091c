"""``glofwatch fetch``: Sentinel-2 L2A over a bbox from a STAC API, one cloud-ranked COG per date."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def fetch_cmd(
    bbox: tuple[float, float, float, float] = typer.Option(..., "--bbox",
                                                           help="West south east north, degrees (WGS84)."),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last day, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <YYYY-MM-DD>.tif and items.json."),
    max_cloud: float = typer.Option(20.0, "--max-cloud", help="Largest cloud + shadow + cirrus share of the bbox, "
                                    "percent (from the SCL window, not the tile-wide figure)."),
    catalog: Optional[str] = typer.Option(None, "--catalog", help="earth-search (default), planetary-computer, or a "
                                          "STAC API URL."),
    collection: Optional[str] = typer.Option(None, "--collection", help="Collection (default sentinel-2-l2a)."),
    limit: int = typer.Option(200, "--limit", help="Most items searched."),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds before the catalog or a file server counts as "
                                  "unreachable."),
) -> None:
    """Search a STAC API, rank each date by cloud inside the bbox, and read only the bbox window of each COG.

    Writes OUT/<YYYY-MM-DD>.tif (bands B02 B03 B04 B08 and SCL, DN as stored, offset recorded) per date
    clear enough, and OUT/items.json (ids, datetimes, cloud cover, processing baseline, licence, hrefs).
    Honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
    """
    from rich.console import Console

    from glofwatch.scene.acquire import fetch

    console = Console(stderr=True)
    result = fetch(bbox, start, end, out, catalog=catalog, collection=collection, max_cloud=max_cloud, limit=limit,
                   timeout_s=timeout, progress=lambda line: console.print(line, soft_wrap=True, markup=False))
    for note in dict.fromkeys(result.notes):
        console.print(f"note: {note}", soft_wrap=True, markup=False)
    typer.echo(f"{len(result.items)} item(s) on {len({c.date for c in result.items})} date(s): "
               f"{len(result.new)} date(s) fetched, {len(result.dates) - len(result.new)} kept, "
               f"{len(result.rejected)} rejected -> {out} ({result.seconds:.1f} s)")


def register(app: typer.Typer) -> None:
    """Add ``fetch`` to the root app."""
    app.command("fetch")(fetch_cmd)
