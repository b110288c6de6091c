"""``glofwatch watch``: fetch new dates from a loopback STAC API, map, track, alert; idempotent, resumable, locked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from rasterio.warp import transform_bounds
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.io.files import read_json


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str], tuple[float, ...]]]:
    """Three yearly dates of a synthetic series (baseline 05.09, SCL) served on 127.0.0.1."""
    from glofwatch.bench.loopback import build_catalog, serve_files, serve_stac
    from glofwatch.scene.synth.series import write_synthetic_series

    mp = pytest.MonkeyPatch()
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")
    root = tmp_path_factory.mktemp("watch-catalog")
    series = write_synthetic_series(root / "series", n_dates=3, size=256, seed=5, processing_baseline="05.09",
                                    scl=True)
    dates = [d.isoformat() for d in series.dates]
    grid = series.scenes[0].grid
    left, bottom, right, top = grid.bounds
    bbox = transform_bounds(grid.crs, "EPSG:4326", left + 60, bottom + 60, right - 60, top - 60)
    with serve_files(root) as (base, _log):
        scenes = [(dt.datetime.combine(d, dt.time(4, 57, 9)), s.scene) for d, s in zip(series.dates, series.scenes,
                                                                                         strict=True)]
        items, collection = build_catalog(scenes, root / "catalog", f"{base}/catalog", block=128)
        with serve_stac(items, collection) as api:
            yield api, dates, tuple(bbox)
    mp.undo()


def write_config(path: Path, api: str, bbox: tuple[float, ...], model: Path, end: str = "2021-12-31") -> Path:
    doc = {"out": "out", "catalog": api, "start": "2019-01-01", "end": end, "model": str(model), "max_cloud": 50,
           "device": "cpu", "areas": [{"name": "valley", "bbox": list(bbox), "thresholds": {"min_level": "green"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file() and p.name != ".watch.lock"}


def test_watch_fetches_maps_tracks_alerts_then_writes_nothing(catalog, tiny_run: Path, tmp_path: Path) -> None:  # noqa: ANN001
    api, dates, bbox = catalog
    config = write_config(tmp_path / "watch.yaml", api, bbox, tiny_run)
    runner = CliRunner()
    res = runner.invoke(app, ["watch", str(config)])
    assert res.exit_code == 0, res.output
    area = tmp_path / "out" / "valley"
    for d in dates:
        assert f"[valley] {d}: fetched {d}.tif" in res.output and f"[valley] {d}: mapped" in res.output
        assert (area / "scenes" / f"{d}.tif").is_file() and (area / "maps" / d / "summary.json").is_file()
    assert "[valley] monitor:" in res.output and "[valley] alerts:" in res.output
    assert "valley: 3 new date(s), 3 mapped, 3 in total; alerts updated" in res.output
    for f in ("monitor/monitor.json", "risk/risk.json", "alerts/alerts.json", "alerts/state.json", "scenes/items.json"):
        assert (area / f).is_file(), f
    state = read_json(area / "watch.json")
    assert state["fetched"] == dates and state["mapped"] == dates and state["rejected"] == {}
    assert sorted(state["chain"]["maps"]) == dates
    summary = read_json(area / "maps" / dates[0] / "summary.json")
    assert summary["dn_offset"] == -1000.0 and summary["scl"] is not None and summary["resume"]["hash"]
    before = mtimes(tmp_path / "out")
    again = runner.invoke(app, ["watch", str(config)])
    assert again.exit_code == 0, again.output
    assert "[valley] no new dates (3 fetched before" in again.output and "up to date (3 dates)" in again.output
    assert "valley: 0 new date(s), 0 mapped, 3 in total; alerts unchanged" in again.output
    assert mtimes(tmp_path / "out") == before


def test_watch_resumes_after_a_kill_and_is_locked(catalog, tiny_run: Path, tmp_path: Path,  # noqa: ANN001
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from filelock import FileLock

    import glofwatch.changes.monitor as monitor
    import glofwatch.scene.acquire as acquire
    from glofwatch.watch.config import load_config
    from glofwatch.watch.run import run_watch

    api, dates, bbox = catalog
    cfg = load_config(write_config(tmp_path / "w.yaml", api, bbox, tiny_run, end="2020-12-31"))
    area = tmp_path / "out" / "valley"
    real_write = acquire.write_date_cog
    calls = []

    def killed_on_second(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies while writing the second date
        return real_write(*args, **kwargs)

    monkeypatch.setattr(acquire, "write_date_cog", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_watch(cfg)
    assert (area / "scenes" / f"{dates[0]}.tif").is_file() and not (area / "scenes" / f"{dates[1]}.tif").exists()
    assert not (area / "watch.json").exists()
    monkeypatch.setattr(acquire, "write_date_cog", real_write)

    def killed_monitor(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt  # dies after the maps, before tracking

    monkeypatch.setattr(monitor, "run_monitor", killed_monitor)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_watch(cfg, say=lines.append)
    assert f"[valley] {dates[0]}: kept {dates[0]}.tif (1 item(s))" in lines  # not read again
    state = read_json(area / "watch.json")
    assert state["fetched"] == dates[:2] and state["mapped"] == dates[:2] and state["chain"] is None
    monkeypatch.undo()
    with FileLock(str(tmp_path / "out" / ".watch.lock"), timeout=0):
        res = CliRunner().invoke(app, ["watch", str(tmp_path / "w.yaml")])
        assert res.exit_code == 2 and "another `glofwatch watch` is running" in res.output
    lines.clear()
    runs = run_watch(cfg, say=lines.append)
    assert runs[0].new_dates == [] and runs[0].mapped == [] and runs[0].chain
    assert (area / "alerts" / "alerts.json").is_file() and read_json(area / "watch.json")["chain"] is not None


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: 2023-01-01\nareas: []\n")
    res = CliRunner().invoke(app, ["watch", str(bad)])
    assert res.exit_code == 2 and "no areas; list at least one under areas:" in res.output
    bad.write_text("start: 2023-01-01\nmodel: m\nareas:\n  - name: a b\n    bbox: [1, 2, 3, 4]\n")
    res = CliRunner().invoke(app, ["watch", str(bad)])
    assert res.exit_code == 2 and "name 'a b' must be letters, digits" in res.output
    bad.write_text("start: 2023-01-01\nmodel: m\nareas:\n  - name: a\n    bbox: [88, 28, 87, 29]\n")
    res = CliRunner().invoke(app, ["watch", str(bad)])
    assert res.exit_code == 2 and "area 'a': --bbox 88 28 87 29: west 88 is east of east 87" in res.output
