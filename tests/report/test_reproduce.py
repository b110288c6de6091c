"""``glofwatch reproduce`` end to end on tiny data and tiny models: every study row, tables, report, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import InputError
from glofwatch.report.reproduce import STUDY_ROWS, check_dataset

TINY = ["--set", "model=tiny-unet", "--set", "weights=none", "--set", "max_epochs=1", "--set", "batch_size=8",
        "--set", "image_size=none", "--yolo-set", "image_size=64", "--yolo-set", "max_epochs=1",
        "--yolo-set", "batch_size=8"]


@pytest.mark.slow
def test_every_study_row_is_reproduced_and_resumed(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = ["reproduce", "--data", str(synth_root), "--out", str(out), "--budget", "quick", "--row-seconds", "30",
            "--device", "cpu", *TINY]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    tables = (out / "tables.md").read_text()
    for row in ("| DeepLabV3+ ResNet50 | CE | 0.85 |", "| DeepLabV3+ ResNet50 | Dice | 79.2 |",
                "| U-Net (none) | CE | 65.0 |", "| U-Net ResNet50 | CE |", "| U-Net EfficientNetB0 | CE |",
                "| YOLOv8-Seg | standard |",
                "| NDWI baseline | otsu |"):
        assert row in tables, row
    assert "Selection differs: the study used its 200 test images as the validation set" in tables
    assert "not the study's data set" in tables and "quick budget: 30 s of CPU training per row" in tables
    assert "mask mAP50-95, not pixel scores" in tables
    assert (out / "report.html").stat().st_size > 10_000
    result = json.loads((out / "reproduce.json").read_text())
    assert [r["preset"] for r in result["rows"][:7]] == list(STUDY_ROWS)
    for preset in STUDY_ROWS:
        assert json.loads((out / "rows" / f"{preset}.json").read_text())["status"] == "done"

    # a second run skips finished rows; a row killed after training resumes from its checkpoint
    done = (out / "runs" / "unet-ce" / "eval" / "test" / "metrics.json").stat().st_mtime_ns
    state = out / "rows" / "dlv3p-r50-dice.json"
    s = json.loads(state.read_text())
    state.write_text(json.dumps({**s, "status": "training", "stages_done": []}))
    (out / "runs" / "dlv3p-r50-dice" / "model.pt").unlink()
    res = CliRunner().invoke(app, [*args, "--rows", "unet-ce,dlv3p-r50-dice", "--no-report"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "unet-ce: done before, skipped" in res.output and "dlv3p-r50-dice: training" in res.output
    assert (out / "runs" / "unet-ce" / "eval" / "test" / "metrics.json").stat().st_mtime_ns == done
    assert (out / "runs" / "dlv3p-r50-dice" / "model.pt").is_file()
    run_info = json.loads((out / "runs" / "dlv3p-r50-dice" / "run.json").read_text())
    assert len(run_info["resumed"]) == 1  # resumed, not restarted


def test_layout_is_checked_on_load(tmp_path: Path, synth_root: Path) -> None:
    facts, notes = check_dataset(synth_root)
    assert facts["layout"] == "study" and (facts["train"], facts["test"]) == (24, 8) and not facts["matches_study"]
    nested = tmp_path / "download"
    nested.mkdir()
    (nested / "AI4GLOF_Dataset").symlink_to(synth_root)
    with pytest.raises(InputError, match="the data set is one level down; pass --data .*AI4GLOF_Dataset"):
        check_dataset(nested)
    with pytest.raises(InputError, match="not a data set; expected the Glacial Lakes Detection Dataset"):
        check_dataset(tmp_path / "download" / "AI4GLOF_Dataset" / "train" / "labels")


@pytest.mark.slow
def test_full_budget_trains_30_epochs_then_resumes_to_50(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "full"
    tiny = ["--set", "model=tiny-unet", "--set", "weights=none", "--set", "batch_size=32", "--set", "image_size=none"]
    args = ["reproduce", "--data", str(synth_root), "--out", str(out), "--budget", "full", "--rows", "unet-ce",
            "--device", "cpu", "--no-report", *tiny]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    run = out / "runs" / "unet-ce"
    info = json.loads((run / "run.json").read_text())
    assert len(info["resumed"]) == 1  # the study's protocol: 30 epochs, then the run resumed to 50
    assert json.loads((run / "summary.json").read_text())["epochs"] == 50
    epochs = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(1, 51))  # every epoch once: the resumed stage did not redo 1-30
    state = json.loads((out / "rows" / "unet-ce.json").read_text())
    assert state["stages_done"] == [30, 50] and state["training"] == "random, 50 epochs (30 + resumed 20)"
    assert "random, 50 epochs (30 + resumed 20)" in (out / "tables.md").read_text()
    assert "quick budget" not in (out / "tables.md").read_text()
