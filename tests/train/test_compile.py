"""``compile: true``: the config switch, and the task running its network through ``torch.compile``."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from glofwatch.config import TrainConfig, load_config, resolve_config
from glofwatch.train.fit import train
from glofwatch.train.task import SegmentationTask

TINY = {"model": "tiny-unet", "weights": "none", "batch_size": 4, "loss": "bce+dice", "lr": 0.01,
        "val_fraction": 0.25, "seed": 3}


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``torch.compile`` with the "eager" backend (TorchDynamo traces the network; Inductor's code generation
    takes over a minute on CPU, too slow for the test suite). Records each call."""
    calls: list[Any] = []
    real = torch.compile

    def compile_eager(model: Any, **kwargs: Any) -> Any:
        calls.append(model)
        return real(model, **{**kwargs, "backend": "eager"})

    monkeypatch.setattr(torch, "compile", compile_eager)
    return calls


def test_compile_switch_round_trips(tmp_path: Path) -> None:
    assert TrainConfig().compile is False
    cfg = resolve_config("unet-ce", {"compile": "true"})
    assert cfg.compile is True
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["compile"] is True
    assert load_config(tmp_path / "config.yaml") == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k != "compile"}  # a config.yaml saved before the switch
    assert TrainConfig.from_dict(old).compile is False


def _batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"image": torch.rand(2, 3, 32, 32, generator=gen) * 255,
            "mask": torch.rand(2, 32, 32, generator=gen) > 0.7,
            "valid": torch.ones(2, 32, 32, dtype=torch.bool)}


def test_training_step_with_compile_off(eager_compile: list[Any]) -> None:
    task = SegmentationTask(resolve_config(None, TINY).to_dict(), init_weights=False)
    assert task.network() is task.net
    opt = torch.optim.Adam(task.net.parameters(), lr=0.01)
    before = [p.detach().clone() for p in task.net.parameters()]
    b = _batch()
    loss = task.loss_fn(task(b["image"], b["valid"]), b["mask"], b["valid"])
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(before, task.net.parameters(), strict=True))
    assert eager_compile == []


def test_compiled_network_matches_eager_and_keeps_plain_weights(eager_compile: list[Any]) -> None:
    plain = SegmentationTask(resolve_config(None, TINY).to_dict(), init_weights=False).eval()
    task = SegmentationTask(resolve_config(None, {**TINY, "compile": True}).to_dict(), init_weights=False).eval()
    task.load_state_dict(plain.state_dict())
    b = _batch()
    with torch.no_grad():
        torch.testing.assert_close(task(b["image"], b["valid"]), plain(b["image"], b["valid"]))
    assert eager_compile == [task.net]  # compiled once, at the first forward
    assert task.network() is not task.net
    assert list(task.state_dict()) == list(plain.state_dict())  # no "_orig_mod." keys
    clone = pickle.loads(pickle.dumps(task))  # the compiled wrapper is dropped and rebuilt when needed
    with torch.no_grad():
        torch.testing.assert_close(clone(b["image"], b["valid"]), plain(b["image"], b["valid"]))


def test_train_with_compile_on(tmp_path: Path, synth_root: Path, eager_compile: list[Any]) -> None:
    run = tmp_path / "run"
    res = train(resolve_config(None, {**TINY, "compile": True, "max_epochs": 1}), run, synth_root, progress=False)
    assert res.epochs == 1 and eager_compile
    assert load_config(run / "config.yaml").compile is True
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    plain = SegmentationTask(resolve_config(None, TINY).to_dict(), init_weights=False)
    assert set(state) == set(plain.state_dict())
    assert (run / "model.pt").is_file()
