"""A model says which 8-bit rendering it expects, and true colour is never read silently as false colour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import ConfigError, InputError
from glofwatch.scene.synth import CropParams, draw_numbered_crop, to_rgb, write_synthetic_dataset

runner = CliRunner()


def _invoke(*args: object):  # noqa: ANN202
    return runner.invoke(app, [str(a) for a in args])


def _error_line(res) -> str:  # noqa: ANN001
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """20 synthetic landscapes (96 px) as two folders of images: one true colour, one false colour."""
    base = tmp_path_factory.mktemp("renderings")
    out = {"true-colour": base / "tc", "false-colour": base / "fc"}
    for p in out.values():
        p.mkdir()
    for i in range(1, 21):
        crop = draw_numbered_crop(1, i, 96, CropParams())
        Image.fromarray(crop.image).save(out["false-colour"] / f"crop_{i:02d}.png")
        true = to_rgb(crop.reflectance, "true-colour", crop.gain)
        Image.fromarray(true).save(out["true-colour"] / f"crop_{i:02d}.png")
    return out


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from glofwatch.scene.synth.crops import mixed_params

    root = tmp_path_factory.mktemp("mixed")
    write_synthetic_dataset(root, n=16, size=32, seed=4, test_fraction=0.25, params=mixed_params())
    return root


def test_expected_rendering_of_a_model_trained_on_false_colour(tiny_run: Path) -> None:
    from glofwatch.infer.rendering import expected_rendering
    from glofwatch.models.bundle import load_bundle

    # trained through the Python API, which records nothing: the run's data (synth.json) says it
    assert expected_rendering(load_bundle(tiny_run)) == "false-colour"


def test_predict_refuses_a_true_colour_folder_for_a_false_colour_model(tiny_run: Path, folders: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    line = _error_line(_invoke("predict", tiny_run, folders["true-colour"], "--out", out, "--backend", "torch"))
    assert line.startswith(f"error: {folders['true-colour']}: 8-bit images detected as true-colour (")
    assert "of 20 images look true-colour" in line and "e.g. crop_" in line
    assert f"but {tiny_run} expects false-colour (R=B08 G=B04 B=B03)" in line
    assert "pass --rendering false-colour" in line and "trained on true-colour or on mixed renderings" in line
    assert not out.exists() or not list(out.iterdir())
    # one image alone: the same check, the file named
    one = folders["true-colour"] / "crop_01.png"
    single = _invoke("predict", tiny_run, one, "--out", out, "--backend", "torch")
    if single.exit_code == 2:  # crop 1 may be undetermined on its own (rock and snow only): then it passes
        assert _error_line(single).startswith(f"error: {one}: 8-bit images detected as true-colour")


def test_predict_override_and_false_colour_pass(tiny_run: Path, folders: dict[str, Path], tmp_path: Path) -> None:
    for option in ("false-colour", "any"):
        res = _invoke("predict", tiny_run, folders["true-colour"], "--out", tmp_path / option, "--backend", "torch",
                      "--rendering", option)
        assert res.exit_code == 0, res.output
        assert len(list((tmp_path / option).glob("*_mask.png"))) == 20
    res = _invoke("predict", tiny_run, folders["false-colour"], "--out", tmp_path / "fc", "--backend", "torch")
    assert res.exit_code == 0, res.output
    line = _error_line(_invoke("predict", tiny_run, folders["false-colour"], "--out", tmp_path / "x",
                               "--rendering", "true-colour"))
    assert "the images are true-colour (R=B04 G=B03 B=B02) according to --rendering" in line
    assert _error_line(_invoke("predict", tiny_run, folders["false-colour"], "--out", tmp_path / "x",
                               "--rendering", "fals-colour")).startswith("error: --rendering fals-colour is unknown")


def test_evaluate_takes_the_rendering_a_data_set_declares(tiny_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "tc"
    write_synthetic_dataset(root, n=6, size=48, seed=2, test_fraction=0.5, params=CropParams(rendering="true-colour"))
    line = _error_line(_invoke("evaluate", tiny_run, "--data", root, "--split", "test", "--out", tmp_path / "e"))
    assert f"{root / 'test' / 'images'}: the images are true-colour" in line
    assert f"according to {root / 'synth.json'}" in line and "expects false-colour" in line
    assert "--rendering any" in line
    res = _invoke("evaluate", tiny_run, "--data", root, "--split", "test", "--out", tmp_path / "e",
                  "--rendering", "any")
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["rendering"] == {"images": "any", "model": "false-colour"}


def test_recorded_rendering_survives_a_saved_bundle_and_an_export(tiny_run: Path, mixed_root: Path,
                                                                 folders: dict[str, Path], tmp_path: Path) -> None:
    from glofwatch.config import TrainConfig
    from glofwatch.infer.rendering import check_image_files, expected_rendering
    from glofwatch.models.bundle import load_bundle, save_bundle
    from glofwatch.models.export import bundle_from_metadata, export_metadata
    from glofwatch.train.rendering import record_data_rendering

    trained = load_bundle(tiny_run)
    assert trained.spec.rendering == "false-colour"  # train() itself recorded its synthetic data's rendering
    unrecorded = {**trained.config.input, "rendering": "unknown"}
    base = TrainConfig.from_dict({**trained.config.to_dict(), "input": unrecorded})
    for root, want in ((mixed_root, "any"), (folders["true-colour"], "unknown")):
        cfg, note = record_data_rendering(base, root)
        assert cfg.input_spec.rendering == want and note.startswith(want)
        path = save_bundle(tmp_path / f"{want}.pt", trained.net, cfg, {}, {})  # no run_dir: nothing to fall back on
        loaded = load_bundle(path)
        assert loaded.spec.rendering == want and expected_rendering(loaded) == want
        assert bundle_from_metadata(export_metadata(loaded), path).spec.rendering == want
        # neither 'any' (trained on both) nor 'unknown' is checked: true colour passes
        assert check_image_files(sorted(folders["true-colour"].iterdir()), loaded) == "not checked"
    tc_root = tmp_path / "tc-root"
    tc_root.mkdir()
    (tc_root / "rendering.txt").write_text("true-colour\n")
    cfg, note = record_data_rendering(base, tc_root)
    assert cfg.input_spec.rendering == "true-colour" and str(tc_root / "rendering.txt") in note
    kept, _ = record_data_rendering(cfg, mixed_root)  # a rendering in the config is kept
    assert kept.input_spec.rendering == "true-colour"


def test_check_rendering_for_images_in_memory(folders: dict[str, Path]) -> None:
    from glofwatch.infer.rendering import check_rendering

    stack = np.stack([np.asarray(Image.open(p)) for p in sorted(folders["true-colour"].iterdir())])
    assert check_rendering(stack, "true-colour", "scene.tif") == "true-colour"
    assert check_rendering(list(stack), "any", "scene.tif") == "true-colour"  # looked at, not checked
    with pytest.raises(InputError) as err:
        check_rendering(stack, "false-colour", "scene.tif", model="runs/demo/run")
    message = str(err.value)
    assert "\n" not in message and message.startswith("scene.tif: 8-bit images detected as true-colour")
    assert "runs/demo/run expects false-colour" in message
    assert check_rendering(stack, "false-colour", "scene.tif", declared="false-colour") == "false-colour"
    assert check_rendering(stack, "false-colour", "scene.tif", declared="any") == "any"
    with pytest.raises(InputError, match="mix true-colour and false-colour crops"):
        check_rendering(stack, "false-colour", "root", declared="mixed", declared_by="root/synth.json")


def test_declarations_are_checked(tmp_path: Path) -> None:
    from glofwatch.data.normalize import InputSpec
    from glofwatch.data.renderings import dataset_rendering

    assert dataset_rendering(tmp_path) == ("unknown", "")
    (tmp_path / "rendering.txt").write_text("mixed")
    assert dataset_rendering(tmp_path)[0] == "mixed"
    (tmp_path / "rendering.txt").write_text("natural-colour")
    with pytest.raises(InputError, match="rendering.txt: 'natural-colour' is not a rendering"):
        dataset_rendering(tmp_path)
    with pytest.raises(ConfigError, match="did you mean 'true-colour'"):
        InputSpec(rendering="tru-colour")


def test_train_cli_records_mixed_and_the_model_reads_both(mixed_root: Path, folders: dict[str, Path],
                                                          tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = _invoke("train", "--model", "tiny-unet", "--weights", "none", "--data", mixed_root, "--out", run,
                  "--max-epochs", "1", "--batch-size", "4", "--no-progress")
    assert res.exit_code == 0, res.output
    assert f"input rendering: any (from {mixed_root / 'synth.json'})" in res.output
    from glofwatch.config import load_config

    assert load_config(run / "config.yaml").input_spec.rendering == "any"
    for rendering, folder in folders.items():
        res = _invoke("predict", run, folder, "--out", tmp_path / rendering, "--backend", "torch")
        assert res.exit_code == 0, res.output
