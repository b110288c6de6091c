"""The Lightning module shared by every semantic-segmentation preset.

One step function serves training, validation and testing. The network sees
``normalize(image)`` with the run's :class:`~glofwatch.data.normalize.InputSpec`,
so normalisation is part of the model. Validation scores come from one
confusion matrix accumulated over the whole split (dataset-level, "micro").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from glofwatch.config import TrainConfig
from glofwatch.data.normalize import normalize
from glofwatch.errors import TrainingError
from glofwatch.infer.metrics import Counts, scores
from glofwatch.models.registry import build_model
from glofwatch.train.losses import build_loss


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
        self.loss_fn = build_loss(self.cfg.loss, **self.cfg.loss_params)
        self._counts: dict[str, torch.Tensor] = {}
        self._loss_sum: dict[str, torch.Tensor] = {}

    def forward(self, image: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, 1, H, W) for raw images (N, C, H, W)."""
        x = normalize(image, self.spec, valid)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        logits = self(batch["image"], batch["valid"])
        loss = self.loss_fn(logits, batch["mask"], batch["valid"])
        if not torch.isfinite(loss):
            raise TrainingError(
                f"{stage} loss became {loss.item()} at epoch {self.current_epoch + 1}, step {self.global_step}; "
                "the last good checkpoint is kept: lower --lr, or check the data with `glofwatch data check`"
            )
        with torch.no_grad():
            pred = torch.sigmoid(logits.float())[:, 0] > self.cfg.threshold
            truth = batch["mask"].bool()
            valid = batch["valid"]
            counts = torch.stack(
                [
                    (pred & truth & valid).sum(),
                    (pred & ~truth & valid).sum(),
                    (~pred & truth & valid).sum(),
                    (~pred & ~truth & valid).sum(),
                ]
            ).double()
        n = batch["image"].shape[0]
        if stage == "train":
            c = Counts(*[int(v) for v in counts])
            self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=n)
            self.log("iou", scores(c)["iou"], prog_bar=True, on_step=True, on_epoch=False, batch_size=n)
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self._counts[stage] = self._counts.get(stage, torch.zeros(4, dtype=torch.float64, device=counts.device)) + counts
        self._loss_sum[stage] = self._loss_sum.get(stage, torch.zeros(2, dtype=torch.float64, device=counts.device)) + torch.stack(
            [loss.detach().double() * n, torch.tensor(float(n), dtype=torch.float64, device=counts.device)]
        )
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_epoch(self, stage: str) -> None:
        if stage not in self._counts:
            return
        counts = self.trainer.strategy.reduce(self._counts.pop(stage), reduce_op="sum")
        loss_sum = self.trainer.strategy.reduce(self._loss_sum.pop(stage), reduce_op="sum")
        s = scores(Counts(*[int(v) for v in counts.tolist()]))
        metrics = {f"{stage}_{k}": float(s[k]) for k in ("iou", "dice", "precision", "recall", "accuracy")}
        if stage != "train":
            metrics[f"{stage}_loss"] = float(loss_sum[0] / loss_sum[1].clamp_min(1))
        else:
            metrics["train_iou"] = float(s["iou"])
        self.log_dict(metrics, prog_bar=stage == "val", sync_dist=False, rank_zero_only=False)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._log_epoch("val")
        else:
            self._counts.pop("val", None)
            self._loss_sum.pop("val", None)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def _cosine_schedule(self) -> Callable[[int], float]:
        """LR factor per optimizer step: cosine over the run, whichever limit (steps or time budget) ends it first.

        The run length and the trainer's time-budget timer are looked up once here, not at every step.
        """
        from lightning.pytorch.callbacks import Timer

        total = float(self.trainer.estimated_stepping_batches)
        budget = self.cfg.time_budget_s
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None) if budget else None

        def factor(step: int) -> float:
            elapsed = timer.time_elapsed() if timer is not None and timer.start_time() is not None else 0.0
            return cosine_factor(step, total, elapsed, budget)

        return factor

    def configure_optimizers(self) -> Any:
        cfg = self.cfg
        params = self.net.parameters()
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
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_iou", "interval": "epoch"}}
        return opt
