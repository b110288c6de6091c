"""``glofwatch map`` (whole scenes -> probability, mask, lake polygons) and ``glofwatch inventory``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _bands(text: Optional[str]) -> Optional[tuple[str, ...]]:
    if not text:
        return None
    return tuple(b.strip() for b in text.split(",") if b.strip())


def map_cmd(
    scenes: list[Path] = typer.Argument(..., help="Scene GeoTIFFs/COGs, folders of band files (B02.tif, ...), "
                                        ".SAFE products or STAC items; or a region: a folder of scenes, a .txt list "
                                        "of scene paths (one a line, relative to the list, # comments) or a "
                                        "`glofwatch fetch` output folder."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Run folder or model file (model.pt / .ckpt); "
                                         "needed with --method model."),
    method: str = typer.Option("model", "--method", help="model (the network of --model) or ndwi (no model: lake "
                               "where NDWI (B03 - B08) / (B03 + B08) of the L2A DN is above --ndwi-threshold)."),
    ndwi_threshold: Optional[str] = typer.Option(
        None, "--ndwi-threshold", help="With --method ndwi: otsu (default; one Otsu threshold per scene, from a "
        "1024 px overview, recorded in summary.json -> ndwi) or a fixed NDWI value in [-1, 1), e.g. 0.0, 0.1, 0.3."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; each scene gets OUT/<scene name>/."),
    tile: int = typer.Option(512, help="Tile side in pixels."),
    overlap: int = typer.Option(32, help="Overlap between tiles in pixels (blended; 32 px of 512 maps like 64 px, "
                                "with 15 % fewer network pixels)."),
    batch_size: int = typer.Option(0, help="Tiles per forward pass (0: 1 on CPU, where one 512 px tile at a time "
                                   "runs fastest, 8 on a GPU)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino (auto: the fastest available)."),
    min_area_m2: float = typer.Option(1000.0, help="Smallest lake kept in the polygons, m2."),
    bands: Optional[str] = typer.Option(None, help="Band names of multi-band files in file order, "
                                        "e.g. B02,B03,B04,B08."),
    gain: Optional[float] = typer.Option(None, help="8-bit rendering gain for models trained on 8-bit images."),
    dn_offset: Optional[float] = typer.Option(
        None, help="Added to L2A DN (-1000 for processing baseline 04.00 and later); default: read from the product "
        "(MTD_MSIL2A.xml, STAC raster:bands, tags, baseline), else implied by the acquisition date."),
    scl: Optional[Path] = typer.Option(None, "--scl", help="Scene Classification Layer file of the (one) scene; "
                                       "default: the scene's own SCL band or file, if any."),
    use_scl: bool = typer.Option(True, "--use-scl/--no-scl", help="Mark SCL cloud, shadow and cirrus pixels "
                                 "'not observed' (mask value 2)."),
    workers: int = typer.Option(1, help="Dask workers for many scenes (1: map in this process)."),
    scheduler: Optional[str] = typer.Option(None, help="Address of a running Dask scheduler, e.g. tcp://host:8786."),
    worker_memory: Optional[str] = typer.Option(
        None, "--worker-memory", help="Memory limit of each local Dask worker, e.g. 3GB (one 10980 px tile needs "
        "about 2 GB); a worker over 95 % of it is restarted and its tile fails. Default: the machine's memory / "
        "--workers. Given, even --workers 1 runs on Dask so the bound holds; 'none': no limit."),
    worker_processes: bool = typer.Option(True, "--worker-processes/--worker-threads",
                                          help="LocalCluster workers as processes or threads."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo scenes whose outputs are complete."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Mask threshold overriding the model's own "
                                              "(chosen on validation at the end of training)."),
    tta: bool = typer.Option(False, "--tta",
                             help="Test-time augmentation: 8 flips and rotations per tile (8x slower)."),
    dem: Optional[Path] = typer.Option(None, "--dem", help="DEM GeoTIFF in metres, any CRS and resolution (SRTM, "
                                       "Copernicus GLO-30), or a folder of such tiles (each scene uses those it "
                                       "overlaps): lake pixels on steep slopes or in cast shadow become not lake."),
    max_slope: float = typer.Option(10.0, "--max-slope", help="With --dem: steepest slope of a lake pixel in degrees "
                                    "(glacial-lake inventories use about 10)."),
    shadow: bool = typer.Option(True, "--shadow/--no-shadow", help="With --dem: drop lake pixels in cast shadow "
                                "steeper than 5 degrees (needs the product's sun angles)."),
    precision: str = typer.Option("auto", help="CPU graph precision: auto (the fastest of fp32, INT8 and bf16 whose "
                                  "validation IoU is within 0.5 points of fp32; chosen once per model), fp32, int8 "
                                  "(decoder quantised), int8-all (encoder too), bf16."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="With a bf16 or INT8 graph: run a tile whose "
                                "network input holds a patch within 0.5 logits of the threshold again, whole, in "
                                "fp32 (summary.json -> screen -> refined_tiles)."),
    screen: bool = typer.Option(True, "--screen/--no-screen", help="Skip tiles that cannot hold a lake: no data, all "
                                "SCL cloud, all steeper than --max-slope (with --dem), no pixel with NDWI above "
                                "--screen-ndwi (summary.json -> screen)."),
    screen_ndwi: float = typer.Option(0.1, "--screen-ndwi", help="NDWI (B03, B08) a pixel must exceed to keep its "
                                      "tile (0.1: above snow; McFeeters' water threshold is 0)."),
    screen_min_pixels: int = typer.Option(1, "--screen-min-pixels", help="Lake-candidate pixels a tile needs to run."),
    screen_min_patch: int = typer.Option(10, "--screen-min-patch", help="Pixels with NDWI above --screen-ndwi a "
                                         "patch needs to hold lake candidates (10: the smallest lake mapped; 1: "
                                         "every patch)."),
    trim: bool = typer.Option(True, "--trim/--no-trim", help="With --screen, on CPU: the network sees only boxes "
                              "around a tile's lake candidates, --trim-context px wide (half the pixels of the "
                              "tiles on a Sentinel-2 tile)."),
    trim_context: int = typer.Option(96, "--trim-context", help="Pixels of image kept around the lake candidates "
                                     "of a trimmed tile (glofwatch.mapping.screen.DEFAULT_CONTEXT)."),
    rendering: str = typer.Option("auto", "--rendering", help="What 8-bit scenes show: auto (detected and checked "
                                  "against the model), true-colour, false-colour, or any (no check)."),
) -> None:
    """Map glacial lakes in whole scenes: probability.tif, mask.tif, lakes.gpkg/.geojson, summary.json.

    mask.tif: 1 lake, 0 not lake, 2 not observed (SCL cloud, cloud shadow, thin cirrus), 255 nodata.
    With --dem, lake pixels on slopes above --max-slope or in cast shadow are 0 (summary.json -> terrain).
    --method ndwi maps without a model: NDWI of B03 and B08 above a threshold (summary.json -> ndwi).
    A region (folder, list or fetch output) runs one Dask task per scene; complete scenes are skipped.
    """
    from glofwatch.runtime import passive_openmp

    passive_openmp(backend, device)  # before torch is imported
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from glofwatch.errors import ConfigError
    from glofwatch.infer.backends import check_backend_name
    from glofwatch.infer.ndwi import parse_threshold
    from glofwatch.mapping.batch import MapOptions, SceneResult, map_scenes
    from glofwatch.mapping.region import expand_region, parse_worker_memory

    method = method.strip().lower()
    if method not in ("model", "ndwi"):
        raise ConfigError(f"--method {method} is unknown; use model (with --model RUN) or ndwi (no model)")
    if method == "model" and model is None:
        raise ConfigError("--method model needs --model RUN (a run folder or model file); "
                          "or map without a model: --method ndwi")
    if method == "model" and ndwi_threshold is not None:
        raise ConfigError(f"--ndwi-threshold {ndwi_threshold} is for --method ndwi; add --method ndwi, or leave it out")
    if method == "ndwi" and model is not None:
        raise ConfigError(f"--model {model} is not used by --method ndwi (NDWI needs no model); leave --model out, "
                          "or use --method model")
    ndwi = parse_threshold(ndwi_threshold or "otsu") if method == "ndwi" else None
    console = Console(stderr=True)
    region = expand_region(scenes)
    for line in [*region.sources, *region.notes]:
        console.print(Text(line), soft_wrap=True)
    scenes = region.scenes
    if worker_memory is not None and scheduler is None:  # with --scheduler, map_scenes says why it cannot be
        _, note = parse_worker_memory(worker_memory, workers)
        if note:
            console.print(Text(f"note: {note}"), soft_wrap=True)
    options = MapOptions(tile=tile, overlap=overlap, batch_size=batch_size, device=device,
                         backend=check_backend_name(backend), min_area_m2=min_area_m2, gain=gain, dn_offset=dn_offset,
                         bands=_bands(bands), scl=str(scl) if scl is not None else None, use_scl=use_scl,
                         overwrite=overwrite, threshold=threshold, tta=tta,
                         dem=str(dem) if dem is not None else None, max_slope=max_slope, shadow=shadow,
                         precision=precision, screen=screen, screen_ndwi=screen_ndwi,
                         screen_min_pixels=screen_min_pixels, screen_min_patch=screen_min_patch, trim=trim,
                         trim_context=trim_context, ndwi=ndwi,
                         rendering=rendering, refine=refine)
    per_tile = len(scenes) == 1 and workers == 1 and scheduler is None and worker_memory is None
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=console, disable=not progress, transient=False)
    failed: list[SceneResult] = []

    with bar:
        task = bar.add_task("tiles" if per_tile else "scenes", total=None if per_tile else len(scenes))

        def on_tiles(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def on_result(res: SceneResult) -> None:
            if res.status == "failed":
                failed.append(res)
                if res.user_error:  # the message names the file and the fix
                    console.print(Text(f"error: {res.message}"), soft_wrap=True)
                else:
                    console.print(Text.assemble(("failed", "red"), f" {res.scene}: {res.message}"), soft_wrap=True)
            elif res.status == "skipped":
                console.print(Text(f"skipped {res.scene}: outputs in {out / res.name} are complete for this "
                                   f"{'method' if ndwi is not None else 'model'} and these options (--overwrite to "
                                   "redo)"), soft_wrap=True)
            elif res.message:
                console.print(Text(f"note {res.scene}: {res.message}"), soft_wrap=True)
            if not per_tile:
                bar.advance(task)

        results = map_scenes(scenes, model, out, options, workers=workers, scheduler=scheduler,
                             processes=worker_processes, on_result=on_result, tile_progress=on_tiles,
                             worker_memory=worker_memory)
    _print_results(results, out)
    if failed:
        console.print(f"[red]{len(failed)} of {len(results)} scene(s) failed[/]")
        raise typer.Exit(2 if all(r.user_error for r in failed) else 1)  # 2: bad input only


def _print_results(results: list, out: Path) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"glofwatch map -> {out}")
    for col in ("scene", "status", "lakes", "area km2", "seconds", "note"):
        table.add_column(col, justify="right" if col in ("lakes", "area km2", "seconds") else "left")
    for r in results:
        s = r.summary or {}
        table.add_row(r.name, r.status, str(s.get("n_lakes", "")), f"{s['lake_area_km2']:.4f}" if s else "",
                      f"{s['seconds']:.1f}" if s else "", r.message)
    Console().print(table)
    if sum(1 for r in results if r.summary) > 1:  # tiles of a region overlap: their lake counts do not add up
        Console(stderr=True).print(f"`glofwatch inventory {out}` counts each lake once where these scenes overlap "
                                   "(one inventory per date)", soft_wrap=True, highlight=False, markup=False)


def inventory_cmd(
    paths: list[Path] = typer.Argument(..., help="lakes.gpkg files or folders written by `glofwatch map` (a region's "
                                       "tiles), or other lake inventory files (any CRS)."),
    group: str = typer.Option("date", "--group", help="date: one inventory per date (lakes of different dates never "
                              "merge; files without a date are 'undated'); all: one inventory of every file, e.g. "
                              "the clearest date of each tile in a season."),
    dates: Optional[str] = typer.Option(None, "--dates", help="One date per lake file, in order: D1,D2,... (default: "
                                        "a date column, else YYYY-MM-DD in the file or folder name)."),
    min_overlap: float = typer.Option(0.1, "--min-overlap", help="Outlines from two files are one lake when they "
                                      "share more than this share of the smaller one."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the summary to a .csv or .json file."),
    lakes_out: Optional[Path] = typer.Option(None, "--lakes", help="Write the lakes, each once, to a .gpkg or "
                                             ".geojson file (EPSG:4326)."),
) -> None:
    """Count lakes and sum their area by size class (km2: <0.01, 0.01-0.05, 0.05-0.1, 0.1-0.5, 0.5-1, >1),
    each lake once where map tiles overlap."""
    from rich.console import Console
    from rich.table import Table

    from glofwatch.changes.inventory import find_inventories, parse_dates_option
    from glofwatch.changes.regional import check_group, regional_inventory
    from glofwatch.lakes.inventory import check_inventory_path, summarize_inventory, write_inventory
    from glofwatch.lakes.vectorize import check_lake_path, write_lakes

    check_group(group)
    if out is not None:
        check_inventory_path(out)
    if lakes_out is not None:
        check_lake_path(lakes_out)
    files = find_inventories(list(paths))
    region = regional_inventory(files, group, parse_dates_option(dates, len(files)), min_overlap)
    rows: list[dict] = []
    for g in region.groups:
        part = summarize_inventory({"area_km2": region.areas(g.name)})
        rows.extend({"inventory": g.name, **r} for r in part)
        folded = f"; {g.folded} outline(s) from overlapping tiles folded into another" if g.folded else ""
        hidden = (f"; {g.partly_unobserved} partly unobserved (cloud, nodata or a scene edge beside them: their "
                  "outlines may be cut)" if g.partly_unobserved else "")
        table = Table(title=f"Lake inventory {g.name}: {g.lakes} lakes from {len(g.scenes)} scene(s){folded}{hidden}")
        for col in ("size class km2", "lakes", "area km2", "% lakes", "% area"):
            table.add_column(col, justify="left" if col.startswith("size") else "right")
        for r in part:
            style = "bold" if r["size_class"] == "total" else None
            table.add_row(r["size_class"], str(r["lakes"]), f"{r['area_km2']:.4f}", f"{r['lakes_pct']:.1f}",
                          f"{r['area_pct']:.1f}", style=style)
        Console().print(table)
    err = Console(stderr=True)
    if out is not None:
        write_inventory(rows, out, {"group_by": region.group_by, "min_overlap": min_overlap,
                                    "groups": [g.summary() for g in region.groups], "inputs": region.inputs})
        err.print(f"wrote {out}", soft_wrap=True, highlight=False)
    if lakes_out is not None:
        write_lakes(region.lakes, lakes_out)
        err.print(f"wrote {lakes_out}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``map`` and ``inventory`` to the root app."""
    app.command("map")(map_cmd)
    app.command("inventory")(inventory_cmd)
