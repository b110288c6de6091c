"""Train YOLOv8-Seg into a glofwatch run folder, offline and resumable.

Run folder layout (the same contract as the semantic trainers)::

    RUN_DIR/
      config.yaml             resolved TrainConfig
      run.json                kind "yolo-seg", data root, YOLO data folder + label statistics, versions
      checkpoints/last.pt     ultralytics checkpoint after every epoch (written atomically, keeps the
                              optimizer so ``--resume`` works, also after the last epoch)
      checkpoints/best.pt     best ultralytics fitness (0.1 mAP50 + 0.9 mAP50-95, box + mask) on validation
      metrics.csv             one row per epoch (converted from ultralytics' results.csv)
      model.pt                best.pt without optimizer (an ultralytics model file)
      summary.json            epochs, seconds, best validation metrics, the chosen confidence threshold
      results.csv, args.yaml  ultralytics' own records

How :class:`~glofwatch.config.TrainConfig` maps to ultralytics arguments:

* ``model`` yolov8{n,s,m,l,x}-seg -> built from ``yolov8{n,..}-seg.yaml`` (random init);
  ``weights``: ``none`` (random), a path to a local ``.pt`` (matching tensors are
  transferred, as the study's COCO start), ``default``/``coco`` -> ``<model>.pt`` in
  ``$GLOFWATCH_WEIGHTS_DIR`` (nothing is downloaded);
* ``image_size`` -> imgsz (default 640, the study's); ``batch_size`` -> batch;
  ``max_epochs`` -> epochs; ``lr`` -> lr0; ``weight_decay``; ``optimizer`` adam/adamw/sgd
  (momentum 0.9 for Adam(W) as the study's "auto" choice, 0.937 for SGD);
* ``scheduler``: ``none`` = ultralytics' own (3 warm-up epochs, linear decay to 1 %,
  the study's), ``cosine`` -> cos_lr; ``augment``: ``study`` = ultralytics defaults
  (mosaic, flips, HSV, scale, translate), ``robust`` = those plus vertical flips,
  ``none`` = no augmentation;
* ``precision``: auto (AMP on CUDA), 32, 16-mixed, bf16-mixed; ``seed``; ``device``;
* ``max_steps`` and ``time_budget_s`` stop between batches; ``val_fraction``/``seed``
  split the training images exactly as the semantic data module;
* ``loss`` is ignored (YOLOv8-Seg trains with its box/seg/cls/dfl loss);
  ``loss_params`` may hold ``min_area_px`` and ``holes`` for the label conversion
  (see :mod:`glofwatch.data.yolo_labels`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from glofwatch.config import TrainConfig
from glofwatch.data.yolo_dataset import YOLO_OPTIONS, label_options
from glofwatch.errors import ConfigError, InputError, TrainingError, WeightsError
from glofwatch.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from glofwatch.io.files import read_json
from glofwatch.models.yolo import (
    DEFAULT_IMGSZ,
    RUN_KIND,
    YOLO_MODELS,
)

NO_AUGMENT = {"mosaic": 0.0, "fliplr": 0.0, "flipud": 0.0, "hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0,
              "translate": 0.0, "scale": 0.0, "degrees": 0.0, "close_mosaic": 0}
ROBUST_AUGMENT = {"flipud": 0.5}


def check_yolo_config(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError` for settings YOLOv8-Seg cannot honour."""
    if cfg.model not in YOLO_MODELS:
        raise ConfigError(f"model '{cfg.model}' is not a YOLOv8-Seg size; use one of {', '.join(YOLO_MODELS)}")
    if cfg.scheduler == "plateau":
        raise ConfigError("scheduler 'plateau' is not available for YOLOv8-Seg; use none (linear decay) or cosine")
    unknown = sorted(set(cfg.loss_params) - set(YOLO_OPTIONS))
    if unknown:
        raise ConfigError(f"loss_params {unknown} are not YOLO options; YOLO runs accept {', '.join(YOLO_OPTIONS)}")
    if str(cfg.devices) not in ("auto", "1") or cfg.num_nodes != 1:
        raise ConfigError(
            f"devices={cfg.devices}, num_nodes={cfg.num_nodes}: YOLO runs use one device; use --devices auto"
        )
    if cfg.input_spec.in_channels != 3:
        raise ConfigError("YOLOv8-Seg reads 3-band RGB images; use the default input bands B04,B03,B02")


def _device(cfg: TrainConfig) -> str:
    """Ultralytics' device string: ``"0"`` (first GPU) or ``"cpu"``."""
    from glofwatch.runtime import resolve_device

    return "0" if resolve_device(cfg.device) == "cuda" else "cpu"


def _amp(cfg: TrainConfig, device: str) -> bool | str:
    if device == "cpu" or cfg.precision == "32":
        return False
    return "bf16" if cfg.precision == "bf16-mixed" else True


def _weights_path(cfg: TrainConfig) -> Path | None:
    w = str(cfg.weights)
    if w.lower() == "none":
        return None
    if w.lower() in ("default", "coco", "imagenet"):
        folder = os.environ.get("GLOFWATCH_WEIGHTS_DIR")
        cand = Path(folder) / f"{cfg.model}.pt" if folder else None
        if cand is not None and cand.is_file():
            return cand
        raise WeightsError(
            f"COCO weights for {cfg.model} are not available offline; put {cfg.model}.pt in $GLOFWATCH_WEIGHTS_DIR, "
            "pass --weights PATH, or train from scratch with --weights none"
        )
    path = Path(w)
    if not path.is_file() or path.suffix != ".pt":
        raise WeightsError(f"{path}: weights file not found; give an ultralytics .pt file or --weights none")
    return path


def ultralytics_args(cfg: TrainConfig, run_dir: Path, data_yaml: Path, device: str) -> dict[str, Any]:
    """The ultralytics training arguments for ``cfg`` (see the module docs)."""
    args: dict[str, Any] = {
        "task": "segment", "mode": "train", "model": f"{cfg.model}.yaml", "data": str(data_yaml),
        "epochs": cfg.max_epochs, "imgsz": cfg.image_size or DEFAULT_IMGSZ, "batch": cfg.batch_size,
        "device": device, "workers": cfg.num_workers, "seed": cfg.seed, "deterministic": True,
        "optimizer": {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}[cfg.optimizer],
        "lr0": cfg.lr, "weight_decay": cfg.weight_decay, "momentum": 0.937 if cfg.optimizer == "sgd" else 0.9,
        "cos_lr": cfg.scheduler == "cosine", "amp": _amp(cfg, device), "plots": False, "save_dir": str(run_dir),
        "exist_ok": True, "pretrained": False, "verbose": True, "val": True,
    }
    if cfg.augment == "none":
        args.update(NO_AUGMENT)
    elif cfg.augment == "robust":
        args.update(ROBUST_AUGMENT)
    elif cfg.augment != "study":
        raise ConfigError(f"augment={cfg.augment!r} is not known for YOLO runs; use none, study or robust")
    return args


def _make_trainer_class(stop: dict[str, Any]) -> type:
    """A SegmentationTrainer that writes checkpoints atomically into ``checkpoints/`` and keeps last.pt resumable."""
    from ultralytics.models.yolo.segment import SegmentationTrainer

    class GlofwatchSegmentationTrainer(SegmentationTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            with contextlib.suppress(OSError):
                self.wdir.rmdir()  # ultralytics' empty weights/ folder
            self.wdir = self.save_dir / "checkpoints"
            self.wdir.mkdir(parents=True, exist_ok=True)
            self.last, self.best = self.wdir / "last.pt", self.wdir / "best.pt"
            if stop.get("epochs"):  # a resumed run may train to a new total
                self.epochs = self.args.epochs = int(stop["epochs"])

        def save_model(self) -> bool:
            last, best = self.last, self.best
            tmp_last, tmp_best = last.with_name(".last.pt.tmp"), best.with_name(".best.pt.tmp")
            for p in (tmp_last, tmp_best):
                p.unlink(missing_ok=True)
            self.last, self.best = tmp_last, tmp_best
            try:
                saved = super().save_model()
            finally:
                self.last, self.best = last, best
            if tmp_best.is_file():
                os.replace(tmp_best, best)
            os.replace(tmp_last, last)
            return saved

        def final_eval(self) -> None:
            # ultralytics strips the optimizer from last.pt here; keep a resumable copy
            keep = self.last.with_name(".last.pt.keep")
            if self.last.is_file():
                shutil.copyfile(self.last, keep)
            try:
                super().final_eval()
            finally:
                if keep.is_file():
                    os.replace(keep, self.last)

    return GlofwatchSegmentationTrainer


def convert_results_csv(results_csv: Path, metrics_csv: Path) -> list[dict[str, Any]]:
    """ultralytics ``results.csv`` -> glofwatch ``metrics.csv`` rows (written atomically).

    Columns: epoch, train_loss / val_loss (sums of box, seg, cls, dfl losses),
    val_mask_map50, val_mask_map50_95, val_mask_precision, val_mask_recall,
    val_box_map50, val_box_map50_95, lr, seconds, then every loss part.
    """
    if not results_csv.is_file():
        return []
    with results_csv.open() as fh:
        raw = [{k.strip(): v.strip() for k, v in r.items() if k} for r in csv.DictReader(fh)]
    rows = []
    prev_t = 0.0
    for r in raw:
        f = {k: float(v) for k, v in r.items() if v not in ("", None)}
        t = f.get("time", 0.0)
        row: dict[str, Any] = {
            "epoch": int(f["epoch"]),
            "train_loss": round(sum(v for k, v in f.items() if k.startswith("train/")), 6),
            "val_loss": round(sum(v for k, v in f.items() if k.startswith("val/")), 6),
            "val_mask_map50": f.get("metrics/mAP50(M)"), "val_mask_map50_95": f.get("metrics/mAP50-95(M)"),
            "val_mask_precision": f.get("metrics/precision(M)"), "val_mask_recall": f.get("metrics/recall(M)"),
            "val_box_map50": f.get("metrics/mAP50(B)"), "val_box_map50_95": f.get("metrics/mAP50-95(B)"),
            "lr": f.get("lr/pg0"), "seconds": round(t - prev_t if t >= prev_t else t, 3),  # time restarts on resume
        }
        prev_t = t
        for k, v in f.items():
            if k.startswith(("train/", "val/")):
                row[k.replace("/", "_")] = v
        rows.append(row)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(metrics_csv, buf.getvalue())
    return rows


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    logger = logging.getLogger("ultralytics")
    level = logger.level
    if enabled:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("glofwatch", "torch", "ultralytics"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def _checkpoint_state(path: Path) -> tuple[int, bool]:
    """(last finished epoch, 0-based; has optimizer state) of an ultralytics checkpoint."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return int(ckpt.get("epoch", -1)), ckpt.get("optimizer") is not None


def train_yolo(
    cfg: TrainConfig,
    run_dir: str | Path,
    data_root: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> Any:
    """Train YOLOv8-Seg with ``cfg`` into ``run_dir`` (or continue the run there).

    Args:
        cfg: resolved config with a YOLOv8-Seg ``model`` (for a resume: the saved config
            with overrides applied, e.g. a larger ``max_epochs``).
        run_dir: the run folder.
        data_root: glofwatch data root (taken from ``run.json`` when resuming and not given).
        resume: continue from ``checkpoints/last.pt`` (epoch, optimizer, EMA, scheduler).
        progress: print ultralytics' per-epoch progress.
        cache_dir: YOLO data folder (default: under ``$GLOFWATCH_CACHE``).

    Returns:
        A :class:`glofwatch.train.fit.TrainResult`; ``best_metrics`` holds the
        validation numbers of ``summary.json`` (``val_iou`` = pixel IoU at the
        chosen confidence threshold).

    Raises:
        ConfigError, InputError, WeightsError, TrainingError: one-line user errors.
    """
    from glofwatch.data.yolo_dataset import prepare_yolo_dataset
    from glofwatch.models.yolo import offline_ultralytics
    from glofwatch.train.result import TrainResult

    check_yolo_config(cfg)
    run_dir = Path(run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    info = read_json(run_dir / "run.json")
    stop: dict[str, Any] = {}
    if resume:
        if not last.is_file():
            raise InputError(f"{run_dir}: nothing to resume (no checkpoints/last.pt); start a new run with --out")
        done_epoch, has_opt = _checkpoint_state(last)
        if not has_opt:
            raise InputError(f"{last}: holds no optimizer state, so it cannot be resumed; start a new run with --out")
        if done_epoch + 1 >= cfg.max_epochs:
            raise InputError(f"{run_dir}: all {done_epoch + 1} epochs are done; pass a larger --max-epochs to "
                             "continue, or start a new run")
        stop["epochs"] = cfg.max_epochs
        data_root = Path(data_root) if data_root else Path(info.get("data_root", ""))
        folder = info.get("yolo_data", {}).get("folder")
        if cache_dir is None and folder and str(data_root.resolve()) == info.get("data_root"):
            cache_dir = folder  # the run's own YOLO folder (re-checked against the masks)
    else:
        if last.is_file():
            raise InputError(f"{run_dir}: already holds a run; continue it with `glofwatch train --resume {run_dir}` "
                             "or choose another --out")
        if data_root is None:
            raise ConfigError("no data given; pass --data ROOT (make a synthetic set with `glofwatch data synth`)")
        data_root = Path(data_root)
    if not data_root.is_dir():
        raise InputError(f"{data_root}: data root not found; pass --data ROOT")
    weights = None if resume else _weights_path(cfg)
    device = _device(cfg)

    from glofwatch.data.plan import plan_splits, read_plan, write_plan

    plan = (read_plan(run_dir) if resume else None) or plan_splits(data_root, cfg.val_fraction, cfg.seed,
                                                                     cfg.group_by, cfg.test_fraction)
    data = prepare_yolo_dataset(data_root, cache_dir, cfg.val_fraction, cfg.seed, **label_options(cfg), plan=plan)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_plan(run_dir, plan)
    write_text_atomic(run_dir / "config.yaml", cfg.to_yaml())
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    info.setdefault("started", now)
    info.setdefault("resumed", [])
    if resume:
        info["resumed"].append(now)
    info.update({"kind": RUN_KIND, "data_root": str(data_root.resolve()), "versions": _versions(),
                 "yolo_data": {"folder": str(data.root), "fingerprint": data.fingerprint, **label_options(cfg),
                               "labels": data.stats}, "weights": str(weights) if weights else str(cfg.weights)})
    write_json_atomic(run_dir / "run.json", info)

    args = ultralytics_args(cfg, run_dir, data.yaml, device)
    if resume:
        args = {"resume": str(last), "data": str(data.yaml), "device": device, "workers": cfg.num_workers,
                "batch": cfg.batch_size, "save_dir": str(run_dir)}
    t0 = time.monotonic()
    state: dict[str, Any] = {"steps": 0, "stopped_by": None}  # callbacks add "t0"

    def on_train_start(trainer: Any) -> None:
        state["t0"] = time.monotonic()

    def on_batch_end(trainer: Any) -> None:
        state["steps"] += 1
        if cfg.max_steps > 0 and state["steps"] >= cfg.max_steps:
            trainer.stop, state["stopped_by"] = True, "max_steps"
        elif cfg.time_budget_s and time.monotonic() - state["t0"] > cfg.time_budget_s:
            trainer.stop, state["stopped_by"] = True, "time_budget"

    def on_epoch_end(trainer: Any) -> None:
        convert_results_csv(run_dir / "results.csv", run_dir / "metrics.csv")

    with offline_ultralytics(), _quiet(not progress):
        from ultralytics.nn.tasks import load_checkpoint

        trainer = _make_trainer_class(stop)(overrides=args)
        if weights is not None:
            w, _ = load_checkpoint(weights)
            trainer.model = trainer.get_model(cfg=f"{cfg.model}.yaml", weights=w, verbose=False)
        trainer.add_callback("on_train_start", on_train_start)
        trainer.add_callback("on_train_batch_end", on_batch_end)
        trainer.add_callback("on_fit_epoch_end", on_epoch_end)
        try:
            trainer.train()
        except KeyboardInterrupt:
            state["stopped_by"] = "interrupted"
            raise
    seconds = time.monotonic() - t0
    rows = convert_results_csv(run_dir / "results.csv", run_dir / "metrics.csv")
    source = trainer.best if trainer.best.is_file() else trainer.last
    if not source.is_file():
        raise TrainingError(f"{run_dir}: training ended before the first epoch finished; no checkpoint to export")
    with atomic_path(run_dir / "model.pt") as tmp:
        shutil.copyfile(source, tmp)
    from glofwatch.infer.yolo_evaluate import select_conf_threshold

    choice = select_conf_threshold(run_dir, data_root, cfg)
    epochs = trainer.epoch + 1
    best_row = max(rows, key=lambda r: r.get("val_mask_map50_95") or 0.0) if rows else {}
    best = {**best_row, "val_iou": choice["val_iou"], "conf_threshold": choice["conf_threshold"]}
    stopped_by = state["stopped_by"] or ("max_epochs" if epochs >= cfg.max_epochs else "early_stopping")
    summary = {"kind": RUN_KIND, "preset": cfg.preset, "model": cfg.model, "loss": "yolov8-seg", "epochs": epochs,
               "seconds": round(seconds, 2), "stopped_by": stopped_by, "best_val": best,
               "conf_threshold": choice["conf_threshold"], "threshold_selection": choice,
               "model_file": "model.pt", "source_checkpoint": source.name}
    write_json_atomic(run_dir / "summary.json", summary)
    return TrainResult(run_dir, best, epochs, seconds, stopped_by)
