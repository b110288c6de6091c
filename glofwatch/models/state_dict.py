"""Reading saved weights from disk: state dicts, checkpoints, and key-compatibility reports.

:func:`load_weights_file` loads a state dict or a Lightning/glofwatch checkpoint
into a model by key, stripping wrapper prefixes, and reports which keys matched,
which were missing and which did not fit. :mod:`glofwatch.models.weights`
builds on it for ImageNet encoders and the ``--weights`` option.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glofwatch.errors import WeightsError

logger = logging.getLogger("glofwatch.models.weights")

_PREFIXES = ("module.", "_orig_mod.", "net.", "model.", "encoder.")

@dataclass
class KeyReport:
    """How the tensors of a weights file matched a model.

    Attributes:
        source: the file read.
        model: model name used in messages.
        total: tensors in the file.
        matched: model keys loaded from the file.
        missing: model keys the file did not provide (kept as they were).
        unexpected: file keys the model has no place for.
        mismatched: (model key, file shape, model shape) for same-name tensors of another shape.
    """

    source: str
    model: str
    total: int
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every model tensor was loaded and every file tensor used."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """One line, e.g. ``run/best.pt -> 'unet': 46/46 tensors loaded, 0 missing, ...``."""
        line = (
            f"{self.source} -> '{self.model}': {len(self.matched)}/{self.total} tensors loaded, "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.mismatched)} of another shape"
        )
        if self.mismatched:
            key, got, want = self.mismatched[0]
            line += f" (e.g. '{key}': file {list(got)}, model {list(want)})"
        elif self.missing:
            line += f" (e.g. missing '{self.missing[0]}')"
        return line


# ----------------------------------------------------------------------------- reading files


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read the tensors of a state dict or checkpoint file (``.pth``, ``.pt``, ``.ckpt``, ``.safetensors``).

    Checkpoints may hold the state dict under ``state_dict`` (Lightning), ``model``
    or ``model_state_dict``. Files are first read with ``torch.load(weights_only=True)``;
    a checkpoint that also pickles other objects (Lightning hyper-parameters) is
    re-read with ``weights_only=False``, which runs its pickle code: only pass files
    you trust.

    Raises:
        WeightsError: the file is missing, unreadable, or holds no tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found; check the path")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError:
                logger.info("%s: holds more than tensors; reading it with weights_only=False", path)
                obj = torch.load(path, map_location="cpu", weights_only=False)
    except WeightsError:
        raise
    except Exception as exc:  # corrupt or foreign file
        raise WeightsError(
            f"{path}: cannot be read as PyTorch weights ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); save it with torch.save(model.state_dict())"
        ) from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    tensors = (
        {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if isinstance(obj, dict)
        else {}
    )
    if not tensors:
        raise WeightsError(
            f"{path}: holds no tensors (expected a state dict, or a checkpoint with "
            "'state_dict' or 'model'); save it with torch.save(model.state_dict())"
        )
    return tensors


def match_key(key: str, targets: dict[str, Any]) -> str | None:
    """Return ``key`` or ``key`` without leading wrapper prefixes if it is in ``targets``."""
    if key in targets:
        return key
    stripped = key
    while True:
        for prefix in _PREFIXES:
            if stripped.startswith(prefix):
                stripped = stripped[len(prefix) :]
                if stripped in targets:
                    return stripped
                break
        else:
            return None


def load_weights_file(
    model: nn.Module,
    path: str | os.PathLike[str],
    strict: bool = False,
    model_name: str | None = None,
) -> KeyReport:
    """Load a state dict or checkpoint file into ``model`` by tensor name.

    Keys are matched as they are or after stripping ``module.``, ``_orig_mod.``,
    ``net.``, ``model.`` prefixes (Lightning tasks keep the network as ``net`` or
    ``model``). Same-name tensors of another shape are skipped and reported.

    Args:
        model: the model to fill in place.
        path: ``.pth``/``.pt``/``.ckpt``/``.safetensors`` file (see :func:`read_state_dict`).
        strict: raise WeightsError unless every tensor matched both ways.
        model_name: name used in messages (default: the class name).

    Returns:
        A :class:`KeyReport` (``report.summary()`` is one line for logs).

    Raises:
        WeightsError: missing/unreadable file, nothing matched, or (strict) any mismatch.
    """
    name = model_name or type(model).__name__
    state = read_state_dict(path)
    target = model.state_dict()
    report = KeyReport(source=str(path), model=name, total=len(state))
    load: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        mkey = match_key(key, target)
        if mkey is None:
            report.unexpected.append(key)
        elif tuple(tensor.shape) != tuple(target[mkey].shape):
            report.mismatched.append((mkey, tuple(tensor.shape), tuple(target[mkey].shape)))
        else:
            load[mkey] = tensor
    report.matched = sorted(load)
    report.missing = [
        k for k in target if k not in load and not k.endswith("num_batches_tracked")
        and k not in {m[0] for m in report.mismatched}
    ]
    if not load:
        raise WeightsError(
            f"{path}: none of its {len(state)} tensors match model '{name}'; "
            "was it saved from another architecture?"
        )
    if strict and not report.complete:
        raise WeightsError(f"{report.summary()}; load with strict=False or use matching weights")
    nn.Module.load_state_dict(model, load, strict=False)
    return report


# ----------------------------------------------------------------------------- ImageNet sources
