"""``glofwatch explain`` and ``glofwatch report`` driven through the real CLI; the report opened in headless
Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image
from required import require
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.explain.curves import CURVE_SIZE_PX
from glofwatch.explain.figure import figure_size_px

runner = CliRunner()
CHROMIUM = Path("/usr/bin/chromium")


def test_explain_writes_every_figure(discs_run: Path, tmp_path: Path) -> None:
    images = sorted((discs_run.parent / "data" / "test" / "images").glob("*.png"))[:2]
    loose = tmp_path / "loose" / "mine.png"  # outside the study layout: no truth
    loose.parent.mkdir()
    shutil.copy(images[0], loose)
    out = tmp_path / "out"
    res = runner.invoke(app, ["explain", str(discs_run), "--images", *map(str, images), str(loose), "--out", str(out),
                              "--device", "cpu", "--curves"])
    assert res.exit_code == 0, res.output
    assert re.search(r"disc_00.png: \d+ lake px \(IoU 9\d\.\d %\); Grad-CAM at decode.1", res.output)
    assert "mine.png: " in res.output and "(no truth)" in res.output
    sizes = (("mask", (64, 64)), ("overlay", (64, 64)), ("gradcam", (64, 64)), ("panel", figure_size_px(1)))
    for stem in [p.stem for p in images] + ["mine"]:
        for kind, size in sizes:
            assert Image.open(out / f"{stem}_{kind}.png").size == size, (stem, kind)
    assert Image.open(out / "grid.png").size == figure_size_px(3)
    assert Image.open(out / "training_curves.png").size == CURVE_SIZE_PX
    assert Image.open(out / "pr_curve.png").size == CURVE_SIZE_PX
    assert not list(out.glob(".*"))  # no temporary files left


def test_explain_finds_truth_in_masks_folder_and_reports_errors(discs_run: Path, tmp_path: Path) -> None:
    data = discs_run.parent / "data" / "test"
    img = tmp_path / "a" / "disc_01.png"
    img.parent.mkdir()
    shutil.copy(data / "images" / "disc_01.png", img)
    res = runner.invoke(app, ["explain", str(discs_run), "--images", str(img), "--masks", str(data / "labels"),
                              "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "IoU" in res.output

    res = runner.invoke(app, ["explain", str(discs_run), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "error: nothing to do: give --images PATH... and/or --curves" in res.output
    res = runner.invoke(app, ["explain", str(discs_run), "--images", str(img), "--out", str(tmp_path / "o"),
                              "--target-layer", "encoder.layer4", "--device", "cpu"])
    assert res.exit_code == 2
    assert "error: target layer 'encoder.layer4' is not a module of PlainUNet" in res.output
    bad = tmp_path / "labels"
    bad.mkdir()
    Image.new("L", (30, 30)).save(bad / "disc_01.png")
    res = runner.invoke(app, ["explain", str(discs_run), "--images", str(img), "--masks", str(bad),
                              "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert res.exit_code == 2
    assert "error: disc_01: mask is 30x30, image 64x64; re-export the mask at image size" in res.output


def test_report_is_self_contained_and_opens_in_chromium(discs_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    yolo = tmp_path / "yolo"  # an instance-model run: in the table, not analysed
    yolo.mkdir()
    (yolo / "run.json").write_text(json.dumps({"kind": "yolo-seg"}))
    res = runner.invoke(app, ["report", str(discs_run), str(yolo), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 2
    assert f"error: {yolo}: YOLOv8-Seg run without eval/test/metrics.json; run `glofwatch evaluate {yolo}" in res.output
    (yolo / "eval" / "test").mkdir(parents=True)
    micro = {"iou": 0.7, "dice": 0.8, "accuracy": 0.9, "precision": 0.85, "recall": 0.75}
    (yolo / "eval" / "test" / "metrics.json").write_text(json.dumps(
        {"micro": micro, "study_row": "YOLOv8-Seg / standard", "instance": {"map50_95": 0.61}}))
    res = runner.invoke(app, ["report", str(discs_run), str(yolo), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert (discs_run / "eval" / "test" / "metrics.json").is_file()  # evaluated on the way
    text = out.read_text()
    assert "<script" not in text.lower()
    assert not re.search(r"https?://", text)
    srcs = re.findall(r"""\bsrc\s*=\s*["']?([^"' >]*)""", text)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)  # curves, PR, best, worst
    assert not re.search(r"\b(href|url\()", text)
    assert "<td>U-Net (none) / CE</td><td>study (published)</td>" in text  # the study's row in the table
    assert "<td>YOLOv8-Seg / standard</td><td>ours: yolo</td><td>70.0</td>" in text and "<td>61.0</td>" in text
    assert "yolo: YOLOv8-Seg</h2>" in text
    assert "False alarms by surface" in text and "Missed lakes by size" in text
    assert re.search(r"Over 6 images the model reaches a dataset-level IoU of 9\d\.\d %", text)

    require(CHROMIUM.is_file(), "/usr/bin/chromium", "apt-get install -y chromium (`make test` does it as root)")
    profile = tmp_path / "profile"
    base = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}"]
    shot = tmp_path / "shot.png"
    run = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,2000", out.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ERR_" not in run.stderr, run.stderr[-2000:]
    assert Image.open(shot).size == (1200, 2000)
    dom = subprocess.run([*base, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "ERR_" not in dom.stderr
    assert "Comparison with the study" in dom.stdout and dom.stdout.count("<img") == 4
