"""``glofwatch bench realism``: synthetic-trained model scored on a folder of real crops."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from glofwatch.cli.app import app

runner = CliRunner()


def test_bench_realism_scores_the_real_folder(tmp_path: Path, synth_root: Path, tiny_run: Path) -> None:
    # "Real" crops = the synthetic test split copied into the generic {images,masks}
    # layout: the real-crop score must then equal the synthetic test score exactly.
    real = tmp_path / "real"
    shutil.copytree(synth_root / "test" / "images", real / "images")
    shutil.copytree(synth_root / "test" / "labels", real / "masks")
    out = tmp_path / "bench"
    shutil.copytree(synth_root, out / "synth")  # n, size and seed match: reused, not redrawn
    shutil.copytree(tiny_run, out / "run")  # finished run: reused, not retrained
    made = json.loads((synth_root / "synth.json").read_text())
    res = runner.invoke(app, ["bench", "realism", "--out", str(out), "--real", str(real), "--n", str(made["n"]),
                              "--size", str(made["size"]), "--seed", str(made["seed"])])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "realism.json").read_text())
    assert doc["real"]["iou"] == doc["synthetic_test"]["iou"]
    assert doc["real_per_image"]["n_images"] == 8
    assert doc["meets_target"] == (doc["real"]["iou"] >= 0.5)
    assert f"real-crop IoU {doc['real']['iou']:.3f}" in res.output
    assert "real (himalaya-kmeans)" in (out / "realism.md").read_text()
    assert len(list((out / "run" / "eval" / "real").rglob("*.png"))) == 8


def test_bench_realism_missing_real_folder(tmp_path: Path) -> None:
    res = runner.invoke(app, ["bench", "realism", "--out", str(tmp_path / "o"), "--real", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "real evaluation crops not found" in res.output and "--real ROOT" in res.output
