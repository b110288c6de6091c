"""Figures, overlays, curves and the error analysis: pixel sizes, colours and hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glofwatch.errors import InputError
from glofwatch.explain.analysis import (
    SURFACE_CLASSES,
    ErrorAnalysis,
    classify_surface,
    summary_text,
)
from glofwatch.explain.curves import (
    CURVE_SIZE_PX,
    pr_curve_png,
    read_metrics_csv,
    save_training_curves,
)
from glofwatch.explain.figure import (
    GAP_PX,
    HEADER_PX,
    PANEL_PX,
    TITLE_PX,
    ExplainedImage,
    figure_size_px,
    save_grid_figure,
    save_panel_figure,
)
from glofwatch.explain.heatmap import blend_heatmap, colorize_heatmap


def _item(truth: bool = True, name: str = "img_1") -> ExplainedImage:
    rgb = np.full((40, 60, 3), 120, np.uint8)
    pred = np.zeros((40, 60), np.uint8)
    pred[10:20, 10:30] = 1
    heat = np.linspace(0, 1, 40 * 60, dtype=np.float32).reshape(40, 60)
    return ExplainedImage(name, rgb, pred, heat, pred.copy() if truth else None, 1.0 if truth else None)


def test_figure_sizes_are_fixed(tmp_path) -> None:
    assert figure_size_px(1) == (5 * 256 + 6 * 8, 40 + 24 + 256 + 8 + 8) == (1328, 336)
    panel = save_panel_figure(tmp_path / "p.png", _item())
    assert Image.open(panel).size == figure_size_px(1)
    grid = save_grid_figure(tmp_path / "g.png", [_item(), _item(False, "b"), _item(name="c")])
    assert Image.open(grid).size == figure_size_px(3) == (1328, 40 + 3 * 288 + 8)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary file


def test_missing_truth_panel_is_grey_with_a_note(tmp_path) -> None:
    item = _item(truth=False)
    assert "no ground truth" in item.header()
    arr = np.asarray(Image.open(save_panel_figure(tmp_path / "p.png", item)).convert("RGB"))
    top = TITLE_PX + HEADER_PX
    truth_left = GAP_PX + (PANEL_PX + GAP_PX)
    assert tuple(arr[top + 5, truth_left + 5]) == (217, 217, 217)  # grey placeholder
    assert (arr[top + 100: top + 156, truth_left + 40: truth_left + 216] < 150).any()  # the text
    # prediction panel: the 60x40 mask is scaled by 256/60 and centred vertically (42.7 px band above)
    pred_left = GAP_PX + 2 * (PANEL_PX + GAP_PX)
    scale, band = PANEL_PX / 60, (PANEL_PX - 40 * PANEL_PX / 60) / 2
    at = lambda r, c: tuple(arr[top + int(band + (r + 0.5) * scale), pred_left + int((c + 0.5) * scale)])  # noqa: E731
    assert at(15, 20) == (255, 255, 255) and at(30, 20) == (0, 0, 0) and at(15, 40) == (0, 0, 0)


def test_heatmap_colours_and_blend() -> None:
    heat = np.array([[0.0, 1.0]], np.float32)
    colours = colorize_heatmap(heat, "jet")
    assert colours[0, 0, 2] > 100 and colours[0, 0, 0] < 10  # jet: blue at 0
    assert colours[0, 1, 0] > 100 and colours[0, 1, 2] < 10  # red at 1
    rgb = np.full((1, 2, 3), 100, np.uint8)
    out = blend_heatmap(rgb, heat, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out, np.clip((50 + colours.astype(np.float32) / 2) + 0.5, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="differ in size"):
        blend_heatmap(rgb, np.zeros((2, 2), np.float32))


def test_training_curves_png(tmp_path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,val_loss,val_iou\n1,0.9,0.8,0.2\n2,0.5,,0.4\n")
    rows = read_metrics_csv(tmp_path)
    assert rows[1]["val_loss"] is None and rows[1]["val_iou"] == 0.4
    out = save_training_curves(tmp_path, tmp_path / "curves.png", "run")
    assert Image.open(out).size == CURVE_SIZE_PX == (1000, 380)
    with pytest.raises(InputError, match=r"nope: no metrics.csv; training curves need a run folder"):
        read_metrics_csv(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.csv").write_text("epoch,train_loss\n")
    with pytest.raises(InputError, match="has no epoch rows yet"):
        read_metrics_csv(tmp_path / "empty")


def test_pr_curve_png(tmp_path) -> None:
    from glofwatch.infer.meter import SegmentationMeter

    rng = np.random.default_rng(0)
    truth = rng.random((2, 16, 16)) < 0.3
    probs = np.clip(truth * 0.6 + rng.random((2, 16, 16)) * 0.4, 0, 1)
    meter = SegmentationMeter(0.5)
    meter.update(probs, truth)
    png = pr_curve_png(meter.curve(), 0.5, "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from io import BytesIO

    assert Image.open(BytesIO(png)).size == CURVE_SIZE_PX


def test_surface_classes_follow_the_documented_rules() -> None:
    rgb = np.zeros((10, 40, 3), np.uint8)
    rgb[:, 0:10] = (30, 35, 40)  # dark: V = 0.16 -> shadow
    rgb[:, 10:20] = (250, 250, 250)  # bright, colourless, smooth -> cloud
    rgb[:, 20:30] = (190, 215, 250)  # bright pale blue: S = 0.24, B >= R -> snow/ice
    rgb[:, 30:40] = (150, 100, 60)  # brown soil -> other
    c = classify_surface(rgb)
    names = [SURFACE_CLASSES[i] for i in c[5, [5, 15, 25, 35]]]
    assert names == ["shadow", "cloud", "snow/ice", "other"]
    textured = rgb.copy()
    textured[:, 10:20] = np.where(np.indices((10, 10)).sum(0)[..., None] % 2 == 0, 255, 200)  # white but not smooth
    assert SURFACE_CLASSES[classify_surface(textured)[5, 15]] == "snow/ice"


def test_error_analysis_counts_by_hand() -> None:
    rgb = np.full((20, 20, 3), (150, 100, 60), np.uint8)  # "other" everywhere
    rgb[15:, :] = (20, 20, 20)  # bottom rows are shadow
    truth = np.zeros((20, 20), np.uint8)
    truth[0:2, 0:2] = 1  # small lake, 4 px
    truth[5:10, 5:11] = 1  # larger lake, 30 px
    pred = np.zeros_like(truth)
    pred[0:2, 0:1] = 1  # 2 of 4 px: exactly 50 % -> found
    pred[5:10, 5:7] = 1  # 10 of 30 px -> missed
    pred[16, 0:3] = 1  # 3 false-alarm px on shadow
    pred[12, 0:2] = 1  # 2 false-alarm px on other
    ea = ErrorAnalysis()
    ea.update(rgb, pred, truth, image_id="a")
    s = ea.summary()
    by = {c["class"]: c for c in s["fp_by_surface"]}
    assert s["fp_pixels"] == 5 and by["shadow"]["fp_pixels"] == 3 and by["other"]["fp_pixels"] == 2
    assert by["shadow"]["share_of_fp"] == pytest.approx(0.6)
    assert by["shadow"]["rate"] == pytest.approx(3 / 100)  # 5 shadow rows x 20 px
    assert by["other"]["rate"] == pytest.approx(2 / (400 - 100 - 34))
    assert s["tp_pixels"] == 12 and s["fn_pixels"] == 22
    assert s["lakes"] == 2 and s["lakes_found"] == 1 and s["lake_recall"] == 0.5
    bins = {b["bin"].split(" ")[0]: b for b in s["recall_by_size"]}
    assert bins["0-24"]["lakes"] == 1 and bins["0-24"]["recall"] == 1.0
    assert bins["25-99"]["lakes"] == 1 and bins["25-99"]["recall"] == 0.0
    assert s["largest_missed"] == [{"image": "a", "pixels": 30}]
    text = " ".join(summary_text(s, iou=0.25))
    assert "dataset-level IoU of 25.0 %" in text
    assert "False alarms sit on shadow 60 %, other 40 %" in text
    assert "It finds 1 of 2 reference lakes (50 %" in text
    assert "100 % of the smallest (0-24 px (< 0.0025 km2), 1 lake)" in text


def test_summary_names_the_riskiest_surface() -> None:
    def cls(name: str, fp: int, px: int) -> dict:
        return {"class": name, "fp_pixels": fp, "share_of_fp": fp / 1000, "class_pixels": px,
                "rate": fp / px if px else None}

    s = {"n_images": 4, "tp_pixels": 500, "fp_pixels": 1000, "fn_pixels": 20, "lakes": 0, "lakes_found": 0,
         "lake_recall": None, "found_rule": "", "recall_by_size": [],
         "fp_by_surface": [cls("shadow", 300, 600), cls("snow/ice", 0, 50), cls("cloud", 0, 0),
                           cls("other", 700, 70000)]}
    text = summary_text(s)
    assert text[1] == "False alarms sit on other 70 %, shadow 30 %; the most common is other, where the model calls " \
                      "1.0 % of such non-lake pixels lake."
    assert text[2] == ("For its area, shadow is the riskiest surface: "
                       "the model calls 50 % of non-lake shadow pixels lake.")
