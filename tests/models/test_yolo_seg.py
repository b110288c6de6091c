"""YOLOv8-Seg: offline training with networking blocked, resume, prediction schema, evaluation keys."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from glof_yolo_helpers import block_network, write_lake_crops

if importlib.util.find_spec("ultralytics") is None:  # not imported here: the offline setup must come first
    pytest.fail("ultralytics is missing: run `make install` (it installs ultralytics==8.4.190 --no-deps)",
                pytrace=False)

from affine import Affine  # noqa: E402

from glofwatch.config import resolve_config  # noqa: E402
from glofwatch.errors import ConfigError, InputError, WeightsError  # noqa: E402
from glofwatch.geo import GeoGrid  # noqa: E402
from glofwatch.infer.yolo import (  # noqa: E402
    InstanceResult,
    LakeInstance,
    draw_instances,
    instance_polygon,
    predict_yolo_images,  # noqa: E402
)
from glofwatch.infer.yolo_evaluate import (  # noqa: E402
    CONF_GRID,
    _LakeRecall,
    evaluate_yolo,  # noqa: E402
)
from glofwatch.models.yolo import is_yolo_run  # noqa: E402
from glofwatch.train.yolo import train_yolo  # noqa: E402

TINY = {"max_epochs": 2, "max_steps": 4, "image_size": 64, "batch_size": 2, "val_fraction": 0.25, "device": "cpu"}


@pytest.fixture(scope="module")
def yolo_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny YOLOv8n-Seg run trained with every socket blocked (stopped by max_steps inside epoch 2)."""
    tmp = tmp_path_factory.mktemp("yolo")
    attempts: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLOFWATCH_CACHE", str(tmp / "cache"))
        block_network(mp, attempts)
        root = write_lake_crops(tmp / "data", n_train=8, n_test=4)
        run = tmp / "run"
        result = train_yolo(resolve_config("yolov8-seg", TINY), run, root, progress=False)
    return {"root": root, "run": run, "result": result, "attempts": attempts, "tmp": tmp}


def test_training_runs_offline_into_a_run_folder(yolo_env: dict) -> None:
    assert yolo_env["attempts"] == []  # no DNS lookup, no connection: nothing was downloaded or checked online
    run, result = yolo_env["run"], yolo_env["result"]
    for name in ("config.yaml", "run.json", "metrics.csv", "model.pt", "summary.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    assert result.stopped_by == "max_steps" and result.epochs == 2  # 3 batches per epoch, stopped at step 4
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_mask_map50", "val_mask_map50_95", "lr"} <= set(rows[0])
    info = json.loads((run / "run.json").read_text())
    assert info["kind"] == "yolo-seg" and info["yolo_data"]["labels"]["val"]["images"] == 2
    summary = json.loads((run / "summary.json").read_text())
    sel = summary["threshold_selection"]
    assert summary["conf_threshold"] in CONF_GRID and sel["split"] == "val" and sel["n_images"] == 2
    assert result.best_metrics["conf_threshold"] == summary["conf_threshold"]
    assert is_yolo_run(run) and is_yolo_run(run / "model.pt") and not is_yolo_run(yolo_env["root"])


def test_offline_switches_each_network_path(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list = []
    block_network(monkeypatch, attempts)
    from glofwatch.models.yolo import offline_ultralytics

    with offline_ultralytics():
        import ultralytics.engine.trainer as trainer_mod
        import ultralytics.utils as ul_utils
        import ultralytics.utils.callbacks as callbacks
        from ultralytics.utils import checks

        assert not ul_utils.ONLINE and not ul_utils.is_online() and not ul_utils.AUTOINSTALL
        assert Path(checks.check_font("Arial.ttf")).is_file()  # a local font, not a download
        assert checks.check_pip_update_available() is False

        class Host:
            callbacks: dict = {}

        callbacks.add_integration_callbacks(Host())  # no analytics/Platform/MLflow callbacks
        assert Host.callbacks == {}
        import torch

        assert trainer_mod.check_amp(torch.nn.Linear(1, 1)) is False  # CPU: no AMP, no yolo26n.pt download
    assert attempts == []


def test_resume_continues_to_a_new_total_and_refuses_when_done(yolo_env: dict) -> None:
    run = yolo_env["run"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLOFWATCH_CACHE", str(yolo_env["tmp"] / "cache"))
        block_network(mp, yolo_env["attempts"])
        cfg = resolve_config("yolov8-seg", {**TINY, "max_epochs": 3, "max_steps": -1})
        result = train_yolo(cfg, run, None, resume=True, progress=False)
        assert result.epochs == 3 and result.stopped_by == "max_epochs"
        rows = list(csv.DictReader((run / "metrics.csv").open()))
        assert [r["epoch"] for r in rows] == ["1", "2", "3"]
        assert json.loads((run / "run.json").read_text())["resumed"]
        with pytest.raises(InputError, match=r"all 3 epochs are done; pass a larger --max-epochs"):
            train_yolo(cfg, run, None, resume=True, progress=False)
        with pytest.raises(InputError, match=r"already holds a run; continue it with `glofwatch train --resume"):
            train_yolo(cfg, run, yolo_env["root"], progress=False)
    assert yolo_env["attempts"] == []


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    root = write_lake_crops(tmp_path / "d", n_train=2, n_test=0)
    with pytest.raises(WeightsError, match=r"COCO weights for yolov8n-seg are not available offline"):
        train_yolo(resolve_config("yolov8-seg", {**TINY, "weights": "default"}), tmp_path / "r", root)
    with pytest.raises(ConfigError, match=r"scheduler 'plateau' is not available for YOLOv8-Seg"):
        train_yolo(resolve_config("yolov8-seg", {**TINY, "scheduler": "plateau"}), tmp_path / "r", root)
    with pytest.raises(ConfigError, match=r"model 'yolov8q-seg' is not a YOLOv8-Seg size"):
        train_yolo(resolve_config("yolov8-seg", {**TINY, "model": "yolov8q-seg"}), tmp_path / "r", root)


def _instances() -> InstanceResult:
    a = np.zeros((32, 32), bool)
    a[4:10, 4:14] = True  # 60 px
    a[6:8, 8:10] = False  # island: 56 px
    b = np.zeros((32, 32), bool)
    b[20:30, 20:25] = True  # 50 px
    grid = GeoGrid("EPSG:32645", Affine(10, 0, 500000, 0, -10, 3100000), 32, 32)
    inst = [LakeInstance(m, c, instance_polygon(m, grid), int(m.sum()), float(m.sum()) * 100.0,
                         (0, 0, 1, 1)) for m, c in ((a, 0.9), (b, 0.3))]
    return InstanceResult(inst, grid, conf_threshold=0.5)


def test_instance_result_schema_areas_and_union() -> None:
    res = _instances()
    fc = res.to_feature_collection("crop")
    assert fc["type"] == "FeatureCollection" and fc["coordinates"] == "crs"
    assert fc["crs"]["properties"]["name"] == "EPSG:32645" and fc["n_instances"] == 1  # 0.3 is below 0.5
    f = fc["features"][0]
    assert f["properties"] == {"instance_id": 0, "confidence": 0.9, "area_px": 56, "area_m2": 5600.0,
                               "bbox_px": [0, 0, 1, 1]}
    assert f["geometry"]["type"] == "Polygon" and len(f["geometry"]["coordinates"]) == 2  # outer ring + island
    assert res.instances[0].polygon.area == pytest.approx(5600.0)
    assert int(res.mask().sum()) == 56 and int(res.mask(conf=0.2).sum()) == 106
    assert res.score_map()[25, 22] == pytest.approx(0.3)
    overlay = draw_instances(np.zeros((32, 32, 3), np.uint8), res)
    assert overlay.shape == (32, 32, 3) and overlay.any()


def test_lake_recall_rule_and_bins() -> None:
    truth = np.zeros((64, 64), np.uint8)
    truth[0:10, 0:10] = 1  # 100 px: found by one instance with IoU 0.8
    truth[20:30, 20:30] = 1  # 100 px: split into two instances (IoU 0.5 / 0.4), covered 90 %
    truth[40:45, 40:45] = 1  # 25 px: missed
    truth[60, 60] = 1  # 1 px speck: not a lake
    a = np.zeros_like(truth, bool)
    a[0:8, 0:10] = True
    b = np.zeros_like(a)
    b[20:25, 20:30] = True
    c = np.zeros_like(a)
    c[25:29, 20:30] = True
    rec = _LakeRecall(min_area_px=4)
    rec.update(truth, [a, b, c])
    s = rec.summary()
    assert s["n_truth_lakes"] == 3 and s["truth_specks_skipped"] == 1 and s["lake_recall"] == pytest.approx(2 / 3)
    assert s["recall_by_size"]["100-999 px"] == {"min_px": 100, "max_px": 999, "n_lakes": 2, "found": 2, "recall": 1.0}
    assert s["recall_by_size"]["25-99 px"]["recall"] == 0.0 and s["recall_by_size"]["4-24 px"]["recall"] is None


def test_predict_writes_feature_collections_and_overlays(yolo_env: dict, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list = []
    block_network(monkeypatch, attempts)
    files = sorted((yolo_env["root"] / "test" / "images").glob("*.png"))[:2]
    out = tmp_path / "pred"
    summaries = predict_yolo_images(yolo_env["run"], files, out, device="cpu", conf=0.0)
    assert [s["id"] for s in summaries] == [f.stem for f in files]
    for f in files:
        fc = json.loads((out / f"{f.stem}_instances.json").read_text())
        assert fc["type"] == "FeatureCollection" and fc["coordinates"] == "pixel" and "crs" not in fc
        assert (fc["width"], fc["height"], fc["conf_threshold"]) == (64, 64, 0.0)
        for feat in fc["features"]:
            assert feat["geometry"]["type"] in ("Polygon", "MultiPolygon")
            assert set(feat["properties"]) == {"instance_id", "confidence", "area_px", "area_m2", "bbox_px"}
            assert feat["properties"]["area_m2"] is None
        assert (out / f"{f.stem}_overlay.png").is_file() and (out / f"{f.stem}_mask.png").is_file()
    assert attempts == []


def test_evaluate_returns_pixel_and_instance_metrics(yolo_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from glofwatch.report.compare import comparison_table

    attempts: list = []
    block_network(monkeypatch, attempts)

    run = yolo_env["run"]
    out = run / "eval" / "test"
    m = evaluate_yolo(run, yolo_env["root"], "test", out, device="cpu")
    assert {"micro", "per_image", "study_batch_soft", "instance", "conf_threshold", "split", "n_images"} <= set(m)
    assert {"iou", "dice", "precision", "recall", "f1", "accuracy"} <= set(m["micro"])
    assert m["study_batch_soft"]["iou"] is None and "instance confidences" in m["study_batch_soft"]["note"]
    assert m["micro"]["pixels"] == 4 * 64 * 64 and m["n_images"] == 4
    inst = m["instance"]
    assert {"map50", "map50_95", "recall_by_size", "lake_recall"} <= set(inst)
    assert 0.0 <= inst["map50_95"] <= inst["map50"] <= 1.0
    assert m["conf_threshold"] == json.loads((run / "summary.json").read_text())["conf_threshold"]
    assert json.loads((out / "metrics.json").read_text())["instance"]["map50_95"] == inst["map50_95"]
    assert len(list((out / "masks").glob("*.png"))) == 4
    table = comparison_table([run], "test")
    ours, published = table.splitlines()[2:4]
    assert ours.split("|")[-2].strip() == f"{100 * inst['map50_95']:.1f}"  # mask mAP50-95 column
    assert ours.split("|")[-3].strip() == "–"  # no study-soft IoU for instance output
    assert published.startswith("| YOLOv8-Seg / standard | study (published) | – |") and published.endswith("| 73.0 |")
    assert attempts == []


def test_evaluate_on_a_generic_folder_scores_all_of_it(yolo_env: dict, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    monkeypatch.setenv("GLOFWATCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "generic"
    shutil.copytree(yolo_env["root"] / "test" / "images", root / "images")
    shutil.copytree(yolo_env["root"] / "test" / "labels", root / "masks")
    m = evaluate_yolo(yolo_env["run"], root, "all", tmp_path / "out", conf=0.5, save_masks=False, device="cpu")
    assert m["n_images"] == 4 and m["conf_threshold"] == 0.5 and m["split"] == "all"
    assert m["instance"]["n_truth_lakes"] == 3 and not (tmp_path / "out" / "masks").exists()
