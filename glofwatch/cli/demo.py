"""``glofwatch demo``: the whole pipeline on the embedded synthetic data, on a CPU, in minutes."""

from __future__ import annotations

from pathlib import Path

import typer

DEMO_TARGET_IOU = 0.70


def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Demo output folder."),
    n: int = typer.Option(480, help="Synthetic crops to generate (80 % train, 20 % test)."),
    size: int = typer.Option(256, help="Crop size in pixels."),
    seed: int = typer.Option(0, help="Seed of the synthetic data and the training."),
    time_budget: float = typer.Option(240.0, help="Training time budget in seconds."),
    preset: str = typer.Option("fast", help="Preset to train."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Synthesise a data set, train the fast preset, evaluate on the test split, print the table."""
    import shutil

    from rich.console import Console

    from glofwatch.config import resolve_config
    from glofwatch.infer.evaluate import TABLE_HEADER, evaluate, markdown_row
    from glofwatch.infer.predict import Predictor
    from glofwatch.scene.synth import has_synthetic_dataset, write_synthetic_dataset
    from glofwatch.train.fit import train

    console = Console()
    data = out / "data"
    if not has_synthetic_dataset(data, n, size, seed):
        console.print(f"[bold]1/3[/] synthesising {n} Sentinel-2-like crops of {size} px -> {data}")
        write_synthetic_dataset(data, n=n, size=size, seed=seed)
    else:
        console.print(f"[bold]1/3[/] synthetic data already in {data}")
    run = out / "run"
    if run.exists():
        shutil.rmtree(run)
    cfg = resolve_config(preset, {"time_budget_s": time_budget, "seed": seed, "max_epochs": 100})
    console.print(f"[bold]2/3[/] training preset '{preset}' ({cfg.model}) for up to {time_budget:.0f} s -> {run}")
    result = train(cfg, run, data, progress=progress)
    console.print(f"    {result.epochs} epochs in {result.seconds:.0f} s, best val IoU {100 * float(result.best_metrics.get('val_iou', 0)):.1f} %")
    console.print("[bold]3/3[/] evaluating on the synthetic test split")
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


def register(app: typer.Typer) -> None:
    """Add ``demo``."""
    app.command("demo")(demo_cmd)
