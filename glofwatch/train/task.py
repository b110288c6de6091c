"""The Lightning module shared by every semantic-segmentation preset.

One step function serves training, validation and testing. The network sees
``normalize(image)`` with the run's :class:`~glofwatch.data.normalize.InputSpec`,
so normalisation is part of the model. Validation scores come from one
confusion matrix accumulated over the whole split (dataset-level, "micro").
With ``compile: true`` the network runs through ``torch.compile``; the compiled
wrapper is kept outside the module tree, so checkpoints and ``model.pt`` hold
the plain network's weights under their usual names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import lightning as L
import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryStatScores

from glofwatch.config import TrainConfig
from glofwatch.data.normalize import normalize
from glofwatch.errors import TrainingError
from glofwatch.infer.metrics import IGNORE, Counts, scores
from glofwatch.models.registry import build_model
from glofwatch.train.losses import build_loss

_KEY = {"train": "fit", "val": "val", "test": "test"}
"""ModuleDict keys per stage (``train`` is taken by ``nn.Module.train``)."""


def cosine_factor(step: int, total_steps: float, elapsed_s: float = 0.0, budget_s: float | None = None,
                  floor: float = 0.01) -> float:
    """Cosine learning-rate factor from 1 down to ``floor`` over a run.

    The run's progress is the larger of ``step / total_steps`` and
    ``elapsed_s / budget_s``, so a run stopped by a time budget still anneals
    before it ends (a per-epoch schedule over ``max_epochs`` would not).
    """
    progress = step / total_steps if 0 < total_steps < float("inf") else 0.0
    if budget_s:
        progress = max(progress, elapsed_s / budget_s)
    progress = min(1.0, max(0.0, progress))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class SegmentationTask(L.LightningModule):
    """Binary lake segmentation: network + loss + optimizer + metrics.

    Args:
        config: a :class:`TrainConfig` as a dict (stored in the checkpoint).
        init_weights: load the configured pretrained weights (False when the
            state dict will be loaded from a checkpoint anyway).
    """

    def __init__(self, config: dict[str, Any], init_weights: bool = True) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = TrainConfig.from_dict(config)
        self.spec = self.cfg.input_spec
        weights = self.cfg.weights if init_weights else None
        self.net = build_model(self.cfg.model, weights=weights, in_channels=self.spec.in_channels)
        if self.cfg.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # not a submodule (no "_orig_mod." keys in the state dict); built at the first forward, on its device
        object.__setattr__(self, "_compiled_net", None)
        self.loss_fn = build_loss(self.cfg.loss, **self.cfg.loss_params)
        # confusion counts and mean loss per stage; torchmetrics sums them over DDP processes
        stages = ("fit", "val", "test")
        self.stat_scores = torch.nn.ModuleDict(
            {k: BinaryStatScores(threshold=self.cfg.threshold, ignore_index=IGNORE) for k in stages})
        self.mean_loss = torch.nn.ModuleDict({k: MeanMetric() for k in stages})

    def _meters(self, stage: str) -> tuple[BinaryStatScores, MeanMetric]:
        """The confusion-count and mean-loss metrics of ``stage`` (train, val or test)."""
        key = _KEY[stage]
        return cast(BinaryStatScores, self.stat_scores[key]), cast(MeanMetric, self.mean_loss[key])

    def forward(self, image: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, 1, H, W) for raw images (N, C, H, W)."""
        x = normalize(image, self.spec, valid)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.network()(x)

    def network(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network as called in :meth:`forward`: ``torch.compile(self.net)`` when the config asks for it."""
        if not self.cfg.compile:
            return self.net
        if self._compiled_net is None:
            object.__setattr__(self, "_compiled_net", torch.compile(self.net))
        return cast(Callable[[torch.Tensor], torch.Tensor], self._compiled_net)

    def __getstate__(self) -> dict[str, Any]:
        # a compiled wrapper does not pickle (DDP spawn, deepcopy); it is rebuilt at the next forward
        return {**super().__getstate__(), "_compiled_net": None}

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        logits = self(batch["image"], batch["valid"])
        loss = self.loss_fn(logits, batch["mask"], batch["valid"])
        if not torch.isfinite(loss):
            raise TrainingError(
                f"{stage} loss became {loss.item()} at epoch {self.current_epoch + 1}, step {self.global_step}; "
                "the last good checkpoint is kept: lower --lr, or check the data with `glofwatch data check`"
            )
        n = batch["image"].shape[0]
        with torch.no_grad():
            target = batch["mask"].long().masked_fill(~batch["valid"], IGNORE)
            meter, mean_loss = self._meters(stage)
            meter.update(torch.sigmoid(logits.float())[:, 0], target)
            mean_loss.update(loss.detach(), weight=n)
        if stage == "train":
            self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=n)
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_epoch(self, stage: str) -> None:
        meter, mean_loss = self._meters(stage)
        if not meter.update_called:
            return
        tp, fp, tn, fn, _ = (int(v) for v in meter.compute().tolist())  # summed over every DDP process
        s = scores(Counts(tp, fp, fn, tn))
        metrics = {f"{stage}_{k}": float(s[k]) for k in ("iou", "dice", "precision", "recall", "accuracy")}
        if stage != "train":
            metrics[f"{stage}_loss"] = float(mean_loss.compute())
        else:
            metrics["train_iou"] = float(s["iou"])
        meter.reset()
        mean_loss.reset()
        self.log_dict(metrics, prog_bar=stage == "val", sync_dist=False, rank_zero_only=False)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._log_epoch("val")
        else:
            for metric in self._meters("val"):
                metric.reset()

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def _cosine_schedule(self) -> Callable[[int], float]:
        """LR factor per optimizer step: cosine over the run, whichever limit (steps or time budget) ends it first.

        The run length and the trainer's time-budget timer are looked up once here, not at every step.
        """
        from lightning.pytorch.callbacks import Timer

        total = float(self.trainer.estimated_stepping_batches)
        budget = self.cfg.time_budget_s
        callbacks = getattr(self.trainer, "callbacks", [])
        timer = next((c for c in callbacks if isinstance(c, Timer)), None) if budget else None

        def factor(step: int) -> float:
            elapsed = timer.time_elapsed() if timer is not None and timer.start_time() is not None else 0.0
            return cosine_factor(step, total, elapsed, budget)

        return factor

    def configure_optimizers(self) -> Any:
        cfg = self.cfg
        params = self.net.parameters()
        opt: torch.optim.Optimizer
        if cfg.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
        if cfg.scheduler == "cosine":
            sched = torch.optim.lr_scheduler.LambdaLR(opt, self._cosine_schedule())
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        if cfg.scheduler == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": plateau, "monitor": "val_iou", "interval": "epoch"}}
        return opt
