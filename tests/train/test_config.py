"""Presets and the typed config."""

from __future__ import annotations

import pytest

from glofwatch.config import TrainConfig, list_presets, load_preset, resolve_config
from glofwatch.errors import ConfigError

STUDY_PRESETS = {"dlv3p-r50-bce", "dlv3p-r50-focal", "dlv3p-r50-dice", "unet-ce", "unet-r50-ce", "unet-effb0-ce",
                 "fast"}


def test_every_study_row_has_a_preset() -> None:
    assert STUDY_PRESETS <= set(list_presets())


@pytest.mark.parametrize("name", sorted(STUDY_PRESETS))
def test_presets_resolve_with_study_defaults(name: str) -> None:
    cfg = resolve_config(name)
    assert cfg.preset == name
    assert cfg.optimizer == "adam" and cfg.lr == 1e-3 and cfg.batch_size == 8
    if name != "fast":
        assert cfg.max_epochs == 50


def test_dice_preset_matches_the_study() -> None:
    cfg = resolve_config("dlv3p-r50-dice")
    assert (cfg.model, cfg.loss, cfg.loss_params, cfg.weights) == (
        "deeplabv3plus-resnet50", "dice", {"smooth": 1.0}, "imagenet"
    )


def test_overrides_are_typed_from_strings() -> None:
    cfg = resolve_config("unet-ce", {"max_epochs": "5", "lr": "0.01", "channels_last": "true", "image_size": "none",
                                     "loss_params": "{gamma: 3}"})
    assert (cfg.max_epochs, cfg.lr, cfg.channels_last, cfg.image_size, cfg.loss_params) == (
        5, 0.01, True, None, {"gamma": 3}
    )


def test_unknown_preset_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'dlv3p-r50-dise'; did you mean 'dlv3p-r50-dice'"):
        load_preset("dlv3p-r50-dise")


def test_unknown_setting_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'max_epoch'; did you mean 'max_epochs'"):
        resolve_config("fast", {"max_epoch": 3})


def test_bad_values_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"max_epochs='five' is not a valid int"):
        resolve_config("fast", {"max_epochs": "five"})
    with pytest.raises(ConfigError, match=r"optimizer='rmsprop' is not allowed; use one of adam, adamw, sgd"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match=r"val_fraction=1.0 must be in \[0, 1\)"):
        TrainConfig(val_fraction=1.0)


def test_config_yaml_round_trip(tmp_path) -> None:  # noqa: ANN001
    from glofwatch.config import load_config

    cfg = resolve_config("dlv3p-r50-focal", {"seed": 9})
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    assert load_config(tmp_path / "config.yaml") == cfg


def test_encoder_stats_follow_the_pretrained_encoder() -> None:
    from glofwatch.models.registry import encoder_stats
    from glofwatch.train.fit import adopt_encoder_stats

    # EfficientNet-Lite0 was pretrained on [-1, 1] inputs: mean = std = 0.5 (timm's config)
    assert encoder_stats("unet-efflite0-slim") == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert encoder_stats("deeplabv3plus-resnet50") == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    fast = adopt_encoder_stats(resolve_config("fast"))
    assert fast.input_spec.mean == (0.5, 0.5, 0.5) and fast.input_spec.std == (0.5, 0.5, 0.5)
    four = {"bands": ["B04", "B03", "B02", "B08"], "mean": [0.485, 0.456, 0.406, 0.449],
            "std": [0.229, 0.224, 0.225, 0.226]}
    four_band = adopt_encoder_stats(resolve_config("fast", {"input": four}))
    assert four_band.input_spec.mean == (0.5,) * 4  # 0.449 / 0.226: the ImageNet means extended to band 4
    # a config naming its own statistics keeps them; ImageNet encoders keep ImageNet's
    own = resolve_config("fast", {"input": {"mean": [0.1, 0.2, 0.3], "std": [1.0, 1.0, 1.0]}})
    assert adopt_encoder_stats(own).input_spec.mean == (0.1, 0.2, 0.3)
    r50 = resolve_config("dlv3p-r50-dice")
    assert adopt_encoder_stats(r50).input == r50.input
