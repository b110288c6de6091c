"""Grad-CAM on lake models: the map sits on the lake, has the image's size, and every registry model has a layer."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from conftest import SIZE, brown_noise, make_discs
from required import require

from glofwatch.errors import ConfigError
from glofwatch.explain.gradcam import (
    CAM_LAYERS,
    LakeGradCam,
    default_target_layer,
    eigencam_for_yolo,
    expand_layer_path,
    resolve_target_layer,
)
from glofwatch.models.bundle import ModelBundle


def test_gradcam_is_highest_inside_the_lake(discs_bundle) -> None:
    explainer = LakeGradCam(discs_bundle, device="cpu")
    assert explainer.layer_name == "decode.1"  # "decode.-1" on the depth-2 tiny U-Net
    imgs, masks = make_discs(3, seed=123)
    for img, truth in zip(imgs, masks.astype(bool), strict=True):
        res = explainer.explain(img)
        heat = res.heatmap
        assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32
        assert np.isfinite(heat).all()
        assert heat.min() == 0.0 and heat.max() == pytest.approx(1.0)
        assert heat.std() > 0.05  # not constant
        assert res.target == "predicted" and res.target_pixels == int(res.mask.sum()) > 0
        inside, outside = heat[truth].mean(), heat[~truth].mean()
        assert inside > 0.3 and inside > 4 * outside, (inside, outside)


def test_gradcam_keeps_size_of_odd_images_and_ignores_nodata(discs_bundle) -> None:
    img = make_discs(1, size=96, seed=5)[0][0, :70, :90].copy()  # not a multiple of the stride: padded, then cropped
    img[:, :10] = 0  # no-data strip
    res = LakeGradCam(discs_bundle, device="cpu").explain(img)
    assert res.heatmap.shape == (70, 90) == res.mask.shape
    assert np.isfinite(res.heatmap).all() and (res.heatmap[:, :10] == 0).all()


def test_gradcam_explains_most_probable_pixels_when_no_lake_is_predicted(discs_bundle) -> None:
    res = LakeGradCam(discs_bundle, device="cpu").explain(brown_noise())
    assert res.mask.sum() == 0
    assert res.target == "top-k" and res.target_pixels == math.ceil(0.01 * SIZE * SIZE)
    assert np.isfinite(res.heatmap).all() and 0.0 <= res.heatmap.min() <= res.heatmap.max() <= 1.0


def test_target_layer_override_and_unknown_layer(discs_bundle) -> None:
    res = LakeGradCam(discs_bundle, target_layer="bottleneck", device="cpu").explain(make_discs(1, seed=4)[0][0])
    assert res.layer == "bottleneck" and res.heatmap.shape == (SIZE, SIZE)
    with pytest.raises(ConfigError, match=r"target layer 'decoder\.blocks\.1' is not a module of PlainUNet; "
                                          r"did you mean .*decode.*top-level modules: down, pool, bottleneck"):
        LakeGradCam(discs_bundle, target_layer="decoder.blocks.1", device="cpu")


def test_layer_that_returns_a_list_is_refused(discs_bundle) -> None:
    class Split(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            return [x * 1.0]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.split = Split()
            self.head = torch.nn.Conv2d(3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.split(x)[0])

    bundle = ModelBundle(Net().eval(), discs_bundle.config)
    explainer = LakeGradCam(bundle, target_layer="split", device="cpu", topk_fraction=0.5)
    with pytest.raises(ConfigError, match=r"target layer 'split' does not return one feature map tensor; pick a layer"):
        explainer.explain(make_discs(1, seed=4)[0][0])


def test_every_semantic_model_in_the_registry_has_a_default_layer() -> None:
    from glofwatch.models import list_models

    specs = [s for s in list_models() if s.family in ("unet", "deeplabv3plus")]
    assert {s.name for s in specs} >= {"unet", "unet-resnet50", "unet-efficientnet-b0", "deeplabv3plus-resnet50"}
    for spec in specs:
        with torch.device("meta"):  # structure only: no weights are allocated
            net = spec.builder(in_channels=3)
        path = expand_layer_path(net, default_target_layer(net))
        assert isinstance(resolve_target_layer(net, path), torch.nn.Module), spec.name
        assert "-" not in path, spec.name


def test_registry_models_are_all_covered() -> None:
    from glofwatch.models import list_models

    semantic = {s.family for s in list_models() if s.family in ("unet", "deeplabv3plus")}
    assert semantic == {"unet", "deeplabv3plus"}
    assert set(CAM_LAYERS.names()) == {"PlainUNet", "Unet", "DeepLabV3Plus"}
    with pytest.raises(ConfigError, match=r"no default Grad-CAM layer for Linear .*pass --target-layer"):
        default_target_layer(torch.nn.Linear(2, 2))


def test_gradcam_on_smp_model_runs_end_to_end() -> None:
    """An untrained smp model: only the mechanics (shape, range, finiteness) are checked."""
    from glofwatch.config import resolve_config
    from glofwatch.models import build_model

    cfg = resolve_config(None, {"model": "unet-mobilenetv2", "weights": "none"})
    torch.manual_seed(0)
    bundle = ModelBundle(build_model("unet-mobilenetv2", weights=None).eval(), cfg)
    res = LakeGradCam(bundle, device="cpu").explain(make_discs(1, seed=1)[0][0])
    assert res.layer == "decoder.blocks.3"
    assert res.heatmap.shape == (SIZE, SIZE) and np.isfinite(res.heatmap).all()
    assert 0.0 <= res.heatmap.min() and res.heatmap.max() <= 1.0


def test_eigencam_for_yolo_backbone() -> None:
    require(importlib.util.find_spec("ultralytics") is not None, "ultralytics", "run `make install`")
    from glofwatch.models.yolo import import_ultralytics

    ultralytics = import_ultralytics()  # offline, and PIL's own Image.open kept
    torch.manual_seed(0)
    net = ultralytics.YOLO("yolov8n-seg.yaml", verbose=False).model  # built from its config: no download
    heat = eigencam_for_yolo(net, make_discs(1, size=80, seed=2)[0][0])
    assert heat.shape == (80, 80) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() == 0.0 and heat.max() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="not an Ultralytics YOLO network"):
        eigencam_for_yolo(torch.nn.Linear(2, 2), make_discs(1, seed=2)[0][0])
