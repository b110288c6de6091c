"""Run a training job into a run folder, resumable after any interruption.

Run folder layout::

    RUN_DIR/
      config.yaml            resolved config (every value used)
      run.json               data root, start/resume times, library versions
      split.json             the crops of train / val (/ test for one-folder data), grouped as asked,
                             with content digests of the train and val crops (see data/plan.py)
      checkpoints/last.ckpt  written atomically after every epoch (resume point)
      checkpoints/best.ckpt  best validation IoU so far
      metrics.csv            one row per epoch
      model.pt               self-describing best model (see models/bundle.py), with the threshold
                             and temperature chosen on the validation split
      summary.json           best validation metrics, epochs, seconds, threshold, calibration (ECE)
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from glofwatch.config import TrainConfig, load_config
from glofwatch.data.normalize import IMAGENET_MEAN, IMAGENET_STD, InputSpec, extend_stats
from glofwatch.errors import ConfigError, InputError, TrainingError
from glofwatch.io.atomic import write_json_atomic, write_text_atomic
from glofwatch.io.files import read_json
from glofwatch.runtime import resolve_device
from glofwatch.train.result import TrainResult


def _accelerator(device: str) -> str:
    """Lightning's accelerator name for a ``--device`` choice."""
    return "gpu" if resolve_device(device) == "cuda" else "cpu"


def _precision(cfg: TrainConfig, accelerator: str) -> str:
    if cfg.precision != "auto":
        return cfg.precision if cfg.precision != "32" else "32-true"
    if accelerator == "gpu":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _devices(value: str) -> Any:
    v = str(value).strip()
    if v == "auto":
        return "auto"
    if v.isdigit():
        return int(v)
    if "," in v:
        return [int(x) for x in v.split(",") if x.strip()]
    raise ConfigError(f"devices={value!r} is not valid; use auto, a count like 2, or a list like 0,1")


def _checkpoint_state(path: Path) -> dict[str, Any]:
    """The state of a Lightning checkpoint; :class:`TrainingError` naming the file when it cannot be read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickle error, ...: the file is damaged
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainingError(f"{path}: damaged ({reason[:120]})") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise TrainingError(f"{path}: not a glofwatch training checkpoint (no state_dict)")
    return state


def usable_checkpoint(last: Path, cfg: TrainConfig) -> Path:
    """The checkpoint to resume from: ``last.ckpt``, or ``best.ckpt`` (said on stderr) when last is damaged.

    Raises:
        TrainingError: both are damaged, or the weights belong to another model than the config's.
    """
    import sys

    from glofwatch.train.task import SegmentationTask

    chosen = last
    try:
        state = _checkpoint_state(last)
    except TrainingError as exc:
        best = last.with_name("best.ckpt")
        if not best.is_file():
            raise TrainingError(f"{exc}; there is no best.ckpt to fall back to: start a new run with --out") from None
        state = _checkpoint_state(best)
        chosen = best
        print(f"note: {exc}; resuming from {best} (epoch {int(state.get('epoch', 0)) + 1}) instead",
              file=sys.stderr)
    task = SegmentationTask(cfg.to_dict(), init_weights=False)
    try:
        task.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise TrainingError(f"{chosen}: holds the weights of another model than '{cfg.model}' of config.yaml "
                            f"({first}); resume with the config it was trained with, or start a new run with --out"
                            ) from None
    return chosen


def prepare_run(run_dir: Path, cfg: TrainConfig, data_root: Path | None,
                resume: bool) -> tuple[TrainConfig, Path, Path | None]:
    """Check the run folder and return (config, data root, checkpoint to resume from)."""
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if resume:
        if not ckpt.is_file():
            raise InputError(f"{run_dir}: nothing to resume (no checkpoints/last.ckpt); start a new run with --out")
        run_info = read_json(run_dir / "run.json")
        data_root = data_root or Path(run_info.get("data_root", ""))
        return cfg, data_root, usable_checkpoint(ckpt, cfg)
    if ckpt.is_file():
        raise InputError(f"{run_dir}: already holds a run; continue it with `glofwatch train --resume {run_dir}` "
                         "or choose another --out")
    if data_root is None:
        raise ConfigError("no data given; pass --data ROOT (make a synthetic set with `glofwatch data synth`)")
    return cfg, data_root, None


def adopt_encoder_stats(cfg: TrainConfig) -> TrainConfig:
    """Standardise inputs with the encoder's own pretraining statistics when the config keeps the defaults.

    EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) was trained on inputs scaled to
    [-1, 1] (mean = std = 0.5), ResNet50 and the smp EfficientNets on ImageNet statistics;
    a config that names its own ``input.mean``/``input.std`` keeps them.
    """
    from glofwatch.models.registry import encoder_stats

    spec = cfg.input_spec
    n = spec.in_channels
    if (tuple(spec.mean), tuple(spec.std)) != extend_stats(IMAGENET_MEAN, IMAGENET_STD, n):
        return cfg
    mean, std = extend_stats(*encoder_stats(cfg.model), n)
    if (mean, std) == (tuple(spec.mean), tuple(spec.std)):
        return cfg
    return TrainConfig.from_dict({**cfg.to_dict(), "input": {**cfg.input, "mean": list(mean), "std": list(std)}})


def adopt_data_rendering(cfg: TrainConfig, root: Path) -> TrainConfig:
    """Take the band order and rendering gain from a data set that describes itself.

    ``glofwatch data synth`` writes ``synth.json`` naming its 8-bit rendering
    (false colour B08/B04/B03 by default, like the real Himalayan crops). When
    the config still has the default true-colour bands, the model is told what
    it is really trained on, so the scene mapper later renders scenes the same way.
    """
    info = read_json(root / "synth.json")
    rendering = info.get("params", {}).get("rendering")
    if not rendering:
        return cfg
    from glofwatch.scene.render import RENDERINGS

    bands = list(RENDERINGS.get(rendering).bands)
    spec = dict(cfg.input)
    if spec.get("bands") == list(InputSpec().bands) and bands != spec["bands"]:
        spec["bands"] = bands
    if spec.get("gain") is None and spec.get("bands") == bands:
        lo, hi = info["params"].get("gain_range", (None, None))
        if lo is not None:
            spec["gain"] = (float(lo) + float(hi)) / 2.0
    if spec == cfg.input:
        return cfg
    return TrainConfig.from_dict({**cfg.to_dict(), "input": spec})


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    data_root: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    extra_callbacks: list[Any] | None = None,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (or resume the run there).

    Args:
        cfg: resolved training config. When resuming, pass the saved config with
            any overrides applied (see :func:`resume_config`).
        run_dir: the run folder.
        data_root: data root (taken from ``run.json`` when resuming and not given).
        resume: continue from ``checkpoints/last.ckpt`` (epoch count, optimizer,
            scheduler and RNG state).
        progress: show a progress bar.
        extra_callbacks: more Lightning callbacks (tests use this to interrupt runs).

    Returns:
        A :class:`TrainResult`.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar

    from glofwatch.data.datamodule import GlacialLakesDataModule
    from glofwatch.models.registry import get_spec
    from glofwatch.models.yolo import is_yolo_model
    from glofwatch.train.callbacks import (
        AtomicCheckpointIO,
        EpochSeed,
        MetricsCSV,
        RngState,
    )
    from glofwatch.train.task import SegmentationTask

    if is_yolo_model(cfg.model):
        from glofwatch.train.yolo import train_yolo

        return train_yolo(cfg, run_dir, data_root, resume=resume, progress=progress)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    run_dir = Path(run_dir)
    cfg, root, ckpt_path = prepare_run(run_dir, cfg, Path(data_root) if data_root else None, resume)
    if not root.is_dir():
        raise InputError(f"{root}: data root not found; pass --data ROOT")
    if not resume:
        from glofwatch.train.rendering import record_data_rendering

        # every caller of train() gets the rendering check, not only the CLI
        cfg = adopt_encoder_stats(record_data_rendering(adopt_data_rendering(cfg, root), root)[0])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", cfg.to_yaml())
    info = read_json(run_dir / "run.json")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    info.setdefault("started", now)
    info["data_root"] = str(root.resolve())
    info.setdefault("resumed", [])
    if resume:
        info["resumed"].append(now)
    info["versions"] = _versions()
    write_json_atomic(run_dir / "run.json", info)

    from glofwatch.data.plan import read_plan, write_plan

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    spec = get_spec(cfg.model)
    plan = read_plan(run_dir) if resume else None
    dm = GlacialLakesDataModule(
        root,
        batch_size=cfg.batch_size,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        augment=cfg.augment,
        image_size=cfg.image_size,
        stride=spec.stride,
        num_workers=cfg.num_workers,
        group_by=cfg.group_by,
        # a run begun before split plans were saved trained on all of a one-folder data set: none of it is held out
        test_fraction=0.0 if resume and plan is None else cfg.test_fraction,
        plan=plan,
    )
    dm.setup("fit")
    if plan is None and dm.plan is not None:
        write_plan(run_dir, dm.plan)
    has_val = dm.val_set is not None
    task = SegmentationTask(cfg.to_dict(), init_weights=ckpt_path is None)

    ckpt_dir = run_dir / "checkpoints"
    last_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                              save_on_train_epoch_end=True, enable_version_counter=False)
    callbacks: list[Any] = [RngState(), EpochSeed(), MetricsCSV(run_dir / "metrics.csv"), last_cb]
    if has_val:
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_iou", mode="max",
                                         save_top_k=1, save_on_train_epoch_end=True, enable_version_counter=False))
    if progress:
        callbacks.append(RichProgressBar(leave=True))
    callbacks += extra_callbacks or []

    accelerator = _accelerator(cfg.device)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=_devices(cfg.devices) if accelerator == "gpu" or cfg.devices != "auto" else 1,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=_precision(cfg, accelerator),  # type: ignore[arg-type]  # one of Lightning's precision names
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time=dt.timedelta(seconds=cfg.time_budget_s) if cfg.time_budget_s else None,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=cfg.limit_val_batches,
        log_every_n_steps=1,
        default_root_dir=run_dir,
        deterministic=False,
    )
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        # epoch metrics are summed over ranks by the task itself before they are logged
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
    seconds = time.monotonic() - t0
    if trainer.global_rank != 0:
        return TrainResult(run_dir, {}, trainer.current_epoch, seconds, "rank")
    stopped_by = "max_epochs"
    if cfg.max_steps > 0 and trainer.global_step >= cfg.max_steps:
        stopped_by = "max_steps"
    elif trainer.current_epoch < cfg.max_epochs:
        stopped_by = "time_budget" if cfg.time_budget_s else "interrupted"
    return finish_run(run_dir, cfg, seconds, stopped_by, trainer.current_epoch)


def finish_run(run_dir: Path, cfg: TrainConfig, seconds: float, stopped_by: str, epochs: int) -> TrainResult:
    """Export ``model.pt`` from the best (or last) checkpoint and write ``summary.json``."""
    import csv

    from glofwatch.models.bundle import load_bundle, save_bundle

    ckpt_dir = run_dir / "checkpoints"
    source = ckpt_dir / "best.ckpt" if (ckpt_dir / "best.ckpt").is_file() else ckpt_dir / "last.ckpt"
    if not source.is_file():
        raise TrainingError(f"{run_dir}: training ended before the first epoch finished; no checkpoint to export")
    bundle = load_bundle(source)
    rows = []
    metrics_csv = run_dir / "metrics.csv"
    if metrics_csv.is_file():
        with metrics_csv.open() as fh:
            rows = list(csv.DictReader(fh))
    best_row: dict[str, Any] = {}
    if rows and "val_iou" in rows[0]:
        best_row = max(rows, key=lambda r: float(r["val_iou"] or "nan") if r["val_iou"] else -1.0)
    elif rows:
        best_row = rows[-1]
    best = {k: _num(v) for k, v in best_row.items()}
    from glofwatch.train.selection import choose_on_validation

    chosen = choose_on_validation(bundle, cfg, run_dir)
    meta = {"checkpoint": str(source.name), "epoch": bundle.meta.get("epoch"), "run_dir": str(run_dir.resolve()),
            "threshold": chosen["threshold"], "threshold_source": chosen["threshold_source"],
            "temperature": chosen["temperature"]}
    save_bundle(run_dir / "model.pt", bundle.net, cfg, best, meta)
    summary = {"preset": cfg.preset, "model": cfg.model, "loss": cfg.loss, "epochs": epochs,
               "seconds": round(seconds, 2), "stopped_by": stopped_by, "best_val": best,
               "threshold": {k: chosen[k] for k in ("threshold", "threshold_source", "val_iou_at_threshold",
                                                    "val_iou_at_default", "n_val_images")},
               "calibration": chosen["calibration"]}
    write_json_atomic(run_dir / "summary.json", summary)
    return TrainResult(run_dir, best, epochs, seconds, stopped_by)


def _num(v: Any) -> Any:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() and abs(f) < 1e15 else f


def resume_config(run_dir: str | Path, overrides: dict[str, Any]) -> TrainConfig:
    """The saved config of ``run_dir`` with ``overrides`` (e.g. a new max_epochs) applied."""
    from glofwatch.config import check_overrides

    saved = load_config(Path(run_dir) / "config.yaml")
    merged = {**saved.to_dict(), **check_overrides(overrides)}
    for key in ("model", "input", "loss", "loss_params"):
        if key in overrides and overrides[key] != saved.to_dict()[key]:
            raise ConfigError(f"--{key} cannot change when resuming {run_dir}; start a new run instead")
    return TrainConfig(**merged)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("glofwatch", "torch", "lightning", "segmentation-models-pytorch", "timm"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
