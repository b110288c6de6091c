"""The train -> evaluate -> predict -> compare path through the real CLI (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from glofwatch.cli.app import app

runner = CliRunner()


def _invoke(*args: str):  # noqa: ANN202
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_train_evaluate_predict_compare(tmp_path: Path, synth_root: Path) -> None:
    run = tmp_path / "run"
    res = _invoke("train", "--data", synth_root, "--out", run, "--model", "tiny-unet", "--weights", "none",
                  "--max-epochs", "1", "--batch-size", "4", "--loss", "dice", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "done: 1 epochs" in res.output
    cfg = (run / "config.yaml").read_text()
    assert "model: tiny-unet" in cfg and "loss: dice" in cfg

    res = _invoke("evaluate", run, "--split", "test")
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    assert metrics["n_images"] == len(list((synth_root / "test" / "images").iterdir()))
    assert set(metrics["micro"]) >= {"iou", "dice", "accuracy", "precision", "recall", "f1"}
    assert len(list((run / "eval" / "test" / "masks").glob("*.png"))) == metrics["n_images"]
    assert "| custom | tiny-unet | dice |" in (run / "eval" / "test" / "row.md").read_text()

    # predict on an odd-sized image (not a multiple of the stride) and on a folder
    odd = tmp_path / "odd"
    odd.mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(odd / "odd.png")
    res = _invoke("predict", run, odd, "--out", tmp_path / "pred")
    assert res.exit_code == 0, res.output
    mask = np.array(Image.open(tmp_path / "pred" / "odd_mask.png"))
    assert mask.shape == (37, 53) and set(np.unique(mask)) <= {0, 255}
    assert np.array(Image.open(tmp_path / "pred" / "odd_overlay.png")).shape == (37, 53, 3)

    res = _invoke("compare", run, "--out", tmp_path / "table.md")
    assert res.exit_code == 0, res.output
    assert f"ours: {run.name}" in (tmp_path / "table.md").read_text()


def test_resume_through_the_cli(tmp_path: Path, synth_root: Path) -> None:
    run = tmp_path / "run"
    common = ("--no-progress",)
    res = _invoke("train", "--data", synth_root, "--out", run, "--model", "tiny-unet", "--weights", "none",
                  "--max-epochs", "1", "--batch-size", "8", *common)
    assert res.exit_code == 0, res.output
    res = _invoke("train", "--resume", run, "--max-epochs", "2", *common)
    assert res.exit_code == 0, res.output
    assert "done: 2 epochs" in res.output
    res = _invoke("train", "--resume", run, "--model", "unet", *common)
    assert res.exit_code == 2
    assert "--model cannot change when resuming" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--preset", "dlv3p-r50-dise", "--out", "x"],
         "unknown preset 'dlv3p-r50-dise'; did you mean 'dlv3p-r50-dice'"),
        (["train", "--model", "unet-efflite", "--out", "x", "--data", "."],
         "unknown model 'unet-efflite'; did you mean"),
        (["train", "--preset", "fast"], "--out RUN_DIR is required"),
        (["train", "--preset", "fast", "--out", "x", "--set", "max_epoch=3"],
         "unknown setting 'max_epoch'; did you mean 'max_epochs'"),
        (["evaluate", "does-not-exist"], "does-not-exist: no such run folder or model file"),
    ],
)
def test_user_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_imagenet_weights_offline_message(tmp_path: Path, synth_root: Path) -> None:
    """The study presets ask for ImageNet ResNet50 weights, which cannot be had offline: one clear line."""
    res = runner.invoke(app, ["train", "--preset", "dlv3p-r50-dice", "--data", str(synth_root),
                              "--out", str(tmp_path / "r"), "--max-epochs", "1", "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "not available offline" in res.output and "--weights none" in res.output


def test_threshold_tta_and_ndwi_through_the_cli(tmp_path: Path, tiny_run: Path, synth_root: Path) -> None:
    res = _invoke("evaluate", tiny_run, "--split", "test", "--threshold", "0.3", "--tta", "--out", tmp_path / "e")
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["threshold"] == 0.3 and m["tta"] is True and "at threshold 0.3" in res.output
    res = _invoke("predict", tiny_run, synth_root / "test" / "images", "--out", tmp_path / "p", "--threshold", "0.99")
    assert res.exit_code == 0 and "threshold 0.99" in res.output
    res = _invoke("evaluate", "--method", "ndwi", "--data", synth_root, "--split", "test", "--ndwi-threshold", "0.1",
                  "--out", tmp_path / "n")
    assert res.exit_code == 0, res.output
    assert "| ndwi-0.1 | ndwi-0.1 | none (index) |" in res.output
    res = runner.invoke(app, ["evaluate", "--method", "ndwi", "--data", str(synth_root), "--bands", "B04,B03,B02"])
    assert res.exit_code == 2 and "NDWI needs the green (B03) and near-infrared (B08) bands" in res.output


def test_grouped_training_split_through_the_cli(tmp_path: Path, synth_root: Path) -> None:
    groups = tmp_path / "groups.csv"
    names = sorted(p.name for p in (synth_root / "train" / "images").iterdir())
    groups.write_text("name,group\n" + "".join(f"{n},scene{i // 4}\n" for i, n in enumerate(names)))
    run = tmp_path / "run"
    res = _invoke("train", "--data", synth_root, "--out", run, "--model", "tiny-unet", "--weights", "none",
                  "--max-epochs", "1", "--batch-size", "8", "--group-by", f"csv:{groups}", "--no-progress")
    assert res.exit_code == 0, res.output
    plan = json.loads((run / "split.json").read_text())
    val_scenes = {names.index(n) // 4 for n in plan["names"]["val"]}
    train_scenes = {names.index(n) // 4 for n in plan["names"]["train"]}
    assert val_scenes and val_scenes.isdisjoint(train_scenes)
    assert "grouped by csv:" in res.output and "threshold" in res.output and "ECE" in res.output
    res = _invoke("data", "split", synth_root, tmp_path / "held", "--split", "train", "--group-by", f"csv:{groups}")
    assert res.exit_code == 0 and "groups by csv:" in res.output
