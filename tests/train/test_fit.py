"""Training runs: resume equivalence, interruption at any moment, atomic checkpoints, NaN guard."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning as L
import pytest
import torch

from glofwatch.config import resolve_config
from glofwatch.errors import InputError, TrainingError
from glofwatch.train.fit import resume_config, train
from glofwatch.train.task import cosine_factor

TINY = {"model": "tiny-unet", "weights": "none", "batch_size": 4, "loss": "bce+dice", "lr": 0.01,
        "val_fraction": 0.25, "augment": "study", "seed": 3}


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def _state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]


def _assert_same_run(a: Path, b: Path) -> None:
    ra, rb = _rows(a), _rows(b)
    assert [r["epoch"] for r in ra] == [r["epoch"] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        for key in ("train_loss", "val_loss", "val_iou", "val_dice"):
            assert float(x[key]) == pytest.approx(float(y[key]), abs=1e-5), key
    sa, sb = _state(a), _state(b)
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory, synth_root: Path) -> Path:
    run = tmp_path_factory.mktemp("straight") / "run"
    train(resolve_config(None, {**TINY, "max_epochs": 3}), run, synth_root, progress=False)
    return run


def test_run_folder_holds_every_output(straight_run: Path) -> None:
    for name in ("config.yaml", "run.json", "metrics.csv", "model.pt", "summary.json",
                 "checkpoints/last.ckpt", "checkpoints/best.ckpt"):
        assert (straight_run / name).is_file(), name
    rows = _rows(straight_run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(0.0 <= float(r["val_iou"]) <= 1.0 for r in rows)
    assert not list(straight_run.rglob(".*.tmp-*")), "temporary files left behind"


def test_model_learns_the_rendering_of_synthetic_data(straight_run: Path, synth_root: Path) -> None:
    """synth.json says the crops are false colour with gain 2.8-3.9: the model's input spec records it."""
    import json

    from glofwatch.config import load_config

    params = json.loads((synth_root / "synth.json").read_text())["params"]
    spec = load_config(straight_run / "config.yaml").input_spec
    assert params["rendering"] == "false-colour"
    assert spec.bands == ("B08", "B04", "B03")
    assert spec.gain == pytest.approx(sum(params["gain_range"]) / 2)


def test_resume_after_two_epochs_equals_straight_run(tmp_path: Path, synth_root: Path, straight_run: Path) -> None:
    """The study's '30 epochs, then resume for 20' in small: 2 + 1 epochs == 3 epochs."""
    run = tmp_path / "run"
    train(resolve_config(None, {**TINY, "max_epochs": 2}), run, synth_root, progress=False)
    assert len(_rows(run)) == 2
    cfg = resume_config(run, {"max_epochs": 3})
    result = train(cfg, run, None, resume=True, progress=False)
    assert result.epochs == 3
    _assert_same_run(run, straight_run)


class _Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way catches it."""


class _Crash(L.Callback):
    """Raise in the middle of an epoch, as a kill would stop the process."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise RuntimeError("simulated kill")


@pytest.mark.fault
def test_killed_mid_epoch_resumes_to_the_same_result(tmp_path: Path, synth_root: Path, straight_run: Path) -> None:
    run = tmp_path / "run"
    cfg = resolve_config(None, {**TINY, "max_epochs": 3})
    with pytest.raises(RuntimeError, match="simulated kill"):
        train(cfg, run, synth_root, progress=False, extra_callbacks=[_Crash(epoch=1, batch=1)])
    assert len(_rows(run)) == 1
    train(resume_config(run, {}), run, None, resume=True, progress=False)
    _assert_same_run(run, straight_run)


@pytest.mark.fault
def test_kill_during_checkpoint_write_keeps_the_previous_checkpoint(
    tmp_path: Path, synth_root: Path, straight_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    train(resolve_config(None, {**TINY, "max_epochs": 1}), run, synth_root, progress=False)
    before = (run / "checkpoints" / "last.ckpt").read_bytes()

    real_save = torch.save

    def dying_save(obj, f, *a, **kw):  # noqa: ANN001, ANN002, ANN003
        real_save(obj, f, *a, **kw)
        Path(f).write_bytes(Path(f).read_bytes()[:100])  # half-written file, then the process dies
        raise _Killed("killed while writing")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(_Killed, match="killed while writing"):
        train(resume_config(run, {"max_epochs": 2}), run, None, resume=True, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before
    assert not list((run / "checkpoints").glob(".*tmp-*"))
    train(resume_config(run, {"max_epochs": 3}), run, None, resume=True, progress=False)
    _assert_same_run(run, straight_run)


def test_nan_loss_stops_with_a_clear_message_and_keeps_last_checkpoint(
    tmp_path: Path, synth_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    train(resolve_config(None, {**TINY, "max_epochs": 1}), run, synth_root, progress=False)
    before = (run / "checkpoints" / "last.ckpt").read_bytes()

    from glofwatch.train import task as task_mod

    real = task_mod.build_loss

    def nan_loss(name, **params):  # noqa: ANN001, ANN003
        inner = real(name, **params)
        return lambda logits, target, valid=None: inner(logits, target, valid) * float("nan")

    monkeypatch.setattr(task_mod, "build_loss", nan_loss)
    with pytest.raises(TrainingError,
                       match=r"train loss became nan at epoch 2, step \d+; the last good checkpoint is kept"):
        train(resume_config(run, {"max_epochs": 2}), run, None, resume=True, progress=False)
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before


def test_new_run_refuses_to_overwrite_and_resume_needs_a_run(
    tmp_path: Path, synth_root: Path, straight_run: Path
) -> None:
    with pytest.raises(InputError, match="already holds a run; continue it with `glofwatch train --resume"):
        train(resolve_config(None, {**TINY, "max_epochs": 1}), straight_run, synth_root, progress=False)
    with pytest.raises(InputError, match="nothing to resume"):
        train(resolve_config(None, TINY), tmp_path / "empty", synth_root, resume=True, progress=False)


def test_time_budget_and_max_steps_stop_early(tmp_path: Path, synth_root: Path) -> None:
    result = train(resolve_config(None, {**TINY, "max_epochs": 50, "max_steps": 4}), tmp_path / "a", synth_root,
                   progress=False)
    assert result.stopped_by == "max_steps"
    assert result.epochs <= 1 + 4 // 5
    result = train(resolve_config(None, {**TINY, "max_epochs": 500, "time_budget_s": 3}), tmp_path / "b", synth_root,
                   progress=False)
    assert result.stopped_by == "time_budget"
    assert result.epochs < 500


def test_cosine_factor_by_hand() -> None:
    assert cosine_factor(0, 10) == pytest.approx(1.0)
    assert cosine_factor(5, 10) == pytest.approx(0.01 + 0.99 * 0.5)
    assert cosine_factor(10, 10) == pytest.approx(0.01)
    assert cosine_factor(25, 10) == pytest.approx(0.01)  # past the end: stays at the floor
    assert cosine_factor(2, 10) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(0.2 * math.pi)))
    # a time budget ends the run first: 30 of 60 s is half-way even at step 0 of an endless run
    assert cosine_factor(0, float("inf"), elapsed_s=30, budget_s=60) == pytest.approx(0.505)
    assert cosine_factor(8, 10, elapsed_s=30, budget_s=60) == pytest.approx(cosine_factor(8, 10))


def test_cosine_schedule_anneals_per_step_to_one_percent(tmp_path: Path, synth_root: Path) -> None:
    run = tmp_path / "cos"
    train(resolve_config(None, {**TINY, "max_epochs": 2, "scheduler": "cosine"}), run, synth_root, progress=False)
    rows = _rows(run)
    steps = [int(r["step"]) for r in rows]
    assert steps == [5, 10]  # 18 training crops, batch 4 -> 5 steps per epoch
    assert float(rows[0]["lr"]) == pytest.approx(0.01 * 0.505)
    assert float(rows[1]["lr"]) == pytest.approx(0.01 * 0.01)


@pytest.mark.slow
def test_ddp_on_cpu_with_two_processes(tmp_path: Path, synth_root: Path) -> None:
    """The multi-GPU/multi-node path, exercised on CPU: 2 processes talking over gloo."""
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "glofwatch.cli.app", "train", "--data", str(synth_root), "--out", str(run),
           "--model", "tiny-unet", "--weights", "none", "--max-epochs", "1", "--batch-size", "4",
           "--device", "cpu", "--devices", "2", "--strategy", "ddp", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(run)
    n_train = len(list((synth_root / "train" / "images").iterdir()))
    n_fit = n_train - max(1, round(0.1 * n_train))
    # each of the 2 ranks sees half the training images: steps per epoch halve
    per_rank = -(-n_fit // 2)  # ceil(n_fit / 2)
    assert int(rows[0]["step"]) == -(-per_rank // 4)  # ceil(per_rank / batch size 4)
    assert (run / "model.pt").is_file()
