"""Side-by-side table of evaluated runs and the study's published numbers."""

from __future__ import annotations

import json
from pathlib import Path

from glofwatch.errors import InputError
from glofwatch.study import PUBLISHED


def _pct(v: object) -> str:
    return "–" if v is None else f"{100 * float(v):.1f}"  # type: ignore[arg-type]


def comparison_table(runs: list[Path], split: str = "test") -> str:
    """Markdown table: one row per run (ours, dataset-level) and the study row it re-runs.

    Columns say their reduction: IoU/Dice/Prec/Rec/Acc are dataset-level (one confusion
    matrix over the split); "study soft IoU" is the study's own definition
    (per-batch soft scores averaged over batches); mask mAP50-95 is for instance models.
    """
    lines = [
        "| Row | Source | IoU | Dice | Acc | Prec | Rec | study-soft IoU | mask mAP50-95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    shown_study: set[str] = set()
    for run in runs:
        path = Path(run) / "eval" / split / "metrics.json"
        if not path.is_file():
            raise InputError(f"{path}: missing; run `glofwatch evaluate {run} --split {split}` first")
        m = json.loads(path.read_text())
        micro = m["micro"]
        soft = m.get("study_batch_soft", {})
        inst = m.get("instance", {})
        label = m.get("study_row") or m.get("preset") or Path(run).name
        lines.append(
            f"| {label} | ours: {Path(run).name} | {_pct(micro['iou'])} | {_pct(micro['dice'])} "
            f"| {_pct(micro['accuracy'])} | {_pct(micro['precision'])} | {_pct(micro['recall'])} "
            f"| {_pct(soft.get('iou'))} | {_pct(inst.get('map50_95'))} |"
        )
        row = m.get("study_row")
        if row in PUBLISHED and row not in shown_study:
            p = PUBLISHED[row]
            lines.append(
                f"| {row} | study (published) | – | {_pct(p.get('dice'))} | {_pct(p.get('accuracy'))} "
                f"| {_pct(p.get('precision'))} | {_pct(p.get('recall'))} | {_pct(p.get('iou'))} "
                f"| {_pct(p.get('mask_map50_95'))} |"
            )
            shown_study.add(row)
    return "\n".join(lines)
