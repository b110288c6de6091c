"""``glofwatch demo``: the whole pipeline on the embedded synthetic data, on a CPU, in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

DEMO_TARGET_IOU = 0.70
DEMO_RENDERING = "false-colour"
"""The demo trains on near-infrared false colour, like the real Himalayan crops. Trained on mixed
renderings (half true colour) for the same 2 epochs, the fast model lost 1.9 IoU points on the
false-colour test split (70.3 vs 72.2) and 0.3 on the real crops, for 60.9 vs 49.0 on true colour:
more than the 1 point allowed, so mixed stays an option (``--rendering mixed``; README, "Renderings")."""


def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Demo output folder."),
    n: int = typer.Option(480, help="Synthetic crops to generate (80 % train, 20 % test)."),
    size: int = typer.Option(256, help="Crop size in pixels."),
    seed: int = typer.Option(0, help="Seed of the synthetic data and the training."),
    time_budget: float = typer.Option(240.0, help="Training time budget in seconds."),
    preset: str = typer.Option("fast", help="Preset to train."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    series_size: int = typer.Option(1024, help="Side in pixels of the two-date synthetic scene series (0: skip it)."),
    rendering: str = typer.Option(DEMO_RENDERING, "--rendering", help="Crops in false-colour, true-colour or mixed "
                                  "(each crop in one of the two; the model then reads both)."),
) -> None:
    """Train the fast preset on synthetic crops, evaluate it, then map a two-date series and issue GLOF alerts."""
    import shutil

    from rich.console import Console

    from glofwatch.config import resolve_config
    from glofwatch.errors import ConfigError
    from glofwatch.infer.evaluate import TABLE_HEADER, evaluate, markdown_row
    from glofwatch.infer.predict import Predictor
    from glofwatch.scene.render import MIXED, RENDERINGS
    from glofwatch.scene.synth import CropParams, has_synthetic_dataset, write_synthetic_dataset
    from glofwatch.scene.synth.crops import mixed_params
    from glofwatch.train.fit import train
    from glofwatch.train.rendering import record_data_rendering

    if rendering != MIXED and rendering not in RENDERINGS.names():
        raise ConfigError(f"--rendering {rendering} is unknown; use {', '.join(RENDERINGS.names())} or {MIXED}")
    console = Console()
    data = out / "data"
    if not has_synthetic_dataset(data, n, size, seed, rendering=rendering):
        console.print(f"[bold]1/5[/] synthesising {n} Sentinel-2-like crops of {size} px ({rendering}) -> {data}")
        params = mixed_params() if rendering == MIXED else CropParams(rendering=rendering)
        write_synthetic_dataset(data, n=n, size=size, seed=seed, params=params)
    else:
        console.print(f"[bold]1/5[/] synthetic data already in {data}")
    run = out / "run"
    if run.exists():
        shutil.rmtree(run)
    cfg = resolve_config(preset, {"time_budget_s": time_budget, "seed": seed, "max_epochs": 100})
    cfg, rendering_note = record_data_rendering(cfg, data)
    console.print(f"[bold]2/5[/] training preset '{preset}' ({cfg.model}) for up to {time_budget:.0f} s -> {run}; "
                  f"input rendering {rendering_note}", markup=False)
    result = train(cfg, run, data, progress=progress)
    best_iou = 100 * float(result.best_metrics.get("val_iou", 0))
    console.print(f"    {result.epochs} epochs in {result.seconds:.0f} s, best val IoU {best_iou:.1f} %")
    console.print("[bold]3/5[/] evaluating on the synthetic test split")
    predictor = Predictor.from_path(run)
    metrics = evaluate(predictor, data, "test", run / "eval" / "test")
    console.print(TABLE_HEADER, markup=False)
    console.print(markdown_row(preset, cfg.model, cfg.loss, metrics), markup=False)
    iou = metrics["micro"]["iou"]
    verdict = "meets" if iou >= DEMO_TARGET_IOU else "is BELOW"
    console.print(
        f"\ntest IoU (dataset-level) {100 * iou:.1f} % {verdict} the demo target of {100 * DEMO_TARGET_IOU:.0f} %\n"
        f"outputs: model {run / 'model.pt'}, metrics {run / 'eval' / 'test' / 'metrics.json'}, "
        f"masks {run / 'eval' / 'test' / 'masks'}, training curve {run / 'metrics.csv'}"
    )
    if series_size > 0:
        warn_on_series(console, run, out, series_size, seed)


def warn_on_series(console: Any, model: Path, out: Path, size: int, seed: int) -> None:
    """Steps 4-5 of the demo: a two-date synthetic series, mapped, tracked, scored and alerted on."""
    import json

    from glofwatch.cli.alerts import alert_table
    from glofwatch.pipeline.chain import run_warning_chain
    from glofwatch.scene.synth.series import write_synthetic_series

    series = out / "series"
    if not (series / "series.json").is_file():
        console.print(f"[bold]4/5[/] synthesising a two-date scene series ({size} px) -> {series}")
        write_synthetic_series(series, n_dates=2, size=size, seed=seed)
    else:
        console.print(f"[bold]4/5[/] scene series already in {series}")
    dates = sorted(p.name for p in series.iterdir() if (p / "scene.tif").is_file())
    ev = json.loads((series / "series.json").read_text())["events"]
    console.print(f"    planned between {' and '.join(ev['between'])} (truth ids): "
                  f"lake {ev['grow']['lake_id']} grows {ev['grow']['area_before_km2']:.2f} -> "
                  f"{ev['grow']['area_after_km2']:.2f} km2, lake {ev['split']['lake_id']} splits, lakes "
                  f"{' and '.join(map(str, ev['merge']['lake_ids']))} merge, lake {ev['drain']['lake_id']} drains "
                  f"{ev['drain']['area_before_km2']:.2f} -> {ev['drain']['area_after_km2']:.2f} km2", markup=False)
    watch = out / "watch"
    first = series / dates[0]
    console.print(f"[bold]5/5[/] mapping, tracking, hazard scoring and alerts -> {watch}")
    run = run_warning_chain({d: series / d / "scene.tif" for d in dates}, model, watch, dem=first / "dem.tif",
                            glaciers=first / "glaciers.gpkg", status="Exercise", sender="glofwatch-demo",
                            min_level="orange",
                            say=lambda line: console.print(f"    {line}", markup=False))
    console.print(alert_table(run.alerts))
    console.print(f"\nsee it on a map: glofwatch serve {watch}   (then open http://127.0.0.1:8000)", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``demo``."""
    app.command("demo")(demo_cmd)
