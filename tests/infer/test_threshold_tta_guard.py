"""The threshold and temperature chosen on validation travel with the model; TTA; the held-out guard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from glofwatch.errors import InputError
from glofwatch.infer.evaluate import evaluate
from glofwatch.infer.predict import Predictor
from glofwatch.models.bundle import load_bundle, with_threshold


def test_training_stores_the_validation_threshold_and_temperature(tiny_run: Path) -> None:
    summary = json.loads((tiny_run / "summary.json").read_text())
    bundle = load_bundle(tiny_run)
    assert summary["threshold"]["threshold_source"] == "validation IoU"
    assert bundle.threshold == summary["threshold"]["threshold"]
    assert 0.01 <= bundle.threshold <= 0.99
    assert summary["threshold"]["val_iou_at_threshold"] >= summary["threshold"]["val_iou_at_default"]
    cal = summary["calibration"]
    assert bundle.temperature == cal["temperature"] > 0 and 0 <= cal["ece_after"] <= 1 and 0 <= cal["ece_before"] <= 1
    assert Predictor(bundle).threshold == bundle.threshold
    assert Predictor(bundle, threshold=0.7).threshold == 0.7
    before = bundle.threshold
    assert with_threshold(bundle, 0.3).threshold == 0.3 and bundle.threshold == before  # a copy, the model unchanged


def test_threshold_and_temperature_round_trip_through_onnx(tiny_run: Path, tmp_path: Path) -> None:
    from glofwatch.infer.backends import load_predictor
    from glofwatch.models.export import export_model, read_export_metadata

    bundle = load_bundle(tiny_run)
    path = export_model(bundle, "onnx", out=tmp_path / "m.onnx")
    meta = read_export_metadata(path)
    assert meta["threshold"] == bundle.threshold and meta["temperature"] == bundle.temperature
    p = load_predictor(path, backend="onnxruntime")
    assert p.threshold == bundle.threshold and p.temperature == bundle.temperature
    assert load_predictor(path, backend="onnxruntime", threshold=0.42).threshold == 0.42


def test_temperature_divides_the_logits(tiny_run: Path) -> None:
    bundle = load_bundle(tiny_run)
    bundle.meta["temperature"] = 2.0
    p = Predictor(bundle, device="cpu")
    x = torch.rand(1, 3, 32, 32) * 255
    logits = p.logits_batch(x)
    torch.testing.assert_close(p.predict_batch(x), torch.sigmoid(logits / 2.0))


class _Bundle:
    """A stand-in bundle whose 'network' is a fixed function of the input."""

    def __init__(self, spec, model: str = "tiny-unet") -> None:  # noqa: ANN001
        from glofwatch.config import TrainConfig

        self.net = None
        self.config = TrainConfig(model=model, weights="none")
        self.spec = spec
        self.threshold = 0.5
        self.temperature = 1.0
        self.meta: dict = {}


def test_tta_averages_the_eight_symmetries() -> None:
    from glofwatch.data.normalize import InputSpec

    spec = InputSpec(scaling="fixed", mean=(0, 0, 0), std=(1, 1, 1))
    x = torch.rand(1, 3, 8, 8) * 255
    # an equivariant network (logit = first channel): TTA changes nothing
    same = Predictor(_Bundle(spec), device="cpu", runner=lambda z: z[:, :1])
    tta = Predictor(_Bundle(spec), device="cpu", runner=lambda z: z[:, :1], tta=True)
    torch.testing.assert_close(tta.predict_batch(x), same.predict_batch(x))
    # a network that only sees the column: logit = column index; over the 8 symmetries every pixel averages
    # to the mean index 3.5 (rows and columns each come back 4 times, reversed half the time)
    def columns(z: torch.Tensor) -> torch.Tensor:
        return torch.arange(z.shape[-1], dtype=torch.float32).expand(z.shape[0], 1, *z.shape[-2:]).clone()

    p = Predictor(_Bundle(spec), device="cpu", runner=columns, tta=True)
    torch.testing.assert_close(p.logits_batch(x), torch.full((1, 8, 8), 3.5))


def test_threshold_override_is_checked(tiny_run: Path) -> None:
    from glofwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="threshold 1.5 must be between 0 and 1"):
        Predictor(load_bundle(tiny_run), threshold=1.5)


@pytest.fixture(scope="module")
def generic_run(tmp_path_factory: pytest.TempPathFactory, synth_root: Path) -> tuple[Path, Path]:
    """A one-folder (generic) copy of the synthetic crops and a tiny run trained on it."""
    from glofwatch.config import resolve_config
    from glofwatch.train.fit import train

    root = tmp_path_factory.mktemp("generic") / "data"
    for sub, dst in (("images", "images"), ("labels", "masks")):
        shutil.copytree(synth_root / "train" / sub, root / dst)
    run = root.parent / "run"
    cfg = resolve_config(None, {"model": "tiny-unet", "weights": "none", "max_epochs": 1, "batch_size": 8,
                                "val_fraction": 0.2, "test_fraction": 0.25})
    train(cfg, run, root, progress=False)
    return root, run


def test_generic_folder_is_split_and_test_means_held_out(generic_run: tuple[Path, Path], tmp_path: Path) -> None:
    root, run = generic_run
    plan = json.loads((run / "split.json").read_text())
    assert {k: len(v) for k, v in plan["names"].items()} == {"train": 14, "val": 4, "test": 6}
    m = evaluate(Predictor.from_path(run), root, "test", tmp_path / "test", run=run)
    assert m["n_images"] == 6 and "held-out 'test' crops" in m["crops"]
    assert sorted(p.stem + ".png" for p in (tmp_path / "test" / "masks").iterdir()) == sorted(plan["names"]["test"])
    with pytest.raises(InputError, match=r"18 of the 24 crops to score as 'all' were used to train or select the "
                                         r"model \(14 train, 4 validation"):
        evaluate(Predictor.from_path(run), root, "all", tmp_path / "all", run=run)


def test_copies_of_training_crops_are_refused_as_test(generic_run: tuple[Path, Path], tmp_path: Path,
                                                      synth_root: Path) -> None:
    root, run = generic_run
    unseen = evaluate(Predictor.from_path(run), synth_root, "test", tmp_path / "unseen", run=run)
    assert unseen["n_images"] == 8  # crops it never saw: scored
    with pytest.raises(InputError, match="18 of the 24 crops to score as 'test'"):
        evaluate(Predictor.from_path(run), synth_root / "train", "test", tmp_path / "seen", run=run)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # same crops, another folder: caught by content
    with pytest.raises(InputError, match="were used to train or select the model"):
        evaluate(Predictor.from_path(run), copy, "test", tmp_path / "x", run=run)
    m = evaluate(Predictor.from_path(run), copy, "train", tmp_path / "train", run=run)  # labelled as seen: allowed
    assert m["n_images"] == 24


def test_ndwi_evaluation_uses_the_same_metrics(synth_root: Path, tmp_path: Path) -> None:
    from glofwatch.infer.ndwi import NDWIPredictor, dataset_bands

    bands = dataset_bands(synth_root, 3)
    assert bands == ("B08", "B04", "B03")
    m = evaluate(NDWIPredictor(bands, "otsu"), synth_root, "test", tmp_path, save_masks=False)
    assert m["model"] == "ndwi-otsu" and m["threshold"] == 0.5 and m["n_images"] == 8
    assert 0.0 < m["micro"]["iou"] <= 1.0 and np.isfinite(m["micro"]["dice"])
