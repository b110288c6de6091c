"""Grad-CAM heat maps for the lake segmentation models (pytorch-grad-cam).

What the map answers: which places in the image raised the lake logit of the
pixels the model calls lake. The Grad-CAM *target* (the scalar that is
back-propagated) is the sum of the lake logit over the predicted lake pixels
(``probability > threshold``). When the model predicts no lake in an image,
the target is the sum over the ``topk_fraction`` (default 1 %) most probable
valid pixels instead, so the map still shows what pushed the model towards
"lake" the most; :attr:`CamResult.target` says which target was used.

Target layer, per architecture (:data:`CAM_LAYERS`, overridable with
``target_layer=`` / ``--target-layer``, any dotted name from
``net.named_modules()``; a negative index counts from the end, so
``decode.-1`` is the last decoder block whatever the depth):

* ``PlainUNet`` (the study's U-Net without backbone, ``tiny-unet``):
  ``decode.-1``, the last decoder block (full resolution).
* smp ``Unet`` (ResNet50, EfficientNet-B0/Lite0, MobileNetV2 encoders):
  ``decoder.blocks.-2``, the decoder block at stride 2; the name does not
  depend on the encoder.
* smp ``DeepLabV3Plus``: ``decoder.block2``, the convolutions that fuse the
  ASPP context with the stride-4 low-level features.

Why decoder layers near the output: Grad-CAM weighs each channel by its
spatially averaged gradient and keeps only positive evidence. On models
trained on a synthetic lake task (dark discs on brown noise) the encoder's
last stage, the ASPP and the U-Net bottleneck gave maps that light up the
*land around* the lakes (the networks code "lake" as the absence of land
features, a negative evidence Grad-CAM clips), while the layers above lit up
the lakes (mean map inside the lakes 0.5-0.7 vs 0.0-0.04 outside). The price
of a layer this close to the head is that the map follows the lake logit
closely; its value is in showing sub-threshold evidence (places the model
almost called lake) and where inside a lake the evidence is strong.

Grad-CAM runs on the normalised input: raw pixels are normalised with the
bundle's own :class:`~glofwatch.data.normalize.InputSpec` and padded to the
network stride exactly as :class:`~glofwatch.infer.predict.Predictor` does,
then fed to the network. Heat maps are upsampled (bilinear) to the input size,
cropped to the image, set to 0 on nodata and min-max scaled to [0, 1]; an
all-zero map means no positive evidence at that layer (Grad-CAM clips negative
evidence at 0).

For YOLOv8-Seg models, :func:`eigencam_for_yolo` gives a gradient-free
EigenCAM (first principal component of the backbone's last feature map).

Example:
    >>> explainer = LakeGradCam(load_bundle("runs/unet"))  # doctest: +SKIP
    >>> res = explainer.explain(read_image("img_0001.png"))  # doctest: +SKIP
    >>> res.heatmap.shape, float(res.heatmap.max())  # doctest: +SKIP
    ((320, 320), 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glofwatch.errors import ConfigError, InputError
from glofwatch.registry import Registry, close_matches_hint

if TYPE_CHECKING:
    import torch
    from torch import nn

    from glofwatch.models.bundle import ModelBundle

CAM_LAYERS: Registry[str] = Registry("Grad-CAM architecture")
"""Network class name -> default target layer path (resolved with ``net.get_submodule``)."""
CAM_LAYERS.register("PlainUNet", "decode.-1")
CAM_LAYERS.register("Unet", "decoder.blocks.-2")
CAM_LAYERS.register("DeepLabV3Plus", "decoder.block2")

TOPK_FRACTION = 0.01
"""Share of valid pixels used as target when no pixel is predicted lake."""
MAX_CAM_SIDE = 2048
"""Images with a longer side are refused (Grad-CAM keeps all activations in memory)."""


@dataclass
class CamResult:
    """Grad-CAM of one image.

    Attributes:
        heatmap: (H, W) float32 in [0, 1], same size as the image, 0 on nodata.
        probability: (H, W) float32 lake probability (as :class:`Predictor` gives it).
        mask: (H, W) uint8 {0, 1} predicted lake mask.
        target: ``"predicted"`` (sum of the lake logit over predicted lake pixels),
            ``"top-k"`` (no lake predicted: the most probable pixels) or ``"none"``
            (no valid pixel; the map is all 0).
        target_pixels: number of pixels in the target.
        layer: name of the target layer.
    """

    heatmap: np.ndarray
    probability: np.ndarray
    mask: np.ndarray
    target: str
    target_pixels: int
    layer: str


def default_target_layer(net: nn.Module) -> str:
    """The default Grad-CAM layer path for ``net`` (see :data:`CAM_LAYERS`).

    Raises:
        ConfigError: no default is registered for this architecture.
    """
    name = type(net).__name__
    if name not in CAM_LAYERS:
        raise ConfigError(
            f"no default Grad-CAM layer for {name} (defaults exist for {', '.join(CAM_LAYERS.names())}); "
            "pass --target-layer with a module name of the network, e.g. the last encoder stage"
        )
    return CAM_LAYERS.get(name)


def expand_layer_path(net: nn.Module, path: str) -> str:
    """``path`` with negative indices replaced by positive ones (``decode.-1`` -> ``decode.3``).

    Parts that cannot be expanded are left as they are (:func:`resolve_target_layer` reports them).
    """
    parts: list[str] = []
    module: Any = net
    for part in path.split("."):
        if part.startswith("-") and part[1:].isdigit() and hasattr(module, "__len__"):
            idx = len(module) + int(part)
            part = str(idx) if idx >= 0 else part
        parts.append(part)
        module = getattr(module, part, None) if module is not None else None
    return ".".join(parts)


def resolve_target_layer(net: nn.Module, path: str) -> nn.Module:
    """The submodule called ``path`` (dotted, as in ``net.named_modules()``; negative indices allowed).

    Raises:
        ConfigError: no such module; the message suggests close names.
    """
    try:
        return net.get_submodule(expand_layer_path(net, path))
    except AttributeError:
        known = [n for n, _ in net.named_modules() if n]
        hint = close_matches_hint(path, known)
        top = ", ".join(n for n, _ in net.named_children())
        raise ConfigError(
            f"target layer '{path}' is not a module of {type(net).__name__}{hint} "
            f"(top-level modules: {top}); pass a dotted name from net.named_modules()"
        ) from None


def _target_pixels(
    prob: np.ndarray, mask: np.ndarray, valid: np.ndarray, topk_fraction: float
) -> tuple[np.ndarray, str]:
    """Pixels to explain: the predicted lake, else the most probable valid pixels."""
    if mask.any():
        return mask.astype(bool), "predicted"
    n_valid = int(valid.sum())
    if n_valid == 0:
        return np.zeros_like(valid, dtype=bool), "none"
    k = max(1, math.ceil(topk_fraction * n_valid))
    scores = np.where(valid, prob, -np.inf).ravel()
    idx = np.argpartition(-scores, k - 1)[:k]
    sel = np.zeros(scores.size, dtype=bool)
    sel[idx] = True
    return sel.reshape(prob.shape), "top-k"


def _rescale(cam: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Finite float32 map in [0, 1] (min-max over valid pixels; 0 elsewhere)."""
    cam = np.nan_to_num(cam.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    cam = np.where(valid, cam, 0.0).astype(np.float32)
    if not valid.any():
        return cam
    lo, hi = float(cam[valid].min()), float(cam[valid].max())
    if hi - lo <= 1e-12:
        return np.zeros_like(cam)
    return np.where(valid, (cam - lo) / (hi - lo), 0.0).astype(np.float32)


class LakeGradCam:
    """Grad-CAM for a trained semantic segmentation model.

    Args:
        bundle: the trained model.
        target_layer: dotted module name; default from :data:`CAM_LAYERS`.
        device: auto, cpu or cuda.
        topk_fraction: share of valid pixels used as target when no lake is predicted.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        target_layer: str | None = None,
        device: str = "auto",
        topk_fraction: float = TOPK_FRACTION,
    ) -> None:
        from glofwatch.infer.predict import Predictor

        if not 0.0 < topk_fraction <= 1.0:
            raise ConfigError(f"topk_fraction={topk_fraction} must be in (0, 1]; e.g. 0.01 for the top 1 %")
        self.predictor = Predictor(bundle, device=device, max_tile=MAX_CAM_SIDE)
        self.net = self.predictor.net
        name = target_layer or default_target_layer(self.net)
        self.layer = resolve_target_layer(self.net, name)
        self.layer_name = expand_layer_path(self.net, name)
        self.topk_fraction = topk_fraction

    def _normalized(self, image: np.ndarray, valid: np.ndarray) -> torch.Tensor:
        """Raw (H, W, C) -> normalised, stride-padded (1, C, H', W') tensor, as the Predictor feeds it."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(np.nan_to_num(image).transpose(2, 0, 1))).float()[None]
        return self.predictor.network_input(x, torch.from_numpy(valid)[None])

    def explain(self, image: np.ndarray, valid: np.ndarray | None = None) -> CamResult:
        """Predict ``image`` and explain the prediction.

        Args:
            image: raw (H, W, C) image (8-bit values or reflectance), C = the model's bands.
            valid: optional (H, W) bool; default: pixels that are not all-zero or NaN.

        Returns:
            A :class:`CamResult` whose maps have the image's size.

        Raises:
            InputError: wrong shape, band count, or an image too large for Grad-CAM.
        """
        import torch
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

        if image.ndim != 3:
            raise InputError(f"expected an image (H, W, C), got shape {image.shape}")
        h, w, c = image.shape
        if max(h, w) > MAX_CAM_SIDE:
            raise InputError(
                f"image is {h}x{w}; Grad-CAM handles at most {MAX_CAM_SIDE} px a side; cut it into crops first"
            )
        image = image.astype(np.float32, copy=False)
        if valid is None:
            valid = ~(np.all(image == 0, axis=-1) | np.any(np.isnan(image), axis=-1))
        res = self.predictor.predict_image(image, valid)
        target, kind = _target_pixels(res.probability, res.mask, valid, self.topk_fraction)
        if kind == "none":
            return CamResult(np.zeros((h, w), np.float32), res.probability, res.mask, kind, 0, self.layer_name)
        z = self._normalized(image, valid)
        pixels = np.zeros(z.shape[-2:], dtype=np.float32)  # the target on the stride-padded grid
        pixels[:h, :w] = target
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)  # gradients flow even when weights are frozen
            with GradCAM(model=self.net, target_layers=[self.layer]) as cam:
                try:
                    # target: the sum of the (one) lake logit channel over the target pixels
                    gray = cam(input_tensor=z, targets=[SemanticSegmentationTarget(0, pixels)])[0]
                except AttributeError as exc:  # the layer returned a list/tuple/dict
                    if "has no attribute 'cpu'" not in str(exc):
                        raise
                    raise ConfigError(
                        f"target layer '{self.layer_name}' does not return one feature map tensor; "
                        "pick a layer that outputs (N, C, H, W), e.g. a convolution block"
                    ) from None
        self.net.zero_grad(set_to_none=True)
        heat = _rescale(gray[:h, :w], valid)
        return CamResult(heat, res.probability, res.mask, kind, int(target.sum()), self.layer_name)


def eigencam(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> np.ndarray:
    """Gradient-free EigenCAM: first principal component of ``layer``'s activations.

    Args:
        model: any module; its output is not used (only ``layer``'s activations).
        x: network input (N, C, H, W) on the model's device.
        layer: the module whose output is projected.

    Returns:
        (N, H, W) float32 maps in [0, 1] (min-max per image; the sign of a
        principal component is arbitrary, EigenCAM keeps the positive side).
    """
    import torch
    from pytorch_grad_cam import EigenCAM

    with torch.no_grad(), EigenCAM(model=model, target_layers=[layer]) as cam:
        # explicit dummy targets: EigenCAM ignores them, and without them the
        # library would try to take an argmax over the model's (tuple) output
        maps = cam(input_tensor=x, targets=[lambda _out: 0] * x.shape[0])
    ones = np.ones(maps.shape[1:], dtype=bool)
    return np.stack([_rescale(m, ones) for m in maps])


def eigencam_for_yolo(model: Any, image: np.ndarray, layer: str | None = None) -> np.ndarray:
    """EigenCAM of an Ultralytics YOLOv8-Seg network on its backbone.

    The image is scaled to [0, 1] (8-bit RGB / 255, as Ultralytics feeds it) and
    padded bottom/right with grey (114) to a multiple of 32.

    Args:
        model: an Ultralytics ``SegmentationModel`` (``YOLO(...).model``) or a
            ``YOLO`` object.
        image: (H, W, 3) uint8 RGB.
        layer: module path in the network (e.g. ``"model.9"``); default the
            last backbone layer (SPPF in YOLOv8).

    Returns:
        (H, W) float32 heat map in [0, 1].
    """
    import torch
    import torch.nn.functional as F

    def is_network(m: Any) -> bool:
        return hasattr(m, "yaml") and isinstance(getattr(m, "model", None), torch.nn.Sequential)

    net: Any = model if is_network(model) else getattr(model, "model", None)  # a YOLO object wraps the network
    if not is_network(net):
        raise ConfigError(f"{type(model).__name__} is not an Ultralytics YOLO network; pass YOLO(...).model")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"YOLO EigenCAM needs an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    if layer is None:
        layer = f"model.{len(net.yaml['backbone']) - 1}"
    target = resolve_target_layer(net, layer)
    h, w = image.shape[:2]
    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None].to(device) / 255.0
    ph, pw = -(-h // 32) * 32 - h, -(-w // 32) * 32 - w
    x = F.pad(x, (0, pw, 0, ph), value=114 / 255.0)
    net.eval()
    return _rescale(eigencam(net, x, target)[0][:h, :w], np.ones((h, w), dtype=bool))
