"""``glofwatch bench versus``: two presets under one budget on the same crops, tabled side by side, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glofwatch.bench.versus import parse_contender, render_versus
from glofwatch.cli.app import app
from glofwatch.errors import ConfigError

TINY = ["--set", "model=tiny-unet", "--set", "weights=none", "--set", "max_epochs=1", "--set", "batch_size=4",
        "--set", "image_size=none"]


@pytest.mark.slow
def test_versus_trains_both_on_the_same_crops_and_resumes(tmp_path: Path, synth_root: Path) -> None:
    real = tmp_path / "real"  # a one-folder data set: the split is drawn (grouped) and saved by each run
    for split in ("train", "test"):
        shutil.copytree(synth_root / split / "images", real / "images", dirs_exist_ok=True)
        shutil.copytree(synth_root / split / "labels", real / "masks", dirs_exist_ok=True)
    out = tmp_path / "versus"
    args = ["bench", "versus", "--out", str(out), "--seconds", "60", "--n", "16", "--size", "64",
            "--datasets", "synthetic-true-colour,real-grouped", "--real", str(real), "--seconds-for", "real-grouped=90",
            "--contenders", "dlv3p-r50-dice,fast,fast:lr=0.02", *TINY]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "versus.json").read_text())
    rows = {(r["dataset"], r["preset"]): r for r in doc["rows"]}
    assert set(rows) == {(d, p) for d in ("synthetic-true-colour", "real-grouped")
                         for p in ("dlv3p-r50-dice", "fast", "fast:lr=0.02")}
    synth = json.loads((out / "data" / "synthetic-true-colour" / "synth.json").read_text())
    assert (synth["n"], synth["size"], synth["params"]["rendering"]) == (16, 64, "true-colour")
    for (data, preset), r in rows.items():
        run = out / data / preset.replace(":", "@")
        assert r["epochs"] == 1 and r["model"] == "tiny-unet" and r["init"] == "random"
        saved = json.loads((run / "eval" / "test" / "metrics.json").read_text())["micro"]
        assert r["metrics"]["iou"] == saved["iou"]
        cfg = (run / "config.yaml").read_text()
        assert ("group_by: duplicates" in cfg) == (data == "real-grouped")
        assert r["loss"] == ("dice" if preset == "dlv3p-r50-dice" else "bce+dice")
        assert ("lr: 0.02" in cfg) == (preset == "fast:lr=0.02")
        assert r["seconds"] == (90 if data == "real-grouped" else 60)
        assert r["params_m"] > 0 and r["gflops_320"] > 0 and r["cpu_ms_320"] > 0
    # both contenders were scored on the run's held-out crops of the one folder, and the same ones
    tests = [json.loads((out / "real-grouped" / p / "versus.json").read_text())["test_crops"]
             for p in ("dlv3p-r50-dice", "fast")]
    assert tests[0] == tests[1] and 0 < len(tests[0]) < 32
    md = (out / "versus.md").read_text()
    d = 100 * (rows[("real-grouped", "fast")]["metrics"]["iou"] - rows[("real-grouped", "dlv3p-r50-dice")]["metrics"]
               ["iou"])
    assert f"- real-grouped: fast {'+' if d >= 0 else ''}{d:.1f} IoU points against dlv3p-r50-dice." in md
    assert "- real-grouped: fast:lr=0.02 " in md
    assert "| synthetic-true-colour | dlv3p-r50-dice | tiny-unet | random | 60 | 1 |" in md
    assert "| real-grouped | fast | tiny-unet | random | 90 | 1 |" in md and "60 or 90 s of training each" in md

    # a rerun skips finished rows and writes the same table
    stamp = (out / "real-grouped" / "fast" / "model.pt").stat().st_mtime_ns
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0 and "real-grouped / fast: done before, skipped" in res.output
    assert (out / "real-grouped" / "fast" / "model.pt").stat().st_mtime_ns == stamp
    assert (out / "versus.md").read_text() == md


def test_versus_table_says_when_the_budget_held_no_epoch() -> None:
    result = {"seconds_per_row": 30, "seed": 0, "device": "cpu", "skipped": ["real-grouped: not found"], "rows": [
        {"dataset": "synthetic-false-colour", "preset": "dlv3p-r50-dice", "model": "deeplabv3plus-resnet50",
         "init": "random", "seconds": 30, "epochs": 0, "metrics": None,
         "note": "no epoch finished within 30 s on this machine"},
        {"dataset": "synthetic-false-colour", "preset": "fast", "model": "unet-efflite0-slim", "init": "ImageNet",
         "seconds": 30, "epochs": 3,
         "metrics": {"iou": 0.5, "dice": 0.6667, "precision": 0.75, "recall": 0.6, "f1": 0.6667},
         "params_m": 2.0, "gflops_320": 4.3, "cpu_ms_320": 40.0}]}
    md = render_versus(result)
    assert "| synthetic-false-colour | dlv3p-r50-dice | deeplabv3plus-resnet50 | random | 30 | 0 | – | – |" in md
    assert "| synthetic-false-colour | fast | unet-efflite0-slim | ImageNet | 30 | 3 | 50.0 | 66.7 | 75.0 | 60.0 |" \
        in md
    assert "- synthetic-false-colour: dlv3p-r50-dice: no epoch finished within 30 s on this machine." in md
    assert "- skipped real-grouped: not found" in md


def test_versus_unknown_data_set_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["bench", "versus", "--out", str(tmp_path), "--datasets", "synthetic-true-color"])
    assert res.exit_code == 2
    assert "unknown data set 'synthetic-true-color'" in res.output and "synthetic-true-colour" in res.output


def test_contenders_carry_their_own_settings() -> None:
    assert parse_contender("fast") == ("fast", {})
    assert parse_contender("fast:weights=none:lr=0.01") == ("fast", {"weights": "none", "lr": "0.01"})
    with pytest.raises(ConfigError, match="--contenders fast:weights: 'weights' is not KEY=VALUE"):
        parse_contender("fast:weights")
