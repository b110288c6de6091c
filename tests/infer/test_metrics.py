"""Mask metrics checked against hand-counted 4x4 masks and torchmetrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.meter import SegmentationMeter
from glofwatch.infer.metrics import Counts, count_confusion, pr_curve, scores

PRED = np.array(
    [[1, 1, 0, 0],
     [1, 1, 0, 0],
     [0, 0, 0, 0],
     [0, 0, 0, 1]], dtype=bool)
TRUTH = np.array(
    [[1, 1, 1, 0],
     [1, 0, 0, 0],
     [0, 0, 0, 0],
     [0, 0, 0, 0]], dtype=bool)
# tp: (0,0) (0,1) (1,0) = 3; fp: (1,1) (3,3) = 2; fn: (0,2) = 1; tn = 16 - 6 = 10


def test_counts_by_hand():
    c = count_confusion(PRED, TRUTH)
    assert c == Counts(tp=3, fp=2, fn=1, tn=10)
    assert c.pixels == 16
    s = scores(c)
    assert s["iou"] == pytest.approx(3 / 6)
    assert s["dice"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert s["f1"] == s["dice"]
    assert s["precision"] == pytest.approx(3 / 5)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["accuracy"] == pytest.approx(13 / 16)


def test_counts_add_and_torch_input():
    c = count_confusion(torch.from_numpy(PRED), torch.from_numpy(TRUTH).int())
    assert c + Counts(1, 1, 1, 1) == Counts(4, 3, 2, 11)


def test_valid_mask_excludes_pixels():
    valid = np.ones((4, 4), dtype=bool)
    valid[3] = False  # drop the last row: its fp (3,3) and 3 tn
    c = count_confusion(PRED, TRUTH, valid)
    assert c == Counts(tp=3, fp=1, fn=1, tn=7)
    assert scores(c)["iou"] == pytest.approx(3 / 5)


def test_empty_truth_and_prediction_is_perfect():
    z = np.zeros((4, 4), dtype=bool)
    s = scores(count_confusion(z, z))
    assert s == {"iou": 1.0, "dice": 1.0, "accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert scores(Counts()) == s  # no pixel at all: nothing to get wrong


def test_empty_truth_some_predicted_scores_zero():
    z = np.zeros((4, 4), dtype=bool)
    s = scores(count_confusion(PRED, z))
    assert (s["iou"], s["dice"], s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert s["accuracy"] == pytest.approx(11 / 16)


def test_no_prediction_with_truth_precision_zero():
    s = scores(count_confusion(np.zeros((4, 4), dtype=bool), TRUTH))
    assert (s["precision"], s["recall"], s["iou"], s["dice"]) == (0.0, 0.0, 0.0, 0.0)


def test_count_confusion_rejects_bad_input():
    with pytest.raises(InputError, match=r"truth holds values other than 0 and 1 \(e.g. 255\); map masks to 0/1"):
        count_confusion(PRED, TRUTH.astype(np.uint8) * 255)
    with pytest.raises(InputError, match=r"truth has shape \(3, 3\), pred \(4, 4\)"):
        count_confusion(PRED, np.zeros((3, 3), dtype=bool))


def test_micro_vs_per_image_mean_differ():
    # image A: 8 lake pixels, all found (iou 1); image B: 2 lake pixels, 1 found (iou 1/2)
    truth = np.zeros((2, 4, 4), dtype=bool)
    truth[0, :2] = True
    truth[1, 0, :2] = True
    probs = truth.astype(np.float64) * 0.9
    probs[1, 0, 1] = 0.2  # missed pixel
    meter = SegmentationMeter()
    meter.update(probs, truth, ids=["A", "B"])
    out = meter.summary()
    # micro: tp 9, fn 1, fp 0, tn 22
    m = out["micro"]
    assert (m["tp"], m["fp"], m["fn"], m["tn"], m["pixels"]) == (9, 0, 1, 22, 32)
    assert m["iou"] == pytest.approx(9 / 10)
    assert m["dice"] == pytest.approx(18 / 19)
    pi = out["per_image"]
    assert pi["iou_mean"] == pytest.approx((1 + 1 / 2) / 2)
    assert pi["iou_median"] == pytest.approx(0.75)
    assert pi["dice_mean"] == pytest.approx((1 + 2 / 3) / 2)
    assert pi["n_images"] == 2 and pi["n_empty_truth"] == 0
    assert pi["worst"] == [{"id": "B", "iou": 0.5}, {"id": "A", "iou": 1.0}]


def test_study_batch_soft_by_hand():
    meter = SegmentationMeter()
    # batch 1: one 2x2 image
    p1 = np.array([[[0.9, 0.2], [0.6, 0.4]]])
    t1 = np.array([[[1, 0], [1, 1]]])
    meter.update(p1, t1)
    # batch 2: no lake, p = 0.1 everywhere
    meter.update(np.full((1, 2, 2), 0.1), np.zeros((1, 2, 2)))
    inter, st, sp = 0.9 + 0.6 + 0.4, 3.0, 0.9 + 0.2 + 0.6 + 0.4
    dice1 = (2 * inter + 1) / (st + sp + 1)
    iou1 = (inter + 1) / (st + sp - inter + 1)
    prec1 = 2 / (2 + 1e-7)  # round(t*p) = [1, 0, 1, 0]; round(p) = [1, 0, 1, 0]
    rec1 = 2 / (3 + 1e-7)
    dice2 = iou2 = 1 / (0.4 + 1)
    prec2 = rec2 = 0.0  # 0 / (0 + 1e-7)
    study = meter.summary()["study_batch_soft"]
    assert study["dice"] == pytest.approx((dice1 + dice2) / 2)
    assert study["iou"] == pytest.approx((iou1 + iou2) / 2)
    assert study["precision"] == pytest.approx((prec1 + prec2) / 2)
    assert study["recall"] == pytest.approx((rec1 + rec2) / 2)
    assert study["n_batches"] == 2
    assert "averaged over batches" in study["note"]
    # the same data, micro at 0.5: tp 2 (0.9, 0.6), fn 1 (0.4), fp 0
    micro = meter.summary()["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"], micro["tn"]) == (2, 0, 1, 5)
    assert meter.summary()["per_image"]["n_empty_truth"] == 1


def test_meter_valid_mask_and_summary_is_json():
    probs = np.array([[[0.9, 0.8], [0.1, 0.7]]])
    truth = np.array([[[1, 0], [0, 1]]])
    valid = np.array([[[True, False], [True, True]]])  # drop the fp at (0, 1)
    meter = SegmentationMeter()
    meter.update(torch.tensor(probs, dtype=torch.float32), torch.tensor(truth), valid=torch.tensor(valid))
    out = meter.summary()
    assert (out["micro"]["tp"], out["micro"]["fp"], out["micro"]["pixels"]) == (2, 0, 3)
    assert out["micro"]["iou"] == 1.0
    # study soft numbers ignore the invalid pixel too: I = 0.9 + 0.7, sum p = 0.9 + 0.1 + 0.7
    assert out["study_batch_soft"]["dice"] == pytest.approx((2 * 1.6 + 1) / (2 + 1.7 + 1), rel=1e-6)
    json.dumps(out)
    assert set(out) == {"reduction_note", "threshold", "micro", "per_image", "study_batch_soft"}
    assert "micro" in out["reduction_note"] and "per_image" in out["reduction_note"]


def test_image_without_valid_pixels_skipped_per_image():
    meter = SegmentationMeter()
    meter.update(np.full((2, 2, 2), 0.9), np.ones((2, 2, 2)), ids=["a", "b"],
                 valid=np.array([np.ones((2, 2), bool), np.zeros((2, 2), bool)]))
    pi = meter.summary()["per_image"]
    assert (pi["n_images"], pi["n_no_valid"]) == (1, 1)
    assert pi["worst"] == [{"id": "a", "iou": 1.0}]


def _random_split(seed: int):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(6, 24, 24, generator=g)
    probs[0].view(-1)[:101] = torch.arange(101) / 100  # values on the curve edges
    probs[1] = (probs[1] * 20).round() / 20  # many exact ties with thresholds
    target = (torch.rand(6, 24, 24, generator=g) + 0.3 * probs > 0.9).long()
    valid = torch.rand(6, 24, 24, generator=g) > 0.2
    return probs, target, valid


@pytest.mark.parametrize("use_valid", [False, True])
def test_micro_agrees_with_torchmetrics(use_valid):
    from torchmetrics.classification import (  # slow import: only here
        BinaryAccuracy,
        BinaryF1Score,
        BinaryJaccardIndex,
        BinaryPrecision,
        BinaryRecall,
    )

    probs, target, valid = _random_split(0)
    meter = SegmentationMeter()
    for i in range(0, 6, 4):  # two batches of unequal size
        meter.update(probs[i:i + 4], target[i:i + 4], valid=valid[i:i + 4] if use_valid else None)
    micro = meter.summary()["micro"]
    tm_target = torch.where(valid, target, -1) if use_valid else target
    kw = {"ignore_index": -1} if use_valid else {}
    expected = {
        "iou": BinaryJaccardIndex(**kw), "f1": BinaryF1Score(**kw), "dice": BinaryF1Score(**kw),
        "precision": BinaryPrecision(**kw), "recall": BinaryRecall(**kw), "accuracy": BinaryAccuracy(**kw),
    }
    for name, metric in expected.items():
        assert micro[name] == pytest.approx(metric(probs, tm_target).item(), abs=1e-6), name


def test_curve_matches_micro_exactly_on_edges():
    probs, target, valid = _random_split(1)
    for thr, bins in ((0.5, 100), (0.37, 10)):  # 0.37 is off the 0.1 grid: added as an edge
        meter = SegmentationMeter(threshold=thr, curve_bins=bins)
        meter.update(probs, target, valid=valid)
        cur = meter.curve()
        k = int(np.flatnonzero(cur.thresholds == thr)[0])
        micro = meter.summary()["micro"]
        assert (cur.tp[k], cur.fp[k], cur.fn[k], cur.tn[k]) == (micro["tp"], micro["fp"], micro["fn"], micro["tn"])
        assert cur.iou[k] == micro["iou"] and cur.precision[k] == micro["precision"]
        assert cur.recall[k] == micro["recall"] and cur.dice[k] == micro["dice"]
    assert len(SegmentationMeter(curve_bins=100).curve().thresholds) == 101


def test_curve_every_edge_equals_direct_thresholding():
    probs, target, valid = _random_split(2)
    meter = SegmentationMeter(curve_bins=20)
    meter.update(probs, target, valid=valid)
    cur = meter.curve()
    direct = pr_curve(probs, target, cur.thresholds, valid=valid)  # searchsorted path
    p64 = probs.double().numpy()
    for k, thr in enumerate(cur.thresholds):
        c = count_confusion(p64 > thr, target.numpy(), valid.numpy())
        assert (cur.tp[k], cur.fp[k], cur.fn[k], cur.tn[k]) == (c.tp, c.fp, c.fn, c.tn), thr
        assert (direct.tp[k], direct.fp[k]) == (c.tp, c.fp)


def test_pr_curve_by_hand():
    probs = np.array([[[0.2, 0.4], [0.6, 0.8]]])
    truth = np.array([[[0, 1], [0, 1]]])
    cur = pr_curve(probs, truth, [0.5, 0.3, 0.7])
    assert cur.thresholds.tolist() == [0.3, 0.5, 0.7]
    # t=0.3: pred 0.4 0.6 0.8 -> tp 2 fp 1; t=0.5: 0.6 0.8 -> tp 1 fp 1; t=0.7: 0.8 -> tp 1 fp 0
    assert cur.precision.tolist() == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert cur.recall.tolist() == pytest.approx([1.0, 1 / 2, 1 / 2])
    assert cur.iou.tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 2])
    assert json.dumps(cur.as_dict())


def test_best_threshold():
    truth = np.zeros((1, 4, 4), dtype=bool)
    truth[0, :2] = True
    probs = np.where(truth, 0.3, 0.1)  # any threshold in [0.1, 0.3) is perfect
    meter = SegmentationMeter(curve_bins=100)
    meter.update(probs, truth)
    assert meter.best_threshold("iou") == (0.29, 1.0)  # tie: nearest to 0.5
    assert meter.best_threshold("f1") == (0.29, 1.0)
    with pytest.raises(ConfigError, match=r"cannot pick a threshold by 'iuo'; did you mean 'iou'\?"):
        meter.best_threshold("iuo")
    with pytest.raises(ConfigError, match="curve_bins=None"):
        SegmentationMeter(curve_bins=None).curve()


def test_meter_input_errors():
    meter = SegmentationMeter()
    with pytest.raises(InputError, match=r"probs range \[-2, 3\] is not within \[0, 1\].*sigmoid\(logits\)"):
        meter.update(np.array([[[-2.0, 3.0]]]), np.zeros((1, 1, 2)))
    with pytest.raises(InputError, match=r"target holds values other than 0 and 1"):
        meter.update(np.zeros((1, 1, 2)), np.full((1, 1, 2), 255))
    with pytest.raises(InputError, match=r"got 1 ids for a batch of 2 images"):
        meter.update(np.zeros((2, 1, 2)), np.zeros((2, 1, 2)), ids=["x"])
    with pytest.raises(InputError, match=r"target has shape \(1, 1, 3\), expected \(1, 1, 2\)"):
        meter.update(np.zeros((1, 1, 2)), np.zeros((1, 1, 3)))
    with pytest.raises(InputError, match="call update\\(\\) before summary\\(\\)"):
        meter.summary()
    with pytest.raises(ConfigError, match=r"threshold=1.5 is not a number in \[0, 1\]"):
        SegmentationMeter(threshold=1.5)


def test_reset_and_default_ids():
    meter = SegmentationMeter()
    meter.update(np.zeros((2, 2, 2)), np.ones((2, 2, 2)))
    meter.update(np.ones((1, 2, 2)), np.ones((1, 2, 2)))
    worst = meter.summary()["per_image"]["worst"]
    assert [w["id"] for w in worst] == ["#0", "#1", "#2"]
    meter.reset()
    with pytest.raises(InputError):
        meter.summary()
