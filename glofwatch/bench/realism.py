"""How realistic is the synthetic generator? Train on synthetic crops only, score on real crops.

The real crops are read from ``../shared/data/himalaya-kmeans`` (or any folder in
the generic ``{images,masks}`` layout) and never copied. Their masks come from
K-means colour clustering, so the score is agreement with a noisy reference,
not true accuracy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError
from glofwatch.io.atomic import write_json_atomic, write_text_atomic

DEFAULT_REAL_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "himalaya-kmeans"
REALISM_TARGET_IOU = 0.5


def find_real_root(path: str | Path | None = None) -> Path:
    """The real evaluation crops: ``path`` or ``../shared/data/himalaya-kmeans`` beside the repository."""
    root = Path(path) if path else DEFAULT_REAL_ROOT
    if not (root / "images").is_dir():
        raise InputError(
            f"{root}: real evaluation crops not found (expected images/ and masks/); pass --real ROOT "
            "pointing to a folder in the {images,masks} layout"
        )
    return root


def run_realism(
    out_dir: str | Path,
    real_root: str | Path | None = None,
    n: int = 600,
    size: int = 256,
    seed: int = 0,
    preset: str = "fast",
    time_budget_s: float = 600.0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``preset`` on ``n`` synthetic crops and evaluate on the real crops.

    Returns:
        A dict with the real-crop metrics (dataset-level IoU etc.), the synthetic
        validation IoU, settings and seconds; also written to ``OUT/realism.json``
        and ``OUT/realism.md``.
    """
    from glofwatch.config import resolve_config
    from glofwatch.infer.evaluate import TABLE_HEADER, evaluate, markdown_row
    from glofwatch.infer.predict import Predictor
    from glofwatch.scene.synth import has_synthetic_dataset, write_synthetic_dataset
    from glofwatch.train.fit import train

    out_dir = Path(out_dir)
    real = find_real_root(real_root)
    t0 = time.monotonic()
    data = out_dir / "synth"
    if not has_synthetic_dataset(data, n, size, seed):
        write_synthetic_dataset(data, n=n, size=size, seed=seed)
    run = out_dir / "run"
    if (run / "model.pt").is_file():
        pass  # reuse a finished run (delete OUT/run to retrain)
    else:
        import shutil

        shutil.rmtree(run, ignore_errors=True)
        cfg = resolve_config(preset, {"time_budget_s": time_budget_s, "seed": seed, "max_epochs": 200})
        train(cfg, run, data, progress=progress)
    predictor = Predictor.from_path(run)
    synth_metrics = evaluate(predictor, data, "test", run / "eval" / "synth-test", save_masks=False)
    real_metrics = evaluate(predictor, real, "all", run / "eval" / "real", save_masks=True,
                            name=f"{preset} (synthetic only)")
    result = {
        "real_root": str(real),
        "note": "real masks are K-means clustered, not hand drawn: agreement with a noisy reference",
        "preset": preset,
        "n_synthetic": n,
        "size": size,
        "time_budget_s": time_budget_s,
        "synthetic_test": synth_metrics["micro"],
        "real": real_metrics["micro"],
        "real_per_image": real_metrics["per_image"],
        "target_iou": REALISM_TARGET_IOU,
        "meets_target": real_metrics["micro"]["iou"] >= REALISM_TARGET_IOU,
        "seconds": round(time.monotonic() - t0, 1),
    }
    write_json_atomic(out_dir / "realism.json", result)
    model, loss = predictor.bundle.config.model, predictor.bundle.config.loss
    md = (
        f"# Synthetic-to-real realism benchmark\n\nTrained on {n} synthetic crops ({size} px), preset `{preset}`, "
        f"budget {time_budget_s:.0f} s; scored on {real_metrics['n_images']} real crops in `{real}` "
        "(K-means reference masks).\n\n" + TABLE_HEADER + "\n"
        + markdown_row("synthetic test", model, loss, synth_metrics) + "\n"
        + markdown_row("real (himalaya-kmeans)", model, loss, real_metrics) + "\n"
    )
    write_text_atomic(out_dir / "realism.md", md)
    return result
