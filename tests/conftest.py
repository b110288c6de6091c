"""Session fixtures shared by every test folder: a tiny synthetic data set and a tiny trained run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# Tests use tiny models: one thread is as fast, and immune to the collapse that
# spinning OpenMP threads suffer when other processes share the two cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported-model and YOLO-label caches go to a temporary folder, not ~/.cache."""
    import os

    cache = tmp_path_factory.mktemp("cache")
    os.environ["GLOFWATCH_CACHE_DIR"] = str(cache / "exports")
    os.environ["GLOFWATCH_CACHE"] = str(cache)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic data set in the study layout (64x64 crops, 24 train / 8 test)."""
    from glofwatch.scene.synth import write_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(root, n=32, size=64, seed=7, test_fraction=0.25)
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, synth_root: Path) -> Path:
    """A run folder of the tiny test model trained for 2 epochs on :func:`synth_root`."""
    from glofwatch.config import resolve_config
    from glofwatch.train.fit import train

    run = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = resolve_config(None, {"model": "tiny-unet", "weights": "none", "max_epochs": 2, "batch_size": 4,
                                "loss": "bce+dice", "lr": 0.01, "val_fraction": 0.25, "preset": "tiny-test"})
    train(cfg, run, synth_root, progress=False)
    return run

