"""Every registered model builds offline, maps (N, C, H, W) to one logit map, and trains."""

from __future__ import annotations

import socket

import pytest
import torch

from glofwatch.errors import ConfigError, InputError
from glofwatch.models import MODELS, build_model, get_spec, list_models, model_stride

ALL = MODELS.names()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to open a connection (models must build offline)."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_expected_names_registered():
    expected = {
        "deeplabv3plus-resnet50",
        "unet",
        "unet-resnet50",
        "unet-efficientnet-b0",
        "unet-efflite0",
        "unet-efflite0-slim",
        "deeplabv3plus-efflite0",
        "deeplabv3plus-mobilenetv3",
        "unet-mobilenetv2",
        "tiny-unet",
    }
    assert expected <= set(ALL)
    assert {s.study_row for s in list_models()} >= {
        "DeepLabV3+ ResNet50",
        "U-Net (none)",
        "U-Net ResNet50",
        "U-Net EfficientNetB0",
    }
    assert get_spec("tiny-unet").for_tests
    assert list_models()[-1].name == "tiny-unet"  # test models listed last


# smp's EfficientNet-B0 encoder keeps the classifier's head conv and BN, unused in forward
UNUSED_PARAMS = {
    "unet-efficientnet-b0": {"encoder._conv_head.weight", "encoder._bn1.weight", "encoder._bn1.bias"},
}


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_one_logit(name):
    torch.manual_seed(0)
    spec = get_spec(name)
    model = build_model(name, weights=None)
    model.train()
    size = 2 * spec.stride
    x = torch.randn(2, 3, size, size)  # batch 2: BatchNorm after global pooling needs > 1 value
    y = model(x)
    assert y.shape == (2, 1, size, size)
    y.mean().backward()
    no_grad = {n for n, p in model.named_parameters() if p.grad is None}
    assert no_grad == UNUSED_PARAMS.get(name, set())
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(bool(g.abs().sum() > 0) for g in grads) > 0.9 * len(grads)


@pytest.mark.parametrize("name", ALL)
def test_four_bands_and_stride(name):
    spec = get_spec(name)
    model = build_model(name, weights=None, in_channels=4).eval()
    assert model_stride(model) == spec.stride
    s = spec.stride
    with torch.no_grad():
        y = model(torch.randn(1, 4, s, s))  # the smallest input the stride allows
    assert y.shape == (1, 1, s, s)


def test_strides_recorded():
    assert get_spec("deeplabv3plus-resnet50").stride == 16
    assert get_spec("unet").stride == 16
    assert get_spec("unet-resnet50").stride == 32
    assert get_spec("tiny-unet").stride == 4


def test_deeplab_rejects_input_off_stride():
    model = build_model("deeplabv3plus-mobilenetv3", weights=None).eval()
    with pytest.raises(RuntimeError, match="divisible by 16"):
        model(torch.zeros(1, 3, 24, 24))


def test_plain_unet_off_stride_message():
    model = build_model("unet", weights=None)
    with pytest.raises(
        InputError,
        match=r"^input is 100x70 but this U-Net needs H and W divisible by 16; pad the image to 112x80$",
    ):
        model(torch.zeros(1, 3, 100, 70))


def test_unknown_name_suggests_close_match():
    with pytest.raises(ConfigError, match=r"unknown model 'unet-resnt50'; did you mean 'unet-resnet50'"):
        build_model("unet-resnt50")


def test_bad_overrides_and_channels():
    with pytest.raises(ConfigError, match=r"smp Unet has no option 'decoder_chanels'; did you mean 'decoder_channels'"):
        build_model("unet-mobilenetv2", weights=None, decoder_chanels=(8, 8, 8, 8, 8))
    with pytest.raises(ConfigError, match=r"option 'encoder_weights' is fixed"):
        build_model("unet-mobilenetv2", encoder_weights="imagenet")
    with pytest.raises(ConfigError, match=r"model 'tiny-unet' does not take option\(s\) colour"):
        build_model("tiny-unet", colour=1)
    with pytest.raises(ConfigError, match=r"in_channels must be a positive integer, got 0"):
        build_model("tiny-unet", in_channels=0)


def test_overrides_reach_the_model():
    plain = build_model("unet", weights=None, batch_norm=True, base_width=8)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    dlv3 = build_model("deeplabv3plus-mobilenetv3", weights=None)
    rates = [m.dilation[0] for block in dlv3.decoder.aspp[0].convs[1:4] for m in block.modules()
             if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert rates == [6, 12, 18]
