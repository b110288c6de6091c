"""``glofwatch reproduce``: every row of the study re-run by one command, resumable, with its tables.

For each study row (:data:`STUDY_ROWS`, one preset each) in ``OUT/runs/<preset>``:

1. train with the study's protocol: ``full`` budget = 50 epochs as 30, then the
   run resumed to 50 (``glofwatch train --resume``: epoch count, optimizer,
   scheduler and RNG state carry over); ``quick`` budget = one short run per row
   under a CPU time budget (``row_seconds``, default 120 s);
2. evaluate it on the test split (:func:`glofwatch.infer.evaluate.evaluate`, or
   :func:`glofwatch.infer.yolo_evaluate.evaluate_yolo` for YOLOv8-Seg);
3. record the row in ``OUT/rows/<preset>.json``.

A row whose record says ``done`` is skipped; a row killed while training is
resumed from its last checkpoint (a finished stage is never redone). Then
``OUT/tables.md`` (Tables I and II beside the published numbers, with the
caveats), ``OUT/reproduce.json`` and ``OUT/report.html``
(:func:`glofwatch.report.html.build_report`) are written.

ImageNet weights (ResNet50, EfficientNet-B0) cannot be downloaded here: with
``weights="auto"`` a row whose weights are not on disk trains from random init
and its table line says so. When the data set has a green and a near-infrared
band (false-colour crops), the NDWI baseline (Otsu and 0.1) is scored on the same
test crops and added to Table II.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, InputError
from glofwatch.io.atomic import write_json_atomic, write_text_atomic
from glofwatch.io.files import read_json

STUDY_ROWS = ("dlv3p-r50-bce", "dlv3p-r50-focal", "dlv3p-r50-dice", "unet-ce", "unet-r50-ce", "unet-effb0-ce",
              "yolov8-seg")
BUDGETS = ("full", "quick")
FULL_STAGES = (30, 50)
QUICK_ROW_SECONDS = 120.0
QUICK_MAX_EPOCHS = 50
WEIGHTS_CHOICES = ("auto", "imagenet", "none")
STUDY_COUNTS = (1000, 200)
STUDY_SIZE = 320
DATASET_HELP = ("the Glacial Lakes Detection Dataset (IEEE Dataport, doi 10.21227/th0c-8t68, or its Kaggle copy) "
                "unpacked so that ROOT/train/images, ROOT/train/labels, ROOT/test/images and ROOT/test/labels exist")


def check_dataset(root: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Check the layout of ``root`` and say how it compares with the study's data set.

    Returns:
        (facts: layout, counts, crop size; notes for the tables).

    Raises:
        InputError: ``root`` is in no known layout (the message says where the folders should be),
            a study-layout root without ``train`` and ``test``, or unpaired files.
    """
    from glofwatch.data.dataset import GlacialLakesDataset, detect_layout, study_splits

    root = Path(root)
    if root.is_dir() and not (root / "images").is_dir() and not study_splits(root):
        nested = [p for p in sorted(root.iterdir()) if p.is_dir() and {"train", "test"} <= set(study_splits(p))]
        if nested:
            raise InputError(f"{root}: the data set is one level down; pass --data {nested[0]}")
        raise InputError(f"{root}: not a data set; expected {DATASET_HELP}")
    layout = detect_layout(root)
    facts: dict[str, Any] = {"root": str(root.resolve()), "layout": layout}
    notes: list[str] = []
    if layout == "study":
        splits = study_splits(root)
        missing = [s for s in ("train", "test") if s not in splits]
        if missing:
            raise InputError(f"{root}: no {' and no '.join(missing)} split; expected {DATASET_HELP}")
        train, test = GlacialLakesDataset(root, "train"), GlacialLakesDataset(root, "test")
        facts.update(train=len(train), test=len(test))
        first = train.load(0)[0] if len(train) else None
    else:
        full = GlacialLakesDataset(root, "all")
        facts.update(images=len(full))
        first = full.load(0)[0] if len(full) else None
        notes.append("one-folder data set: each run holds out the same seeded test split (saved in its split.json).")
    facts["size"] = list(first.shape[:2]) if first is not None else None
    is_study = (layout == "study" and (facts["train"], facts["test"]) == STUDY_COUNTS
                and facts["size"] == [STUDY_SIZE, STUDY_SIZE])
    facts["matches_study"] = is_study
    if not is_study:
        notes.append("not the study's data set (it has 1000 train / 200 test crops of 320 px): the published numbers "
                     "are a reference, not a like-for-like comparison.")
    return facts, notes


def _row_config(preset: str, budget: str, device: str, weights: str, overrides: dict[str, Any],
                yolo_overrides: dict[str, Any], row_seconds: float) -> tuple[Any, list[str]]:
    """The config of one row and the notes it earns (init, budget)."""
    from glofwatch.config import resolve_config
    from glofwatch.models.registry import get_spec
    from glofwatch.models.weights import imagenet_available
    from glofwatch.models.yolo import is_yolo_model

    base = resolve_config(preset)
    yolo = is_yolo_model(base.model)
    ov: dict[str, Any] = {"device": device, **(yolo_overrides if yolo else overrides)}
    notes: list[str] = []
    if budget == "quick":
        ov.setdefault("time_budget_s", row_seconds)
        ov.setdefault("max_epochs", QUICK_MAX_EPOCHS)
    cfg = resolve_config(preset, ov)
    if cfg.model != base.model:
        notes.append(f"model {cfg.model} instead of the study's {base.model} (override: a smoke test, not the study).")
    wants = cfg.weights in ("imagenet", "default") and not yolo
    if weights == "none" and wants:
        cfg = resolve_config(preset, {**ov, "weights": "none"})
        notes.append("random init (--weights none) instead of the study's ImageNet weights.")
    elif weights == "auto" and wants and not imagenet_available(get_spec(cfg.model).encoder):
        cfg = resolve_config(preset, {**ov, "weights": "none"})
        notes.append(f"random init: ImageNet weights of {get_spec(cfg.model).encoder} are not on disk (nothing is "
                     "downloaded); the study started from ImageNet.")
    if yolo and cfg.weights == "none":
        notes.append("YOLOv8-Seg from random init; the study started from COCO weights (yolov8n-seg.pt).")
    if budget == "quick":
        notes.append(f"quick budget: {cfg.time_budget_s:g} s of CPU training per row instead of 50 epochs.")
    return cfg, notes


def _epochs_done(run: Path) -> int:
    """Epochs in the run's last checkpoint (0 without one)."""
    import torch

    if (run / "checkpoints" / "last.pt").is_file():
        from glofwatch.train.yolo import _checkpoint_state

        done, _ = _checkpoint_state(run / "checkpoints" / "last.pt")
        return done + 1
    ckpt = run / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        return 0
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    return int(state.get("epoch", -1)) + 1


def _train_stages(cfg: Any, run: Path, data: Path, stages: tuple[int, ...], state: dict[str, Any],
                  save_state: Callable[[], object], progress: bool) -> None:
    from glofwatch.train.fit import resume_config, train

    done = state.setdefault("stages_done", [])
    for target in stages:
        if target in done:
            continue
        started = (run / "checkpoints" / "last.ckpt").is_file() or (run / "checkpoints" / "last.pt").is_file()
        if not started:
            train(resolve_with(cfg, max_epochs=target), run, data, progress=progress)
        elif _epochs_done(run) < target or not (run / "model.pt").is_file():
            train(resume_config(run, {"max_epochs": target, "device": cfg.device}), run, data, resume=True,
                  progress=progress)
        done.append(target)
        save_state()


def resolve_with(cfg: Any, **changes: Any) -> Any:
    """A copy of a TrainConfig with ``changes``."""
    from glofwatch.config import TrainConfig

    return TrainConfig.from_dict({**cfg.to_dict(), **changes})


def _evaluate_row(cfg: Any, run: Path, data: Path, device: str) -> dict[str, Any]:
    from glofwatch.models.yolo import is_yolo_model

    out = run / "eval" / "test"
    if is_yolo_model(cfg.model):
        from glofwatch.infer.evalset import eval_items
        from glofwatch.infer.yolo_evaluate import evaluate_yolo

        eval_items(data, "test", run)
        return evaluate_yolo(run, data, "test", out, device=device)
    from glofwatch.infer.backends import load_predictor
    from glofwatch.infer.evaluate import evaluate

    return evaluate(load_predictor(run, backend="torch", device=device), data, "test", out, run=run)


def _training_text(run: Path, budget: str, cfg: Any) -> str:
    s = read_json(run / "summary.json")
    init = "ImageNet" if cfg.weights in ("imagenet", "default") else ("random" if cfg.weights == "none" else "file")
    epochs = s.get("epochs", "?")
    how = "30 + resumed 20" if budget == "full" else f"{s.get('seconds', 0):.0f} s budget"
    return f"{init}, {epochs} epochs ({how})"


def _ndwi_rows(data: Path, ref_run: Path | None, out: Path) -> list[dict[str, Any]]:
    """NDWI baseline rows on the same test crops, when the crops have green and near-infrared bands."""
    from glofwatch.data.dataset import GlacialLakesDataset
    from glofwatch.infer.evalset import eval_items
    from glofwatch.infer.evaluate import evaluate
    from glofwatch.infer.ndwi import NDWIPredictor, dataset_bands
    from glofwatch.report.study_tables import row_record

    try:
        items = eval_items(data, "test", ref_run)
        ds: GlacialLakesDataset = items.dataset
        bands = dataset_bands(data, ds.load(items.indices[0])[0].shape[-1])
        predictors = [NDWIPredictor(bands, "otsu"), NDWIPredictor(bands, 0.1)]
    except (ConfigError, InputError, IndexError):
        return []
    rows = []
    for p in predictors:
        m = evaluate(p, data, "test", out / "baselines" / p.name, save_masks=False, run=ref_run)
        rows.append(row_record(p.name, f"NDWI baseline / {p.name.removeprefix('ndwi-')}", m,
                               "no training (index)", ["NDWI (McFeeters 1996) baseline on the same test crops; "
                                                       "not in the study."]))
    return rows


def reproduce(data: str | Path, out: str | Path, budget: str = "quick", device: str = "auto", weights: str = "auto",
              rows: tuple[str, ...] | list[str] | None = None, overrides: dict[str, Any] | None = None,
              yolo_overrides: dict[str, Any] | None = None, row_seconds: float = QUICK_ROW_SECONDS,
              report: bool = True, progress: bool = False, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every study row on ``data`` into ``out`` (resumable) and write the tables and the report.

    Args:
        data: data root (the study's layout, or one folder of crops).
        out: output folder.
        budget: ``full`` (30 + resumed 20 epochs) or ``quick`` (``row_seconds`` per row).
        device: auto, cpu or cuda.
        weights: ``auto`` (ImageNet where on disk, else random init, noted), ``imagenet`` (stop when
            missing) or ``none``.
        rows: presets to run (default all of :data:`STUDY_ROWS`).
        overrides: settings applied to the semantic rows (e.g. a tiny model for tests).
        yolo_overrides: settings applied to the YOLOv8-Seg row.
        row_seconds: training time per row for the quick budget.
        report: also write ``report.html``.
        progress: show training progress.
        say: called with one status line per step.

    Returns:
        The content of ``out/reproduce.json``.
    """
    from glofwatch.report.study_tables import render_tables, row_record

    if budget not in BUDGETS:
        raise ConfigError(f"--budget {budget} is unknown; use full or quick")
    if weights not in WEIGHTS_CHOICES:
        raise ConfigError(f"--weights {weights} is unknown for reproduce; use auto, imagenet or none")
    rows = list(rows or STUDY_ROWS)
    unknown = [r for r in rows if r not in STUDY_ROWS]
    if unknown:
        raise ConfigError(f"--rows: '{unknown[0]}' is not a study row; use some of {', '.join(STUDY_ROWS)}")
    say = say or (lambda _m: None)
    data, out = Path(data), Path(out)
    facts, data_notes = check_dataset(data)
    say(f"data: {facts}")
    records, runs = [], []
    for preset in rows:
        run, state_path = out / "runs" / preset, out / "rows" / f"{preset}.json"
        state = read_json(state_path)
        cfg, notes = _row_config(preset, budget, device, weights, overrides or {}, yolo_overrides or {}, row_seconds)
        metrics_path = run / "eval" / "test" / "metrics.json"
        if state.get("status") == "done" and metrics_path.is_file():
            say(f"{preset}: done before, skipped")
        else:
            stages = FULL_STAGES if budget == "full" else (int(cfg.max_epochs),)
            state.update(status="training", budget=budget, started=state.get("started") or _now())
            write_json_atomic(state_path, state)
            say(f"{preset}: training {cfg.model} ({'30 + 20' if budget == 'full' else f'{cfg.time_budget_s:g} s'})")
            _train_stages(cfg, run, data, stages, state, functools.partial(write_json_atomic, state_path, state),
                          progress)
            say(f"{preset}: evaluating on test")
            _evaluate_row(cfg, run, data, device)
            state.update(status="done", finished=_now(), notes=notes, training=_training_text(run, budget, cfg))
            write_json_atomic(state_path, state)
        metrics = read_json(metrics_path)
        records.append(row_record(preset, cfg.study_row, metrics, state.get("training", ""), state.get("notes", notes)))
        runs.append(run)
    records += _ndwi_rows(data, runs[0] if runs else None, out)
    header = _header(facts, data_notes, budget, device, row_seconds)
    tables = render_tables(records, header)
    write_text_atomic(out / "tables.md", tables)
    result = {"data": facts, "budget": budget, "device": device, "weights": weights, "rows": records,
              "tables": str(out / "tables.md")}
    if report:
        from glofwatch.report.html import build_report

        say("writing the HTML report")
        build_report(runs, out / "report.html", data, "test", device, n_examples=2, progress=say)
        result["report"] = str(out / "report.html")
    write_json_atomic(out / "reproduce.json", result)
    return result


def _header(facts: dict[str, Any], data_notes: list[str], budget: str, device: str, row_seconds: float) -> list[str]:
    counts = (f"{facts['train']} train / {facts['test']} test" if facts["layout"] == "study"
              else f"{facts['images']} crops")
    size = f", {facts['size'][0]}x{facts['size'][1]} px" if facts.get("size") else ""
    how = ("50 epochs as 30 + resumed 20, the study protocol" if budget == "full"
           else f"{row_seconds:g} s of training per row on this machine")
    return [f"Data: {facts['root']} ({facts['layout']} layout, {counts}{size}).",
            f"Budget: {budget} ({how}); device {device}; generated {_now()}.",
            *[f"Note: {n}" for n in data_notes]]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
