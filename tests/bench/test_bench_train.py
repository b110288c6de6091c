"""``glofwatch bench train``: rows per device x precision x compile x memory format; the projection; the CUDA error."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from glofwatch.bench.train import STUDY_PRESETS, expand_presets, project_study
from glofwatch.cli.app import app
from glofwatch.config import list_presets, resolve_config

runner = CliRunner()
TINY = ["--presets", "tiny-unet", "--batch", "2", "--size", "64", "--steps", "1", "--warmup", "0", "--threads", "1"]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOFWATCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``torch.compile`` with the "eager" backend: TorchDynamo traces the real network, without the minute or
    more that Inductor's C++ code generation takes on CPU (about 70 s for tiny-unet here). Records each call."""
    calls: list[Any] = []
    real = torch.compile

    def compile_eager(model: Any, **kwargs: Any) -> Any:
        calls.append(model)
        return real(model, **{**kwargs, "backend": "eager"})

    monkeypatch.setattr(torch, "compile", functools.partial(compile_eager))
    return calls


def _run(out: Path, *args: str) -> dict[str, Any]:
    res = runner.invoke(app, ["bench", "train", *TINY, *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc: dict[str, Any] = json.loads((out / "train.json").read_text())
    assert doc["errors"] == []
    return doc


def test_cpu_rows_for_every_precision_and_compile_choice(tmp_path: Path, eager_compile: list[Any]) -> None:
    doc = _run(tmp_path, "--device", "cpu", "--precision", "both", "--compile", "both", "--channels-last", "off")
    rows = doc["results"]
    assert [(r["precision"], r["compile"], r["channels_last"]) for r in rows] == [
        ("32", False, False), ("32", True, False), ("bf16", False, False), ("bf16", True, False)]
    assert len(eager_compile) == 2  # one torch.compile of the network per compiled row
    assert doc["settings"]["precision"] == {"cpu": ["32", "bf16"]}
    assert doc["settings"]["compile"] == {"cpu": [False, True]}
    for r in rows:
        assert r["device"] == "cpu" and r["memory"] == "peak RSS during the row" and r["peak_mb"] > 10
        assert r["images_per_s"] == pytest.approx(2 / r["s_per_step"])
        if r["compile"]:
            # --warmup 0 is raised to 1 so that the timed step is a compiled one; the compile time is what
            # the warm-up step and the warm-up validation batch took beyond their steady-state times
            assert r["warmup"] == 1
            assert r["compile_s"] == pytest.approx(max(0.0, r["warmup_s"] - r["s_per_step"])
                                                   + max(0.0, r["warmup_forward_s"] - r["forward_s"]))
        else:
            assert r["warmup"] == 0 and r["warmup_s"] == 0 and r["compile_s"] is None
    md = (tmp_path / "train.md").read_text()
    assert "| tiny-unet | tiny-unet | cpu | bf16 | no | yes |" in md


def test_device_auto_without_a_gpu_is_cpu_fp32_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    doc = _run(tmp_path, "--device", "auto", "--channels-last", "on")
    assert [(r["device"], r["precision"], r["compile"], r["channels_last"]) for r in doc["results"]] == [
        ("cpu", "32", False, True)]


def test_projection_by_hand_from_train_json(tmp_path: Path) -> None:
    doc = _run(tmp_path, "--devices", "cpu")  # the old option name still works
    a, b = doc["results"]  # channels-last off, on
    # 50 epochs x ceil(1000 / 2) = 25000 steps; 50 x ceil(200 / 2) = 5000 validation batches
    seconds = {r["channels_last"]: 25000 * r["s_per_step"] + 5000 * r["forward_s"] for r in (a, b)}
    best_cl = min(seconds, key=lambda k: seconds[k])
    proj = doc["projection"]["cpu"]
    assert len(proj["rows"]) == 1
    row = proj["rows"][0]
    assert (row["preset"], row["channels_last"], row["train_steps"], row["val_batches"]) == (
        "tiny-unet", best_cl, 25000, 5000)
    assert row["seconds"] == pytest.approx(seconds[best_cl])
    assert proj["total_min"] == pytest.approx(seconds[best_cl] / 60)
    assert proj["study_complete"] is False and proj["meets_goal"] is None and proj["missing"] == list(STUDY_PRESETS)
    md = (tmp_path / "train.md").read_text()
    assert f"Projected on cpu: {seconds[best_cl] / 60:.1f} min for 1 preset(s) x 50 epochs of 1000 crops" in md
    assert "no verdict on the < 15 min goal" in md


def test_projection_protocol_options(tmp_path: Path) -> None:
    doc = _run(tmp_path, "--device", "cpu", "--channels-last", "off", "--epochs", "2", "--train-crops", "5",
               "--val-crops", "3")
    (r,) = doc["results"]
    (row,) = doc["projection"]["cpu"]["rows"]
    # 2 x ceil(5 / 2) = 6 steps, 2 x ceil(3 / 2) = 4 validation batches
    assert (row["train_steps"], row["val_batches"]) == (6, 4)
    assert row["seconds"] == pytest.approx(6 * r["s_per_step"] + 4 * r["forward_s"])
    assert doc["settings"]["protocol"] == {"epochs": 2, "train_crops": 5, "val_crops": 3}


def _row(preset: str, s: float, f: float, compile_s: float | None = None, precision: str = "bf16") -> dict[str, Any]:
    return {"preset": preset, "device": "cuda", "precision": precision, "channels_last": True,
            "compile": compile_s is not None, "batch": 8, "s_per_step": s, "forward_s": f, "compile_s": compile_s}


def test_projection_of_the_six_study_rows_by_hand() -> None:
    rows = []
    for p in STUDY_PRESETS:
        # eager: 6250 steps x 0.02 s + 1250 batches x 0.005 s = 125 + 6.25 = 131.25 s
        # compiled: 6250 x 0.015 + 1250 x 0.004 + 30 s compile = 93.75 + 5 + 30 = 128.75 s (the faster)
        # fp32: 6250 x 0.03 + 1250 x 0.01 = 200 s
        rows += [_row(p, 0.02, 0.005), _row(p, 0.015, 0.004, compile_s=30.0), _row(p, 0.03, 0.01, precision="32")]
    proj = project_study(rows)["cuda"]
    assert [r["preset"] for r in proj["rows"]] == list(STUDY_PRESETS)
    for r in proj["rows"]:
        assert (r["train_steps"], r["val_batches"]) == (6250, 1250)
        assert (r["precision"], r["compile"]) == ("bf16", True)
        assert r["seconds"] == pytest.approx(128.75)
    assert proj["total_min"] == pytest.approx(6 * 128.75 / 60)  # 12.875 min
    assert proj["study_complete"] is True and proj["missing"] == [] and proj["meets_goal"] is True


def test_projection_misses_the_goal_when_slow() -> None:
    # 6250 x 0.05 + 1250 x 0.02 = 312.5 + 25 = 337.5 s per row; 6 rows = 33.75 min
    proj = project_study([_row(p, 0.05, 0.02) for p in STUDY_PRESETS])["cuda"]
    assert proj["total_min"] == pytest.approx(33.75)
    assert proj["meets_goal"] is False
    # a compile that costs more than it saves is not chosen: 6250 x 0.049 + 1250 x 0.02 + 60 = 391.25 s
    proj = project_study([_row("unet-ce", 0.05, 0.02), _row("unet-ce", 0.049, 0.02, compile_s=60.0)])["cuda"]
    assert proj["rows"][0]["compile"] is False and proj["rows"][0]["seconds"] == pytest.approx(337.5)


def test_study_shortcut_is_the_six_segmentation_rows() -> None:
    assert expand_presets(["study", "fast", "unet-ce"]) == [*STUDY_PRESETS, "fast"]
    rows = {p for p in list_presets() if resolve_config(p).study_row and resolve_config(p).loss != "yolov8-seg"}
    assert set(STUDY_PRESETS) == rows and len(STUDY_PRESETS) == 6
    assert {resolve_config(p).batch_size for p in STUDY_PRESETS} == {8}  # the bench's default batch


@pytest.mark.parametrize("option", ["--device", "--devices"])
def test_cuda_without_a_gpu_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = runner.invoke(app, ["bench", "train", *TINY, option, "cuda", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip() == (
        "error: --device cuda was asked for but no CUDA GPU is visible (torch.cuda.is_available() is False); "
        "run on a machine with a CUDA GPU or use --device cpu")
    assert not (tmp_path / "train.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--precision", "fp16"], "error: --precision 'fp16' is unknown; use 32, bf16, both or auto"),
    (["--compile", "yes"], "error: --compile 'yes' is unknown; use off, on, both or auto"),
    (["--device", "tpu"], "error: --device 'tpu' is unknown; use cpu, cuda or auto"),
])
def test_unknown_choices(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["bench", "train", *TINY, *args, "--out", str(tmp_path)])
    assert res.exit_code == 2 and message in res.output
