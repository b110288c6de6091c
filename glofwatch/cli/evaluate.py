"""``glofwatch evaluate``, ``predict`` and ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

RENDERING_HELP = ("8-bit rendering of the images: auto (from the data set's rendering.txt or synth.json, else "
                  "detected; stop when the model expects another), true-colour or false-colour (they are that: "
                  "no detection), or any (no check).")
THRESHOLD_HELP = "Mask threshold overriding the model's own (chosen on validation at the end of training)."
TTA_HELP = "Test-time augmentation: average over the 8 flips and rotations (8x slower)."


def evaluate_cmd(
    run: Optional[Path] = typer.Argument(None, help="Run folder or model file (not needed with --method ndwi)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Data root (default: the run's training data)."),
    split: str = typer.Option("test", help="Split to score: test (held out), val, train, "
                              "or all for a folder the run never saw."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/eval/<split>; "
                                       "NDWI: ./eval/<data>-ndwi-*/<split>)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino (auto: the fastest available)."),
    save_masks: bool = typer.Option(True, "--save-masks/--no-save-masks", help="Write predicted masks."),
    name: Optional[str] = typer.Option(None, help="Row name in the table (default: the preset)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help=THRESHOLD_HELP),
    tta: bool = typer.Option(False, "--tta", help=TTA_HELP),
    method: str = typer.Option("model", "--method", help="model (the trained network) or ndwi (the index baseline)."),
    ndwi_threshold: str = typer.Option("otsu", "--ndwi-threshold",
                                       help="otsu (per image) or a fixed NDWI value, e.g. 0.0, 0.1, 0.3."),
    bands: Optional[str] = typer.Option(None, "--bands", help="NDWI: band order of the crops, e.g. B08,B04,B03 "
                                        "(default: from synth.json)."),
    rendering: str = typer.Option("auto", "--rendering", help=RENDERING_HELP),
) -> None:
    """Score a model (or the NDWI baseline) on a split: dataset-level metrics JSON, a Markdown row, masks."""
    from rich.console import Console

    from glofwatch.errors import ConfigError, InputError
    from glofwatch.infer.evaluate import TABLE_HEADER, evaluate, markdown_row

    console = Console()
    if method not in ("model", "ndwi"):
        raise ConfigError(f"--method {method} is unknown; use model or ndwi")
    if method == "ndwi":
        metrics, out_dir = _evaluate_ndwi(data, split, out, save_masks, name, ndwi_threshold, bands, run)
        row = markdown_row(name or metrics["preset"], metrics["model"], metrics["loss"], metrics)
    else:
        from glofwatch.infer.backends import load_predictor
        from glofwatch.infer.yolo_evaluate import evaluate_yolo
        from glofwatch.models.bundle import run_data_root
        from glofwatch.models.yolo import is_yolo_run

        if run is None or not run.exists():
            raise InputError(f"{run}: no such run folder or model file; give a run folder, model.pt, .onnx or .xml")
        data = run_data_root(run, data)
        out_dir = out or ((run if run.is_dir() else run.parent) / "eval" / split)
        if is_yolo_run(run):
            if tta:
                raise ConfigError("--tta is for the semantic models; YOLOv8-Seg runs use ultralytics' own augment")
            from glofwatch.infer.evalset import eval_items

            eval_items(data, split, run)  # the same guard: never score training crops as test
            metrics = evaluate_yolo(run, data, split, out_dir, save_masks=save_masks, device=device, name=name)
            row = markdown_row(name or metrics["preset"], metrics["model"], metrics["loss"], metrics)
        else:
            from glofwatch.infer.rendering import check_declared

            check_declared(rendering)
            predictor = load_predictor(run, backend=backend, device=device, threshold=threshold, tta=tta)
            metrics = evaluate(predictor, data, split, out_dir, save_masks=save_masks, name=name, run=run,
                               rendering=rendering)
            row = markdown_row(name or metrics["preset"], metrics["model"], metrics["loss"], metrics)
    console.print(TABLE_HEADER, markup=False)
    console.print(row, markup=False)
    if "instance" in metrics:
        console.print(f"mask mAP50-95 {100 * metrics['instance']['map50_95']:.1f} % (instance metric, not pixel IoU)")
    m = metrics["micro"]
    console.print(f"{split}: {metrics['n_images']} images ({metrics.get('crops', 'as given')}), dataset-level IoU "
                  f"{100 * m['iou']:.1f} %, Dice {100 * m['dice']:.1f} % at threshold {metrics['threshold']:g}; "
                  f"outputs in {out_dir}", soft_wrap=True)


def _evaluate_ndwi(data: Optional[Path], split: str, out: Optional[Path], save_masks: bool, name: Optional[str],
                   ndwi_threshold: str, bands: Optional[str], run: Optional[Path]) -> tuple[dict, Path]:
    """Score the NDWI baseline on ``data``/``split`` (a run, when given, guards its training crops)."""
    from glofwatch.data.dataset import GlacialLakesDataset
    from glofwatch.errors import ConfigError
    from glofwatch.infer.evaluate import evaluate
    from glofwatch.infer.ndwi import NDWIPredictor, dataset_bands, parse_threshold

    if data is None:
        raise ConfigError("--method ndwi needs --data ROOT (crops with a near-infrared band)")
    probe = GlacialLakesDataset(data, "train" if split == "val" else split)
    if not len(probe):
        raise ConfigError(f"{data}: no crops in split '{split}'")
    channels = probe.load(0)[0].shape[-1]
    predictor = NDWIPredictor(dataset_bands(data, channels, bands), threshold=parse_threshold(ndwi_threshold))
    out_dir = out or (Path("eval") / f"{data.name}-{predictor.name}" / split if run is None
                      else run / "eval" / predictor.name / split)
    return evaluate(predictor, data, split, out_dir, save_masks=save_masks, name=name, run=run), out_dir


def predict_cmd(
    run: Path = typer.Argument(..., help="Run folder or model file."),
    inputs: list[Path] = typer.Argument(..., help="Image files or folders of images."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", help="auto, torch, onnxruntime or openvino (auto: the fastest available)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help=THRESHOLD_HELP),
    tta: bool = typer.Option(False, "--tta", help=TTA_HELP),
    rendering: str = typer.Option("auto", "--rendering", help=RENDERING_HELP.replace(
        "from the data set's rendering.txt or synth.json, else detected", "detected on a sample of the images")),
) -> None:
    """Write a mask (<id>_mask.png) and an overlay (<id>_overlay.png) for each image."""
    from rich.progress import track

    from glofwatch.data.io import list_image_files, read_image
    from glofwatch.errors import GlofwatchError, InputError
    from glofwatch.infer.backends import load_predictor
    from glofwatch.infer.yolo import predict_yolo_images
    from glofwatch.io.image import make_overlay, save_png, to_display_rgb
    from glofwatch.models.yolo import is_yolo_run

    files = list_image_files(inputs)
    if is_yolo_run(run):
        predict_yolo_images(run, files, out, device=device)
        typer.echo(f"wrote instances (JSON), overlays and masks of {len(files)} image(s) to {out}")
        return
    from glofwatch.infer.rendering import check_declared, check_image_files

    check_declared(rendering)
    predictor = load_predictor(run, backend=backend, device=device, threshold=threshold, tta=tta)
    check_image_files(files, predictor.bundle, rendering, model=str(run))
    failed: list[str] = []
    for f in track(files, description="predicting", transient=True):
        try:  # a bad image is reported and skipped; the others are still predicted
            image = read_image(f)
            res = predictor.predict_image(image.astype("float32"))
            overlay = make_overlay(to_display_rgb(image, predictor.spec.bands), res.mask)
        except GlofwatchError as exc:
            failed.append(str(exc) if str(f) in str(exc) else f"{f}: {exc}")
            continue
        save_png(out / f"{f.stem}_mask.png", res.mask * 255)
        save_png(out / f"{f.stem}_overlay.png", overlay)
    if len(files) == 1 and failed:
        raise InputError(failed[0])
    for line in failed:
        typer.echo(f"error: {line}", err=True)
    typer.echo(f"wrote masks and overlays of {len(files) - len(failed)} image(s) to {out} "
               f"(threshold {predictor.threshold:g}{', TTA' if tta else ''})")
    if failed:
        typer.echo(f"{len(failed)} of {len(files)} images failed", err=True)
        raise typer.Exit(2 if len(failed) == len(files) else 1)


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
