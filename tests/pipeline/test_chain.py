"""The warning chain: dated scenes -> maps -> monitor -> risk -> alerts, resumable, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glofwatch.errors import InputError
from glofwatch.pipeline.chain import run_warning_chain


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from glofwatch.scene.synth.series import write_synthetic_series

    out = tmp_path_factory.mktemp("series")
    write_synthetic_series(out, n_dates=2, size=512, seed=0)
    return out


def test_chain_writes_every_stage_and_resumes_without_remapping(tiny_run: Path, series: Path, tmp_path: Path) -> None:
    dates = sorted(p.name for p in series.iterdir() if (p / "scene.tif").is_file())
    scenes = {d: series / d / "scene.tif" for d in dates}
    lines: list[str] = []
    dem = series / dates[0] / "dem.tif"
    run = run_warning_chain(scenes, tiny_run, tmp_path, dem=dem, backend="torch", device="cpu", say=lines.append)
    assert list(run.maps) == dates
    for d in dates:
        summary = json.loads((tmp_path / "maps" / d / "summary.json").read_text())
        assert summary["status"] == "done" and summary["date"] == d
        assert summary["terrain"]["dem"] == str(dem.resolve())  # the maps use the DEM too
    monitor = json.loads((tmp_path / "monitor" / "monitor.json").read_text())
    assert monitor["dates"] == dates
    assert (tmp_path / "risk" / "risk.gpkg").is_file() and (tmp_path / "alerts" / "alerts.json").is_file()
    assert [line.split(":")[0] for line in lines] == [f"map {d}" for d in dates] + ["monitor", "risk", "alerts"]

    again: list[str] = []
    run_warning_chain(scenes, tiny_run, tmp_path, dem=dem, backend="torch", device="cpu", say=again.append)
    assert all("complete, kept" in line for line in again[:2])  # finished maps are not redone
    changed: list[str] = []
    run_warning_chain(scenes, tiny_run, tmp_path, backend="torch", device="cpu", say=changed.append)
    assert not any("complete, kept" in line for line in changed[:2])  # maps without the DEM are other maps


def test_chain_refuses_one_date_bad_dates_and_missing_scenes(tiny_run: Path, series: Path, tmp_path: Path) -> None:
    scene = next(series.glob("*/scene.tif"))
    with pytest.raises(InputError, match="1 dated scene"):
        run_warning_chain({"2020-10-15": scene}, tiny_run, tmp_path)
    with pytest.raises(InputError, match="scene date 'autumn' is not YYYY-MM-DD"):
        run_warning_chain({"autumn": scene, "2020-10-15": scene}, tiny_run, tmp_path)
    with pytest.raises(InputError, match="nope.tif: scene not found for 2021-10-15"):
        run_warning_chain({"2020-10-15": scene, "2021-10-15": tmp_path / "nope.tif"}, tiny_run, tmp_path)
