"""Typed training configuration and the presets that name each study experiment.

A preset is a YAML file in ``glofwatch/presets/`` holding the fields of
:class:`TrainConfig` that differ from the defaults. ``resolve_config`` merges
preset -> command-line overrides, checks every key and type once, and the
result is saved beside the run as ``config.yaml`` so any run can be repeated.

Example:
    >>> cfg = resolve_config("dlv3p-r50-dice", {"max_epochs": 2})
    >>> cfg.model, cfg.loss, cfg.max_epochs
    ('deeplabv3plus-resnet50', 'dice', 2)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from glofwatch.data.normalize import InputSpec
from glofwatch.errors import ConfigError
from glofwatch.registry import close_matches_hint


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults follow the study.

    Attributes:
        preset: preset name this config came from ("custom" if none).
        description: one line on what the run reproduces.
        study_row: the row of the study's tables this preset re-runs, if any.
        model: registry name of the network (``glofwatch models`` lists them).
        weights: "default", "imagenet", "none" or a path to a state dict/checkpoint.
        loss: loss name (bce, focal, dice, ce, bce+dice).
        loss_params: extra loss arguments (focal alpha/gamma, dice smooth, ...).
        optimizer: "adam", "adamw" or "sgd".
        lr: learning rate.
        weight_decay: L2 weight decay.
        scheduler: "none", "cosine" (per step, down to 1 % of lr at the end of the run or
            of the time budget, whichever comes first) or "plateau" (on val IoU).
        batch_size: images per step.
        max_epochs: epochs to train (the study: 50).
        max_steps: stop after this many optimizer steps (-1: no limit).
        time_budget_s: stop after this many seconds of training (None: no limit).
        image_size: random training crop size in pixels (None: whole crops).
        val_fraction: share of the training split held back for validation/model selection.
        test_fraction: share of a one-folder (generic layout) data set held out as the run's
            test split before validation is drawn (saved in ``RUN/split.json``).
        group_by: how crops are grouped so a scene stays on one side of each split: none,
            regex:PATTERN, csv:FILE or footprint (see :mod:`glofwatch.data.groups`).
        augment: augmentation set: none, study, robust.
        input: the input normalisation (see :class:`~glofwatch.data.normalize.InputSpec`).
        threshold: probability above which a pixel is lake; with ``select_threshold`` only the
            starting value (and tie-breaker) of the choice made on validation.
        select_threshold: at the end of training, choose the threshold that maximises
            validation IoU and store it with the model.
        calibrate: at the end of training, fit a temperature on the validation logits
            (temperature scaling) and store it with the model.
        seed: seed for weights, data order and augmentation.
        num_workers: data-loader worker processes.
        device: auto, cpu or cuda.
        precision: auto (bf16-mixed on CUDA, 32 on CPU), 32, 16-mixed or bf16-mixed.
        channels_last: use channels-last memory format (helps convolutions on CUDA).
        compile: wrap the network with ``torch.compile`` (the first steps of training and of
            validation are slower while it compiles; ``glofwatch bench train`` shows whether it pays off).
        devices: devices per node passed to Lightning ("auto", a count, or a list).
        num_nodes: machines for multi-node training.
        strategy: Lightning strategy (auto, ddp, ddp_spawn, ...).
        limit_val_batches: fraction or count of validation batches (1.0: all).
    """

    preset: str = "custom"
    description: str = ""
    study_row: str | None = None
    model: str = "unet-efflite0-slim"
    weights: str = "default"
    loss: str = "bce"
    loss_params: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "none"
    batch_size: int = 8
    max_epochs: int = 50
    max_steps: int = -1
    time_budget_s: float | None = None
    image_size: int | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    group_by: str = "none"
    augment: str = "none"
    input: dict[str, Any] = field(default_factory=lambda: InputSpec().to_dict())
    threshold: float = 0.5
    select_threshold: bool = True
    calibrate: bool = True
    seed: int = 42
    num_workers: int = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = False
    compile: bool = False
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    limit_val_batches: float = 1.0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def input_spec(self) -> InputSpec:
        """The input normalisation as an :class:`InputSpec`."""
        return InputSpec.from_dict(self.input)

    def validate(self) -> None:
        """Check values that types alone do not catch; raise :class:`ConfigError`."""
        choices = {
            "optimizer": ("adam", "adamw", "sgd"),
            "scheduler": ("none", "cosine", "plateau"),
            "device": ("auto", "cpu", "cuda"),
            "precision": ("auto", "32", "16-mixed", "bf16-mixed"),
        }
        for key, allowed in choices.items():
            value = getattr(self, key)
            if value not in allowed:
                raise ConfigError(f"{key}={value!r} is not allowed; use one of {', '.join(allowed)}")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} must be >= 1")
        if self.max_epochs < 1:
            raise ConfigError(f"max_epochs={self.max_epochs} must be >= 1 (the study trains 50)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction={self.val_fraction} must be in [0, 1)")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction={self.test_fraction} must be in [0, 1)")
        from glofwatch.data.groups import GroupSpec

        GroupSpec.parse(self.group_by)
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold={self.threshold} must be in (0, 1)")
        self.input_spec  # noqa: B018  (validates the input spec)

    def to_dict(self) -> dict[str, Any]:
        """Plain-YAML form."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """YAML text of the config (saved beside each run)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a dict, checking keys (close-match errors) and types."""
        return cls(**check_overrides(d, source))


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(key: str, value: Any, source: str) -> Any:
    """Convert ``value`` (maybe a command-line string) to the type of field ``key``."""
    hint = typing.get_type_hints(TrainConfig)[key]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if isinstance(hint, types.UnionType) else hint
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"{source}: {key} cannot be empty")
    origin = typing.get_origin(base) or base
    try:
        if origin is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if origin is dict:
            if isinstance(value, str):
                value = yaml.safe_load(value)
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        if origin is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if origin is float:
            return float(value)
        if origin is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{source}: {key}={value!r} is not a valid {getattr(origin, '__name__', origin)}"
        ) from None
    return value


def check_overrides(overrides: dict[str, Any], source: str = "overrides") -> dict[str, Any]:
    """Check keys against :class:`TrainConfig` and coerce values to the field types."""
    out = {}
    for key, value in overrides.items():
        key = key.replace("-", "_")
        if key not in _FIELDS:
            hint = close_matches_hint(key, list(_FIELDS))
            raise ConfigError(f"{source}: unknown setting '{key}'{hint}")
        out[key] = _coerce(key, value, source)
    return out


def _preset_dir() -> Path:
    return Path(str(resources.files("glofwatch") / "presets"))


def list_presets() -> list[str]:
    """Names of the built-in presets."""
    return sorted(p.stem for p in _preset_dir().glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """Raw preset dict for a built-in name or a path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"{path}: preset file not found; give an existing YAML file or a built-in preset name")
    else:
        path = _preset_dir() / f"{name}.yaml"
        if not path.is_file():
            known = list_presets()
            raise ConfigError(
                f"unknown preset '{name}'{close_matches_hint(name, known)} (known: {', '.join(known)})"
            )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of settings")
    data.setdefault("preset", path.stem)
    return data


def resolve_config(preset: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Preset (or defaults) + overrides -> a checked :class:`TrainConfig`."""
    base = load_preset(preset) if preset else {}
    merged = {**check_overrides(base, f"preset {preset}"), **check_overrides(overrides or {})}
    return TrainConfig(**merged)


def load_config(path: str | Path) -> TrainConfig:
    """Read a saved ``config.yaml``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config not found; is this a glofwatch run folder?") from None
    return TrainConfig.from_dict(data or {}, str(path))
