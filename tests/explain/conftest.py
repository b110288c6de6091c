"""Fixtures for the explain tests: a trivial lake task (dark blue discs on brown noise) and a tiny model that solves it.

Training the tiny U-Net on it for a few dozen steps gives a model that finds
the discs (IoU > 0.9), which is what the Grad-CAM tests need; it takes a few
seconds on one CPU core, far less than a Lightning run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = 64


def make_discs(n: int, size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, size, size, 3) uint8 of brown noise with 1-2 dark blue discs, and their masks
    (n, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    imgs = np.zeros((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        img = (np.array([130, 95, 60], np.float32) + rng.normal(0, 25, (size, size, 1))
               + rng.normal(0, 10, (size, size, 3)))
        m = np.zeros((size, size), bool)
        for _ in range(rng.integers(1, 3)):
            r = rng.uniform(5, 12)
            cy, cx = rng.uniform(r, size - r, 2)
            m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[m] = np.array([20, 45, 110], np.float32) + rng.normal(0, 8, (int(m.sum()), 3))
        imgs[i] = np.clip(img, 0, 255).astype(np.uint8)
        masks[i] = m
    return imgs, masks


def brown_noise(size: int = SIZE, seed: int = 99) -> np.ndarray:
    """A lake-free image (size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    img = np.array([130, 95, 60], np.float32) + rng.normal(0, 25, (size, size, 1)) + rng.normal(0, 10, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def discs_bundle():
    """A ModelBundle of ``tiny-unet`` trained on discs until it finds them (train IoU >= 0.9)."""
    import torch

    from glofwatch.config import resolve_config
    from glofwatch.data.normalize import normalize
    from glofwatch.models import build_model
    from glofwatch.models.bundle import ModelBundle

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than 2 contended threads for a model this small
    try:
        torch.manual_seed(0)
        cfg = resolve_config(None, {"model": "tiny-unet", "weights": "none", "preset": "discs-test",
                                    "study_row": "U-Net (none) / CE"})
        imgs, masks = make_discs(16, seed=0)
        x = normalize(torch.from_numpy(imgs).permute(0, 3, 1, 2).float(), cfg.input_spec)
        y = torch.from_numpy(masks).float()[:, None]
        net = build_model("tiny-unet", weights=None)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(0)
        iou = 0.0
        for step in range(200):
            net.train()
            idx = torch.randint(0, len(x), (8,), generator=gen)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 10 == 9:
                net.eval()
                with torch.no_grad():
                    p = net(x) > 0
                iou = float((p & (y > 0)).sum() / (p | (y > 0)).sum().clamp_min(1))
                if iou >= 0.9:
                    break
        assert iou >= 0.9, f"tiny model did not learn the disc task (IoU {iou:.2f})"
        return ModelBundle(net.eval(), cfg, {"val_iou": iou}, {})
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def discs_run(tmp_path_factory: pytest.TempPathFactory, discs_bundle) -> Path:
    """A run folder (model.pt, metrics.csv, run.json) of :func:`discs_bundle` and its data root (study layout)."""
    from glofwatch.models.bundle import save_bundle

    base = tmp_path_factory.mktemp("discs")
    root = base / "data"
    for split, seed, n in (("train", 1, 4), ("test", 2, 6)):
        imgs, masks = make_discs(n, seed=seed)
        masks[-1] = 0  # one test image without lake: its false alarms still count
        imgs[-1] = brown_noise(seed=seed)
        for d in ("images", "labels"):
            (root / split / d).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(imgs[i]).save(root / split / "images" / f"disc_{i:02d}.png")
            Image.fromarray(masks[i] * 255).save(root / split / "labels" / f"disc_{i:02d}.png")
    run = base / "run"
    run.mkdir()
    save_bundle(run / "model.pt", discs_bundle.net, discs_bundle.config, discs_bundle.metrics, {})
    (run / "run.json").write_text(json.dumps({"data_root": str(root)}))
    with (run / "metrics.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss", "train_iou", "val_iou", "lr"])
        for e, (tl, vl, ti, vi) in enumerate([(0.7, 0.6, 0.2, 0.3), (0.4, 0.45, 0.6, 0.55), (0.2, 0.3, 0.85, 0.8)], 1):
            w.writerow([e, tl, vl, ti, vi, 0.01])
    return run
