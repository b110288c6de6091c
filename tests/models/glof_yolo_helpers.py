"""Tiny data for the YOLOv8-Seg tests: 64 px crops with elliptic lakes in the study layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LAKE_RGB = (30, 60, 120)
LAND_RGB = (150, 120, 90)


def write_lake_crops(root: Path, n_train: int = 8, n_test: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Write ROOT/{train,test}/{images,labels}/img_<i>.png; image 0 of each split has no lake."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = np.clip(np.array(LAND_RGB) + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
            mask = np.zeros((size, size), np.uint8)
            for _ in range(0 if i == 0 else int(rng.integers(1, 3))):
                centre = (int(rng.integers(12, size - 12)), int(rng.integers(12, size - 12)))
                axes = (int(rng.integers(4, 12)), int(rng.integers(3, 8)))
                cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            img[mask > 0] = LAKE_RGB
            Image.fromarray(img).save(root / split / "images" / f"img_{i}.png")
            Image.fromarray(mask * 255).save(root / split / "labels" / f"img_{i}.png")
    return root


def block_network(monkeypatch, attempts: list) -> None:  # noqa: ANN001 - pytest.MonkeyPatch
    """Make every socket connection and name lookup fail, recording each attempt in ``attempts``."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
