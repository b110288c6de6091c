"""``glofwatch explain`` (masks, overlays, Grad-CAM, 5-panel figures, curves) and ``glofwatch report`` (HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _image_files(paths: list[Path]) -> list[Path]:
    from glofwatch.data.io import list_image_files

    return list_image_files(paths)


def _curves(run: Path, out: Path, data: Optional[Path], split: str, device: str,
            threshold: Optional[float] = None) -> list[Path]:
    """Training curves from metrics.csv and the PR curve on ``split`` (when data is found)."""
    import numpy as np

    from glofwatch.errors import ConfigError
    from glofwatch.explain.curves import save_pr_curve, save_training_curves
    from glofwatch.infer.evalset import eval_items
    from glofwatch.infer.meter import SegmentationMeter
    from glofwatch.infer.predict import Predictor
    from glofwatch.models.bundle import run_data_root

    run_dir = run if run.is_dir() else run.parent
    written = [save_training_curves(run_dir, out / "training_curves.png", f"{run_dir.name}: training curves")]
    try:
        root = run_data_root(run_dir, data)
    except ConfigError as exc:
        typer.echo(f"no precision-recall curve: {exc}", err=True)
        return written
    predictor = Predictor.from_path(run, device=device, threshold=threshold)
    items = eval_items(root, split, run_dir)
    ds = items.dataset
    meter = SegmentationMeter(threshold=predictor.threshold)
    for i in items.indices:
        image, truth, valid = ds.load(i)
        res = predictor.predict_image(image.astype(np.float32), valid)
        meter.update(res.probability[None], truth[None], ids=[ds.ids[i]], valid=valid[None])
    written.append(save_pr_curve(meter.curve(), out / "pr_curve.png", predictor.threshold,
                                 f"{run_dir.name}: {split} split, lake pixels"))
    return written


def explain_cmd(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="Run folder or model file."),
    images: list[Path] = typer.Option([], "--images", "-i",
                                      help="Images or folders of images (several may follow one --images)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    masks: Optional[Path] = typer.Option(None, "--masks", help="Folder of reference masks, matched by file stem "
                                         "(default: a labels/ or masks/ folder beside an images/ folder)."),
    target_layer: Optional[str] = typer.Option(None, "--target-layer", help="Grad-CAM layer, e.g. encoder.layer4 "
                                               "(default per architecture)."),
    curves: bool = typer.Option(False, "--curves", help="Also write training curves and the precision-recall curve."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Data root for the PR curve (default: the run's)."),
    split: str = typer.Option("test", help="Split for the PR curve."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="Mask threshold overriding the model's own (chosen on validation)."),
) -> None:
    """Per image: mask, overlay, Grad-CAM and the study's 5-panel figure; grid.png for all of them.

    Writes <id>_mask.png, <id>_overlay.png, <id>_gradcam.png, <id>_panel.png and grid.png in OUT.
    """
    from glofwatch.data.io import read_image, read_mask
    from glofwatch.errors import InputError
    from glofwatch.explain.figure import (
        MAX_GRID_ROWS,
        panel_images,
        save_grid_figure,
        save_panel_figure,
    )
    from glofwatch.explain.gradcam import LakeGradCam
    from glofwatch.explain.images import explain_image, find_truth
    from glofwatch.io.image import save_png
    from glofwatch.models.bundle import load_bundle, with_threshold
    from glofwatch.models.yolo import is_yolo_run

    extra = [Path(a) for a in ctx.args]
    unknown = [a for a in ctx.args if a.startswith("-")]
    if unknown:
        raise InputError(f"unknown option {unknown[0]}; see `glofwatch explain --help`")
    files = _image_files(list(images) + extra)
    if masks is not None and not masks.is_dir():
        raise InputError(f"{masks}: --masks must be a folder of masks named like the images")
    if not files and not curves:
        raise InputError("nothing to do: give --images PATH... and/or --curves")
    if is_yolo_run(run):
        raise InputError(f"{run}: a YOLOv8-Seg run; Grad-CAM figures are made for semantic segmentation runs "
                         "(use `glofwatch predict` for YOLO overlays)")
    if files:
        explainer = LakeGradCam(with_threshold(load_bundle(run), threshold), target_layer=target_layer, device=device)
        items = []
        for f in files:
            truth_path = find_truth(f, masks)
            truth = read_mask(truth_path) if truth_path is not None else None
            item = explain_image(explainer, read_image(f), f.stem, truth)
            overlay, gradcam = panel_images(item)[3:]
            assert overlay is not None and gradcam is not None  # only the truth panel can be missing
            save_png(out / f"{f.stem}_mask.png", item.pred * 255)
            save_png(out / f"{f.stem}_overlay.png", overlay)
            save_png(out / f"{f.stem}_gradcam.png", gradcam)
            save_panel_figure(out / f"{f.stem}_panel.png", item)
            items.append(item)
            known = "no truth" if item.iou is None else f"IoU {100 * item.iou:.1f} %"  # iou is None without truth
            cam = f"Grad-CAM at {explainer.layer_name}" + (f"; {item.cam_note}" if item.cam_note else "")
            typer.echo(f"{f.name}: {int(item.pred.sum())} lake px ({known}); {cam}")
        save_grid_figure(out / "grid.png", items)
        if len(items) > MAX_GRID_ROWS:
            typer.echo(f"grid.png shows the first {MAX_GRID_ROWS} of {len(items)} images", err=True)
        typer.echo(f"wrote figures of {len(items)} image(s) to {out}")
    if curves:
        for path in _curves(run, out, data, split, device, threshold):
            typer.echo(f"wrote {path}")


def report_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders."),
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Data root (default: each run's)."),
    split: str = typer.Option("test", help="Split to analyse."),
    examples: int = typer.Option(2, "--examples", min=1, max=10, help="Best and worst images shown per run."),
    target_layer: Optional[str] = typer.Option(None, "--target-layer",
                                               help="Grad-CAM layer (default per architecture)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """One self-contained HTML page: table vs the study, curves, best/worst images, error analysis."""
    from glofwatch.report.html import build_report

    path = build_report(list(runs), out, data, split, device, examples, target_layer,
                        progress=lambda msg: typer.echo(msg, err=True))
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add ``explain`` and ``report``."""
    app.command("explain", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(explain_cmd)
    app.command("report")(report_cmd)
