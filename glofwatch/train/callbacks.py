"""Lightning callbacks and plugins that make runs safe to kill and exact to resume.

* :class:`AtomicCheckpointIO` writes checkpoints to a temporary file and renames it.
* :class:`RngState` stores the Python, NumPy and torch RNG states in each
  checkpoint and restores them on resume, so 30 + 20 epochs equal 50.
* :class:`EpochSeed` tells the data module the epoch before each one starts
  (augmentation is a function of seed, epoch and sample index).
* :class:`MetricsCSV` keeps one row per epoch in ``metrics.csv``; its rows
  live in the checkpoint too, so a resumed run continues the same file.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from glofwatch.io.atomic import torch_save_atomic, write_text_atomic

_STEP_ONLY = {"loss", "iou"}  # progress-bar values of the last step, not epoch metrics


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint writer that never leaves a half-written file under the final name."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        torch_save_atomic(checkpoint, path)


class RngState(L.Callback):
    """Save and restore every RNG state with the checkpoint."""

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
        keys = np.asarray(keys)
        state = {
            "python": random.getstate(),
            # plain types and tensors only, so checkpoints load with torch.load(weights_only=True)
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class EpochSeed(L.Callback):
    """Call ``datamodule.set_epoch(epoch)`` at the start of each training epoch."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = getattr(trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "set_epoch"):
            dm.set_epoch(trainer.current_epoch)


class MetricsCSV(Checkpoint):
    """One row per epoch (train and validation metrics, lr, seconds) in ``path``.

    It is a :class:`~lightning.pytorch.callbacks.Checkpoint` only so that Lightning
    runs it after the module's own ``on_train_epoch_end`` (which logs the epoch's
    training metrics) and before the checkpoint writers, which then store its rows.

    Args:
        path: the CSV file, rewritten atomically after each epoch.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self._t0 = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.global_rank != 0:
            return
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.endswith("_step") or key in _STEP_ONLY:
                continue
            v = float(value)
            row[key.removesuffix("_epoch")] = v if math.isfinite(v) else None
        opt = trainer.optimizers[0] if trainer.optimizers else None
        if opt is not None:
            row["lr"] = opt.param_groups[0]["lr"]
        row["seconds"] = round(time.monotonic() - self._t0, 3)
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        self.write()

    def write(self) -> None:
        """Rewrite the CSV from the rows kept so far."""
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buf.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
