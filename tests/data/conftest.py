"""Fixtures: tiny image/mask folders built in tmp_path for the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from glof_data_helpers import make_pairs


@pytest.fixture
def generic_root(tmp_path: Path) -> Path:
    """ROOT/{images,masks} with img_1, img_2, img_10 (32x32, 0/255 masks)."""
    root = tmp_path / "generic"
    make_pairs(root, ["img_10", "img_2", "img_1"])
    return root


@pytest.fixture
def study_root(tmp_path: Path) -> Path:
    """ROOT/{train,test}/{images,labels}: 3 train pairs, 2 test pairs."""
    root = tmp_path / "AI4GLOF_Dataset"
    make_pairs(root / "train", ["img_0001", "img_0002", "img_0003"], mask_dir="labels")
    make_pairs(root / "test", ["img_0101", "img_0102"], mask_dir="labels")
    return root
