"""One self-contained HTML report per set of runs: numbers, curves, examples and error analysis.

The page needs nothing but itself: figures are embedded as base64 PNG
``data:`` URIs, the style sheet is inline, and there is no script and no
external link, so it opens offline and can be mailed as one file.

Contents: the comparison table against the study's published numbers
(:func:`glofwatch.report.compare.comparison_table`; runs without
``RUN/eval/<split>/metrics.json`` are evaluated first), then per run: a
written summary, training curves, the precision-recall curve on the split,
the error analysis (:mod:`glofwatch.explain.analysis`) and the 5-panel
figures of the best and worst images by per-image IoU.

Example:
    >>> build_report([Path("runs/dlv3p")], Path("report.html"), split="test")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glofwatch.errors import InputError
from glofwatch.explain.analysis import ErrorAnalysis, summary_text
from glofwatch.explain.figure import ExplainedImage, render_figure
from glofwatch.explain.images import display_rgb, explain_image, image_iou
from glofwatch.io.atomic import write_text_atomic

if TYPE_CHECKING:
    from glofwatch.infer.metrics import ThresholdCurve

@dataclass
class RunAnalysis:
    """What the report shows for one run."""

    run: Path
    metrics: dict[str, Any]
    curve: ThresholdCurve
    threshold: float
    errors: dict[str, Any]
    text: list[str]
    per_image: list[tuple[str, float]] = field(default_factory=list)
    best: list[ExplainedImage] = field(default_factory=list)
    worst: list[ExplainedImage] = field(default_factory=list)
    training_png: bytes | None = None
    pr_png: bytes = b""
    layer: str = ""


def _pick_examples(per: list[tuple[int, str, float, bool]], n: int) -> tuple[list, list]:
    """Best (highest IoU among images with lakes) and worst (lowest IoU among images with lake or alarm)."""
    with_lake = [p for p in per if p[3]] or per
    best = sorted(with_lake, key=lambda p: (-p[2], p[1]))[:n]
    chosen = {p[0] for p in best}
    worst = [p for p in sorted(per, key=lambda p: (p[2], p[1])) if p[0] not in chosen][:n]
    return best, worst


def analyse_run(run: Path, data: Path | None = None, split: str = "test", device: str = "auto",
                n_examples: int = 2, target_layer: str | None = None,
                progress: Callable[[str], None] | None = None) -> RunAnalysis:
    """Score, analyse and explain one run on ``split``.

    Args:
        run: run folder (model.pt, metrics.csv, run.json).
        data: data root (default: the one in ``run.json``).
        split: data split to analyse.
        device: auto, cpu or cuda.
        n_examples: best and worst images to show.
        target_layer: Grad-CAM layer (default per architecture).
        progress: called with a short status line now and then.
    """
    from glofwatch.explain.curves import (
        pr_curve_png,
        read_metrics_csv,
        training_curves_png,
    )
    from glofwatch.explain.gradcam import LakeGradCam
    from glofwatch.infer.evalset import eval_items
    from glofwatch.infer.evaluate import evaluate
    from glofwatch.infer.meter import SegmentationMeter
    from glofwatch.models.bundle import load_bundle, run_data_root

    say = progress or (lambda _msg: None)
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"{run}: not a run folder; give the folder written by `glofwatch train`")
    explainer = LakeGradCam(load_bundle(run), target_layer=target_layer, device=device)
    predictor = explainer.predictor
    root = run_data_root(run, data, purpose="the report")
    metrics_path = run / "eval" / split / "metrics.json"
    if not metrics_path.is_file():
        say(f"{run.name}: evaluating on {split} (no {metrics_path})")
        evaluate(predictor, root, split, run / "eval" / split, run=run)
    metrics = json.loads(metrics_path.read_text())

    say(f"{run.name}: analysing errors on {split}")
    items = eval_items(root, split, run)
    ds, indices = items.dataset, items.indices
    meter = SegmentationMeter(threshold=predictor.threshold)
    errors = ErrorAnalysis()
    per: list[tuple[int, str, float, bool]] = []
    for i in indices:
        image, truth, valid = ds.load(i)
        res = predictor.predict_image(image.astype(np.float32), valid)
        meter.update(res.probability[None], truth[None], ids=[ds.ids[i]], valid=valid[None])
        errors.update(display_rgb(image, predictor.spec), res.mask, truth, valid, ds.ids[i])
        lake_or_alarm = bool((truth.astype(bool) & valid).any())
        if lake_or_alarm or (res.mask.astype(bool) & valid).any():
            per.append((i, ds.ids[i], image_iou(res.mask, truth, valid), lake_or_alarm))
    if not per:
        raise InputError(f"{root}/{split}: no image holds a lake or a predicted lake; nothing to analyse")
    best_idx, worst_idx = _pick_examples(per, n_examples)

    say(f"{run.name}: Grad-CAM of {len(best_idx) + len(worst_idx)} images")

    def explained(entry: tuple[int, str, float, bool], note: str) -> ExplainedImage:
        image, truth, valid = ds.load(entry[0])
        return explain_image(explainer, image, entry[1], truth, valid, note)

    curve = meter.curve()
    training = None
    if (run / "metrics.csv").is_file():
        training = training_curves_png(read_metrics_csv(run), f"{run.name}: training curves")
    summary = errors.summary()
    return RunAnalysis(
        run=run, metrics=metrics, curve=curve, threshold=predictor.threshold, errors=summary,
        text=summary_text(summary, metrics.get("micro", {}).get("iou")),
        per_image=[(p[1], p[2]) for p in per],
        best=[explained(p, "best") for p in best_idx],
        worst=[explained(p, "worst") for p in worst_idx],
        training_png=training,
        pr_png=pr_curve_png(curve, predictor.threshold, f"{run.name}: {split} split, lake pixels"),
        layer=explainer.layer_name,
    )


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px auto;max-width:1380px;color:#1d2430;padding:0 16px}
h1{font-size:26px;margin-bottom:4px}
h2{font-size:21px;border-bottom:2px solid #c9d3df;padding-bottom:4px;margin-top:36px}
h3{font-size:16px;margin:22px 0 8px} p.meta{color:#5a6675;margin-top:0}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}
th,td{border:1px solid #c9d3df;padding:4px 8px;text-align:right}
th{background:#eef2f7} td:first-child,th:first-child,td.l{text-align:left}
tr.study td{background:#fbf6e4;font-style:italic}
img.fig{max-width:100%;height:auto;border:1px solid #dde3ea;margin:6px 0}
.summary{background:#f3f7fb;border-left:4px solid #2f80c1;padding:8px 14px;margin:10px 0}
.note{color:#5a6675;font-size:12.5px}
"""


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f'<img class="fig" src="{data_uri(png)}" alt="{html.escape(alt)}">'


def markdown_table_to_html(md: str, study_marker: str = "study (published)") -> str:
    """A pipe-table in Markdown as an HTML table (cells escaped; study rows get class ``study``)."""
    lines = [ln.strip() for ln in md.strip().splitlines() if ln.strip().startswith("|")]
    if not lines:
        return ""
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    head, body = cells[0], [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"]
    for row in body:
        cls = ' class="study"' if any(study_marker in c for c in row) else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f} %" if pct else f"{v:,}"


def _error_tables(e: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(c['class'])}</td><td>{c['fp_pixels']:,}</td><td>{_fmt(c['share_of_fp'])}</td>"
        f"<td>{c['class_pixels']:,}</td><td>{_fmt(c['rate'])}</td></tr>"
        for c in e["fp_by_surface"]
    )
    fp = ("<table><tr><th>surface under the false alarm</th><th>false-alarm px</th><th>share of false alarms</th>"
          "<th>non-lake px of this surface</th><th>called lake</th></tr>" + rows + "</table>")
    rows = "".join(
        f"<tr><td>{html.escape(b['bin'])}</td><td>{b['lakes']:,}</td><td>{b['found']:,}</td><td>{_fmt(b['recall'])}</td></tr>"
        for b in e["recall_by_size"]
    )
    size = ("<table><tr><th>lake size (truth)</th><th>lakes</th><th>found</th><th>recall</th></tr>" + rows + "</table>")
    missed = ", ".join(f"{html.escape(m['image'])} ({m['pixels']:,} px)" for m in e["largest_missed"]) or "none"
    return (
        "<h3>False alarms by surface</h3>" + fp +
        '<p class="note">Surface from the pixel colour (HSV rules: shadow V &lt; 0.25; cloud bright, colourless, '
        "smooth; snow/ice bright white to pale blue). Cloud and snow are both white in true colour and cannot be "
        "told apart reliably: read them together as bright white surfaces.</p>"
        "<h3>Missed lakes by size</h3>" + size +
        f'<p class="note">Each connected patch of the reference mask is one lake; {html.escape(e["found_rule"])}. '
        f"Areas assume 10 m pixels. Largest missed lakes: {missed}.</p>"
    )


def _yolo_section(run: Path) -> str:
    return (f"<h2>{html.escape(run.name)}: YOLOv8-Seg</h2>"
            '<p class="note">Instance-segmentation run: it is in the comparison table above (pixel scores of the '
            "union of its instances and mask mAP50-95); the curves, Grad-CAM figures and error analysis below the "
            "table cover the semantic segmentation runs.</p>")


def _run_section(a: RunAnalysis, split: str) -> str:
    m = a.metrics
    micro = m.get("micro", {})
    title = f"{a.run.name}: {m.get('model', '?')}, loss {m.get('loss', '?')}"
    parts = [f"<h2>{html.escape(title)}</h2>",
             f'<p class="meta">study row: {html.escape(str(m.get("study_row") or "–"))}; threshold {a.threshold:g}; '
             f"{split} IoU {_fmt(micro.get('iou'))}, Dice {_fmt(micro.get('dice'))}, precision "
             f"{_fmt(micro.get('precision'))}, recall {_fmt(micro.get('recall'))} (dataset-level)</p>",
             '<div class="summary">' + "".join(f"<p>{html.escape(t)}</p>" for t in a.text) + "</div>",
             "<h3>Training curves</h3>",
             _img(a.training_png, "training curves") if a.training_png else "<p>No metrics.csv in this run.</p>",
             f"<h3>Precision and recall over thresholds ({html.escape(split)})</h3>",
             _img(a.pr_png, "precision-recall"),
             _error_tables(a.errors)]
    for label, items in (("Best images", a.best), ("Worst images", a.worst)):
        if items:
            parts.append(f"<h3>{label} by per-image IoU</h3>")
            parts.append(_img(render_figure(items), f"{label} of {a.run.name}"))
    parts.append(f'<p class="note">Grad-CAM layer: {html.escape(a.layer)}; target: the sum of the lake logit over the '
                 "predicted lake pixels. Overlay: model lake in cyan, reference outline in yellow.</p>")
    return "\n".join(parts)


def render_html(analyses: list[RunAnalysis], table_md: str, split: str, yolo_runs: list[Path] | None = None) -> str:
    """The whole page as one string (``yolo_runs``: instance-model runs, listed without analysis)."""
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    from glofwatch import __version__

    body = [
        "<h1>glofwatch: lake segmentation report</h1>",
        f'<p class="meta">{len(analyses) + len(yolo_runs or [])} run(s), {html.escape(split)} split; '
        f"generated {when} by glofwatch {html.escape(__version__)}</p>",
        "<h2>Comparison with the study</h2>",
        markdown_table_to_html(table_md),
        '<p class="note">Our IoU, Dice, accuracy, precision and recall are dataset-level (one confusion matrix over '
        "all pixels of the split); the study's numbers use its own definitions (per-batch soft scores averaged over "
        "batches for the U-Net notebook; mask mAP50-95 for YOLOv8), shown in the study-soft and mAP columns.</p>",
    ]
    body += [_run_section(a, split) for a in analyses]
    body += [_yolo_section(r) for r in yolo_runs or []]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>glofwatch report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def build_report(runs: list[Path], out: Path, data: Path | None = None, split: str = "test", device: str = "auto",
                 n_examples: int = 2, target_layer: str | None = None,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Analyse every run and write the HTML report atomically.

    Returns:
        ``out``.
    """
    from glofwatch.report.compare import comparison_table

    if not runs:
        raise InputError("no run folder given; pass one or more run folders")
    runs = [Path(r) for r in runs]
    from glofwatch.models.yolo import is_yolo_run

    yolo = [r for r in runs if is_yolo_run(r)]
    for r in yolo:
        if not (r / "eval" / split / "metrics.json").is_file():
            raise InputError(f"{r}: YOLOv8-Seg run without eval/{split}/metrics.json; "
                             f"run `glofwatch evaluate {r} --split {split}` first")
    analyses = [analyse_run(r, data, split, device, n_examples, target_layer, progress) for r in runs if r not in yolo]
    table = comparison_table(runs, split)
    return write_text_atomic(out, render_html(analyses, table, split, yolo))

