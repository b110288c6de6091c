"""``glofwatch data split``: seeded held-out test split of a one-folder data set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from glof_data_helpers import make_pairs
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.data.dataset import GlacialLakesDataset
from glofwatch.data.split import split_train_val

runner = CliRunner()


def test_split_links_a_seeded_test_share(tmp_path: Path) -> None:
    names = [f"img_{i}" for i in range(1, 11)]
    make_pairs(tmp_path / "real", names)
    out = tmp_path / "held"
    res = runner.invoke(app, ["data", "split", str(tmp_path / "real"), str(out), "--test-fraction", "0.3",
                              "--seed", "4"])
    assert res.exit_code == 0, res.output
    assert "7 train / 3 test pairs (symlinks, seed 4)" in res.output
    _, test_idx = split_train_val(10, 0.3, 4)
    expected_test = [f"img_{i + 1}.png" for i in test_idx]  # natural order img_1 .. img_10
    doc = json.loads((out / "split.json").read_text())
    assert doc["files"]["test"] == expected_test
    assert sorted(p.name for p in (out / "test" / "labels").iterdir()) == sorted(expected_test)
    assert not set(doc["files"]["train"]) & set(doc["files"]["test"])
    link = out / "test" / "images" / expected_test[0]
    assert link.is_symlink() and link.resolve() == (tmp_path / "real" / "images" / expected_test[0]).resolve()
    test = GlacialLakesDataset(out, "test")
    assert len(test) == 3 and len(GlacialLakesDataset(out, "train")) == 7
    # the linked mask is the source mask: square at rows 2 + i
    item = test[0]
    i = names.index(Path(expected_test[0]).stem)
    assert np.flatnonzero(item["mask"].numpy().any(axis=1))[0] == 2 + i


def test_split_copy_and_errors(tmp_path: Path) -> None:
    make_pairs(tmp_path / "real", ["a", "b", "c", "d"])
    res = runner.invoke(app, ["data", "split", str(tmp_path / "real"), str(tmp_path / "o"), "--copy"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "o" / "train" / "images" / "a.png").is_symlink()
    res = runner.invoke(app, ["data", "split", str(tmp_path / "real"), str(tmp_path / "o")])
    assert res.exit_code == 2 and "already holds train/ or test/; choose a new folder" in res.output
    (tmp_path / "real" / "masks" / "d.png").unlink()
    res = runner.invoke(app, ["data", "split", str(tmp_path / "real"), str(tmp_path / "p")])
    assert res.exit_code == 2 and "d.png: no mask named 'd.*'" in res.output and "glofwatch data check" in res.output
