"""Self-describing model files (``model.pt``): weights plus everything needed to use them.

A bundle holds the network's state dict, the training config (model name,
input normalisation), the validation metrics and provenance. Its ``meta``
carries what was chosen on the validation split at the end of training: the
mask ``threshold`` (maximum validation IoU) and the ``temperature`` that
calibrates the probabilities (``sigmoid(logit / temperature)``).
``glofwatch predict``/``map``/``evaluate`` accept a run folder or a bundle file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from glofwatch.config import TrainConfig
from glofwatch.data.normalize import InputSpec
from glofwatch.errors import InputError
from glofwatch.io.atomic import torch_save_atomic
from glofwatch.io.files import read_json

BUNDLE_FORMAT = "glofwatch-model"
BUNDLE_VERSION = 1


@dataclass
class ModelBundle:
    """A trained network with its config.

    Attributes:
        net: the network (eval mode), producing logits (N, 1, H, W).
        config: the training config.
        metrics: validation metrics recorded at export.
        meta: provenance (source checkpoint, epoch, data root, ...).
    """

    net: torch.nn.Module
    config: TrainConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> InputSpec:
        """Input normalisation of the model."""
        return self.config.input_spec

    @property
    def threshold(self) -> float:
        """Probability above which a pixel is lake."""
        return float(self.meta.get("threshold", self.config.threshold))

    @property
    def temperature(self) -> float:
        """Logits are divided by this before the sigmoid (1.0: uncalibrated)."""
        return float(self.meta.get("temperature") or 1.0)


def with_threshold(bundle: ModelBundle, threshold: float | None) -> ModelBundle:
    """``bundle`` with its mask threshold replaced (``--threshold``); the same object when None."""
    if threshold is None:
        return bundle
    from glofwatch.errors import ConfigError

    if not 0.0 < float(threshold) < 1.0:
        raise ConfigError(f"threshold {threshold} must be between 0 and 1 (exclusive), e.g. --threshold 0.5")
    meta = {**bundle.meta, "threshold": float(threshold), "threshold_source": "--threshold"}
    return ModelBundle(bundle.net, bundle.config, bundle.metrics, meta)


def save_bundle(
    path: str | Path, net: torch.nn.Module, config: TrainConfig, metrics: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """Write a bundle atomically."""
    payload = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "metrics": metrics,
        "meta": meta,
    }
    return torch_save_atomic(payload, path)


def _build_net(config: TrainConfig, state_dict: dict[str, torch.Tensor], source: Path) -> torch.nn.Module:
    from glofwatch.models.registry import build_model

    net = build_model(config.model, weights=None, in_channels=config.input_spec.in_channels)
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(
            f"{source}: weights do not fit model '{config.model}' ({first}); "
            "was the file edited or saved by another version?"
        ) from None
    return net.eval()


def run_folder(run: str | Path) -> Path:
    """The run folder of ``run`` (a run folder, or a file inside one)."""
    run = Path(run)
    return run if run.is_dir() else run.parent


def read_run_info(run: str | Path) -> dict[str, Any]:
    """``RUN/run.json`` (data root, times, versions) as a dict; ``{}`` when the run has none."""
    return read_json(run_folder(run) / "run.json")


def run_data_root(run: str | Path, data: str | Path | None = None, purpose: str = "evaluation") -> Path:
    """``data`` when given, else the training data root recorded in the run's ``run.json``.

    Raises:
        ConfigError: no ``run.json`` or no data root in it.
        InputError: the recorded folder no longer exists.
    """
    from glofwatch.errors import ConfigError

    if data is not None:
        return Path(data)
    root = read_run_info(run).get("data_root")
    if not root:
        raise ConfigError(f"{run}: no data root in run.json for {purpose}; pass --data ROOT")
    if not Path(root).is_dir():
        raise InputError(f"{root}: the run's training data is gone; pass --data ROOT for {purpose}")
    return Path(root)


def run_model_file(run: Path, checkpoint_suffix: str, hint: str) -> Path:
    """The model file of run folder ``run``: ``model.pt``, else ``checkpoints/best<suffix>``, else ``last<suffix>``."""
    for cand in (run / "model.pt", run / "checkpoints" / f"best{checkpoint_suffix}",
                 run / "checkpoints" / f"last{checkpoint_suffix}"):
        if cand.is_file():
            return cand
    raise InputError(f"{run}: no model.pt or checkpoints/*{checkpoint_suffix} in this folder; {hint}")


def load_bundle(path: str | Path) -> ModelBundle:
    """Load a model from a bundle file, a Lightning checkpoint, or a run folder.

    A run folder resolves to ``model.pt``, else ``checkpoints/best.ckpt``, else
    ``checkpoints/last.ckpt``.
    """
    path = Path(path)
    if path.is_dir():
        path = run_model_file(path, ".ckpt", "train a model with `glofwatch train` first")
    if not path.is_file():
        raise InputError(f"{path}: model file not found; give a run folder or a model.pt file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
        raise InputError(
            f"{path}: cannot read the model file ({exc.__class__.__name__}); it is corrupt or not a glofwatch model"
        ) from None
    if isinstance(payload, dict) and payload.get("format") == BUNDLE_FORMAT:
        config = TrainConfig.from_dict(payload["config"], str(path))
        net = _build_net(config, payload["state_dict"], path)
        return ModelBundle(net, config, payload.get("metrics", {}), payload.get("meta", {}))
    if isinstance(payload, dict) and "state_dict" in payload and "hyper_parameters" in payload:
        config = TrainConfig.from_dict(payload["hyper_parameters"]["config"], str(path))
        sd = {k.removeprefix("net."): v for k, v in payload["state_dict"].items() if k.startswith("net.")}
        net = _build_net(config, sd, path)
        meta = {"checkpoint": str(path), "epoch": payload.get("epoch")}
        return ModelBundle(net, config, {}, meta)
    raise InputError(
        f"{path}: not a glofwatch model (no config inside); export one with `glofwatch train` or pass a run folder"
    )
