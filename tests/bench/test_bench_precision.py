"""``glofwatch bench precision``: lakes each precision flips against fp32, pooled over tiny synthetic tiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glofwatch.bench.precision import pool
from glofwatch.cli.app import app

runner = CliRunner()


def test_pool_adds_the_tiles_up_by_hand() -> None:
    def run(lakes: int, lost: int, gained: int) -> dict:  # type: ignore[type-arg]
        return {"lakes": lakes, "found": lakes - 10, "lost": [{}] * lost, "gained": [{}] * gained,
                "recall_points": 100 * (gained - lost) / lakes}

    tiles = [{"runs": {"fp32": run(164, 0, 0), "bf16": run(164, 2, 0)}},
             {"runs": {"fp32": run(212, 0, 0), "bf16": run(212, 0, 1)}},
             {"runs": {"fp32": run(24, 0, 0)}}]  # a tile bf16 did not map
    totals = pool(tiles, ["fp32", "bf16"])
    assert totals["fp32"] == {"tiles": 3, "lakes": 400, "found": 370, "lost": 0, "gained": 0, "recall_points": 0.0,
                              "worst_tile_points": 0.0}
    b = totals["bf16"]
    assert (b["tiles"], b["lakes"], b["lost"], b["gained"]) == (2, 376, 2, 1)
    assert b["recall_points"] == pytest.approx(-100 / 376)  # one lake net of 376
    assert b["worst_tile_points"] == pytest.approx(-200 / 164)


def test_bench_precision_lists_every_flipped_lake(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "prec"
    res = runner.invoke(app, ["bench", "precision", "--model", str(tiny_run), "--out", str(out), "--seeds", "0,1",
                              "--precisions", "int8,int8+fp32", "--size", "256", "--tile", "128", "--overlap", "16",
                              "--threads", "1", "--in-process", "--cache", str(tmp_path / "scenes")])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "precision.json").read_text())
    assert doc["settings"]["precisions"] == ["fp32", "int8", "int8+fp32"]
    assert [t["seed"] for t in doc["tiles"]] == [0, 1]
    for t in doc["tiles"]:
        ref, q, r = t["runs"]["fp32"], t["runs"]["int8"], t["runs"]["int8+fp32"]
        assert ref["backend_used"] == "openvino" and q["backend_used"] == "openvino-int8"
        assert r["backend_used"] == "openvino-int8+fp32"  # the graph alone, and refined as `map` runs it
        # the tiny model is unsure everywhere: every input ran again in fp32, so nothing flips
        assert r["lost"] == r["gained"] == [] and r["pixel_iou"] == pytest.approx(ref["pixel_iou"], abs=1e-12)
        assert ref["lost"] == ref["gained"] == [] and ref["lakes"] == q["lakes"]  # the same truth
        assert q["found"] == ref["found"] - len(q["lost"]) + len(q["gained"])
        assert all(lk["reference_covered_pct"] >= 50 > lk["covered_pct"] for lk in q["lost"])
    lakes = sum(t["runs"]["int8"]["lakes"] for t in doc["tiles"])
    assert lakes > 0 and doc["totals"]["int8"]["lakes"] == lakes
    flips = sum(len(t["runs"]["int8"]["gained"]) - len(t["runs"]["int8"]["lost"]) for t in doc["tiles"])
    assert doc["totals"]["int8"]["recall_points"] == pytest.approx(100 * flips / lakes)
    text = (out / "precision.md").read_text()
    assert "| int8 | 2 |" in text and ("Flipped lakes" in text or "No precision flips a lake" in text)
    assert (tmp_path / "scenes" / "scene-256-s1-c15" / "lakes_mask.tif").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--precisions", "auto"], "name the precisions to compare"),
    (["--precisions", "fp32"], "at least one precision besides fp32"),
    (["--precisions", "fp32+fp32"], "fp32+fp32 is fp32"),
    (["--precisions", "int9+fp32"], "unknown precision 'int9'"),
    (["--precisions", "int9"], "unknown precision 'int9'"),
    (["--seeds", "0,x"], "--seeds '0,x': give whole numbers"),
    (["--seeds", ","], "--seeds: give at least one synthetic tile seed"),
])
def test_bench_precision_errors_name_the_fix(tiny_run: Path, tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["bench", "precision", "--model", str(tiny_run), "--out", str(tmp_path), *args])
    assert res.exit_code != 0 and message in res.output, res.output


def test_bench_precision_needs_a_run_folder_and_bf16(tiny_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    res = runner.invoke(app, ["bench", "precision", "--model", "tiny-unet", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "tiny-unet: not a run folder with model.pt" in res.output
    monkeypatch.setattr("glofwatch.infer.precision.cpu_has_bf16", lambda: False)
    res = runner.invoke(app, ["bench", "precision", "--model", str(tiny_run), "--out", str(tmp_path),
                              "--precisions", "int8,bf16"])
    assert res.exit_code != 0 and "this CPU has no native bfloat16" in res.output
