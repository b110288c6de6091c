"""``glofwatch data synth``: write synthetic crops (study layout) or a synthetic georeferenced scene."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from glofwatch.cli.data import data_app


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Output folder (created)."),
    n: int = typer.Option(100, "--n", help="Number of crops (crop mode)."),
    size: int | None = typer.Option(
        None, "--size", help="Crop or scene size in pixels (default 320 for crops, 2048 for a scene)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed writes identical files."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of crops in the test split."),
    rendering: str = typer.Option(
        "false-colour", "--rendering", help="Crop colours: false-colour (B08 B04 B03), true-colour (B04 B03 B02) "
        "or mixed (each crop in one of the two at random, listed in synth.json)."
    ),
    scene: bool = typer.Option(False, "--scene", help="Write one georeferenced scene with truth instead of crops."),
    bands_as_files: bool = typer.Option(
        False, "--bands-as-files", help="Scene mode: write B02.tif B03.tif B04.tif B08.tif instead of scene.tif."
    ),
    epsg: int = typer.Option(32645, "--epsg", help="Scene mode: projected CRS (default UTM 45N)."),
    dates: int | None = typer.Option(
        None, "--dates", help="Write N dated scenes OUT/<YYYY-MM-DD>/ a year apart whose lakes grow, split, merge "
        "and drain on purpose, plus OUT/series.json (implies --scene)."
    ),
) -> None:
    """Synthesise lake data: Sentinel-2-like crops with exact masks, or a whole scene.

    Crops: OUT/{train,test}/{images,labels}/synth_00001.png and OUT/synth.json.
    Scene (--scene): scene.tif (B02 B03 B04 B08 uint16), lakes_mask.tif, dem.tif,
    glaciers.gpkg and lakes_truth.gpkg on a 10 m UTM grid.
    Series (--dates N): N such scenes of one landscape in OUT/<YYYY-MM-DD>/ and OUT/series.json.
    """
    from rich.console import Console
    from rich.table import Table

    console = Console()
    start = time.perf_counter()
    if dates is not None:
        _series(console, out, dates, size or 2048, seed, epsg, bands_as_files, start)
        return
    if scene:
        from glofwatch.scene.synth.scene import write_synthetic_scene

        files = write_synthetic_scene(out, size=size or 2048, seed=seed, epsg=epsg, bands_as_files=bands_as_files)
        rows = []
        if files.scene is not None:
            rows.append((files.scene, "B02 B03 B04 B08 reflectance x 10000, uint16, nodata 0"))
        rows += [(path, f"{name} reflectance x 10000, uint16, nodata 0") for name, path in files.bands.items()]
        rows += [
            (files.lakes_mask, "truth mask: 1 lake, 0 not lake, 255 nodata"),
            (files.dem, "elevation, float32 metres"),
            (files.glaciers, f"{files.glacier_count} glacier outlines"),
            (files.lakes_truth, f"{files.lake_count} lakes, {files.lake_area_km2:.3f} km2"),
        ]
        console.print(f"[bold]synthetic scene {files.grid.width}x{files.grid.height} px, seed {seed}[/bold]")
        for path, content in rows:
            console.print(f"  {path}  [dim]{content}[/dim]", soft_wrap=True, highlight=False)
        seconds = time.perf_counter() - start
        console.print(f"grid: {files.grid.crs}, {files.grid.pixel_size[0]:g} m pixels, {seconds:.1f} s")
        return
    from glofwatch.errors import ConfigError
    from glofwatch.registry import close_matches_hint
    from glofwatch.scene.render import MIXED, RENDERINGS
    from glofwatch.scene.synth.crops import CropParams, mixed_params
    from glofwatch.scene.synth.dataset import write_synthetic_dataset

    if rendering == MIXED:
        params = mixed_params()
    elif rendering in RENDERINGS.names():
        params = CropParams(rendering=rendering)
    else:
        known = [*RENDERINGS.names(), MIXED]
        raise ConfigError(f"unknown rendering '{rendering}'{close_matches_hint(rendering, known)} "
                          f"(known: {', '.join(known)}); pass one to --rendering")
    summary = write_synthetic_dataset(
        out, n=n, size=size or 320, seed=seed, test_fraction=test_fraction, params=params
    )
    table = Table(title=f"synthetic crops {summary['size']}x{summary['size']} px, seed {seed}, {rendering}: {out}")
    for column in ("split", "images", "lake-free", "lakes", "mean lake share", "renderings"):
        table.add_column(column)
    for split, s in summary["splits"].items():
        share = "-" if s["mean_lake_fraction"] is None else f"{100 * s['mean_lake_fraction']:.1f} %"
        kinds = ", ".join(f"{k} {v}" for k, v in s["renderings"].items())
        table.add_row(split, str(s["images"]), str(s["lake_free"]), str(s["lakes"]), share, kinds)
    console.print(table)
    console.print(f"wrote {out / 'synth.json'} in {time.perf_counter() - start:.1f} s", soft_wrap=True, highlight=False)


def _series(console, out: Path, dates: int, size: int, seed: int, epsg: int, bands_as_files: bool,  # noqa: ANN001
            start: float) -> None:
    """``--dates N``: write the dated series and print what changed."""
    from glofwatch.scene.synth.series import write_synthetic_series

    files = write_synthetic_series(out, n_dates=dates, size=size, seed=seed, epsg=epsg, bands_as_files=bands_as_files)
    console.print(f"[bold]synthetic series: {dates} scenes {size}x{size} px, seed {seed}[/bold]")
    for scene in files.scenes:
        console.print(f"  {scene.out_dir}  [dim]{scene.lake_count} lakes, {scene.lake_area_km2:.3f} km2[/dim]",
                      soft_wrap=True, highlight=False)
    ev = files.events
    console.print(f"between {ev['between'][0]} and {ev['between'][1]}: lake {ev['grow']['lake_id']} grows "
                  f"x{ev['grow']['factor']:.2f}, lake {ev['split']['lake_id']} splits into {ev['split']['into']}, "
                  f"lakes {ev['merge']['lake_ids']} merge, lake {ev['drain']['lake_id']} drains "
                  f"(-{ev['drain']['loss_pct']:.0f} %); {len(files.stable)} lakes stay",
                  soft_wrap=True, highlight=False)
    console.print(f"wrote {files.series_json} in {time.perf_counter() - start:.1f} s", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Nothing to add: ``synth`` hangs on the ``data`` sub-app registered by ``glofwatch.cli.data``."""
