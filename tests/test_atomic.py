"""Atomic writes: nothing under the final name until the write is complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glofwatch.io.atomic import atomic_path, write_json_atomic, write_text_atomic


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_json_nan_becomes_null(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "m.json", {"iou": float("nan"), "xs": [1.0, float("nan")]})
    assert (tmp_path / "m.json").read_text().replace(" ", "").replace("\n", "") == '{"iou":null,"xs":[1.0,null]}'
