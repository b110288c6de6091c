"""``glofwatch evaluate``, ``predict`` and ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def evaluate_cmd(
    run: Path = typer.Argument(..., help="Run folder or model file."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Data root (default: the run's training data)."),
    split: str = typer.Option("test", help="Split to score (test, train, or all for {images,masks} layouts)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/eval/<split>)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino (auto: the fastest available)."),
    save_masks: bool = typer.Option(True, "--save-masks/--no-save-masks", help="Write predicted masks."),
    name: Optional[str] = typer.Option(None, help="Row name in the table (default: the preset)."),
) -> None:
    """Score a model on a split: dataset-level metrics JSON, a Markdown row, masks."""
    from rich.console import Console

    from glofwatch.errors import InputError
    from glofwatch.infer.backends import load_predictor
    from glofwatch.infer.evaluate import TABLE_HEADER, evaluate, markdown_row
    from glofwatch.infer.yolo_evaluate import evaluate_yolo
    from glofwatch.models.bundle import run_data_root
    from glofwatch.models.yolo import is_yolo_run

    if not run.exists():
        raise InputError(f"{run}: no such run folder or model file; give a run folder, model.pt, .onnx or .xml")
    data = run_data_root(run, data)
    out_dir = out or ((run if run.is_dir() else run.parent) / "eval" / split)
    console = Console()
    if is_yolo_run(run):
        metrics = evaluate_yolo(run, data, split, out_dir, save_masks=save_masks, device=device, name=name)
        row = markdown_row(name or metrics["preset"], metrics["model"], metrics["loss"], metrics)
    else:
        predictor = load_predictor(run, backend=backend, device=device)
        metrics = evaluate(predictor, data, split, out_dir, save_masks=save_masks, name=name)
        cfg = predictor.bundle.config
        row = markdown_row(name or cfg.preset, cfg.model, cfg.loss, metrics)
    console.print(TABLE_HEADER, markup=False)
    console.print(row, markup=False)
    if "instance" in metrics:
        console.print(f"mask mAP50-95 {100 * metrics['instance']['map50_95']:.1f} % (instance metric, not pixel IoU)")
    m = metrics["micro"]
    console.print(f"{split}: {metrics['n_images']} images, dataset-level IoU {100 * m['iou']:.1f} %, "
                  f"Dice {100 * m['dice']:.1f} %; outputs in {out_dir}")


def predict_cmd(
    run: Path = typer.Argument(..., help="Run folder or model file."),
    inputs: list[Path] = typer.Argument(..., help="Image files or folders of images."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino (auto: the fastest available)."),
) -> None:
    """Write a mask (<id>_mask.png) and an overlay (<id>_overlay.png) for each image."""
    from rich.progress import track

    from glofwatch.data.io import list_image_files, read_image
    from glofwatch.infer.backends import load_predictor
    from glofwatch.infer.yolo import predict_yolo_images
    from glofwatch.io.image import make_overlay, save_png, to_display_rgb
    from glofwatch.models.yolo import is_yolo_run

    files = list_image_files(inputs)
    if is_yolo_run(run):
        predict_yolo_images(run, files, out, device=device)
        typer.echo(f"wrote instances (JSON), overlays and masks of {len(files)} image(s) to {out}")
        return
    predictor = load_predictor(run, backend=backend, device=device)
    for f in track(files, description="predicting", transient=True):
        image = read_image(f)
        res = predictor.predict_image(image.astype("float32"))
        save_png(out / f"{f.stem}_mask.png", res.mask * 255)
        save_png(out / f"{f.stem}_overlay.png", make_overlay(to_display_rgb(image, predictor.spec.bands), res.mask))
    typer.echo(f"wrote masks and overlays of {len(files)} image(s) to {out}")


def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders (each evaluated with glofwatch evaluate)."),
    split: str = typer.Option("test", help="Which evaluation to read."),
    out: Optional[Path] = typer.Option(None, help="Also write the table as Markdown here."),
) -> None:
    """Print runs side by side with the study's published numbers."""
    from rich.console import Console

    from glofwatch.report.compare import comparison_table

    text = comparison_table(runs, split)
    Console().print(text, markup=False)
    if out is not None:
        from glofwatch.io.atomic import write_text_atomic

        write_text_atomic(out, text + "\n")


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``predict`` and ``compare``."""
    app.command("evaluate")(evaluate_cmd)
    app.command("predict")(predict_cmd)
    app.command("compare")(compare_cmd)
