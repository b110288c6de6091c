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


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path: Path) -> None:
    import subprocess
    import sys

    target = tmp_path / "probability.tif"
    # a writer killed mid-write: its temporary file stays, named after its (now dead) process
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(child.stdout)
    stale = tmp_path / f".probability.tif.tmp-{dead}-abcd.tif"
    stale.write_bytes(b"x" * 1000)
    live = tmp_path / f".probability.tif.tmp-{os.getppid()}-efgh.tif"  # a running writer's file stays
    live.write_bytes(b"y")
    other = tmp_path / f".mask.tif.tmp-{dead}-ijkl.tif"  # another target's file is not this write's business
    other.write_bytes(b"z")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert not stale.exists() and live.exists() and other.exists()
