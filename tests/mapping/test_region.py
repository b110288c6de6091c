"""Regional runs: what a folder, a list file and a fetch output stand for; ``map`` over a region; worker memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stand_ins import write_geotiff
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import ConfigError, InputError
from glofwatch.mapping.batch import is_complete
from glofwatch.mapping.region import expand_region, parse_worker_memory

BANDS = ("B02", "B03", "B04", "B08")


def scene_tif(path: Path, size: int = 64, seed: int = 0) -> Path:
    """A small 4-band uint16 L2A-like GeoTIFF (a few dark 'lakes' on bright ground)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.full((4, size, size), 3000, np.uint16)
    r = 8 + 4 * seed
    data[:, r : r + 12, 10:30] = 400
    return write_geotiff(path, data, nodata=0, bands=BANDS)


def band_folder(folder: Path, names: tuple[str, ...] = BANDS, suffix: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for b in names:
        write_geotiff(folder / f"{b}{suffix}.tif", np.full((64, 64), 3000, np.uint16), nodata=0)
    return folder


def fetch_folder(folder: Path, fetched: tuple[str, ...] = ("2023-09-05", "2023-10-05"),
                 rejected: tuple[str, ...] = ("2023-09-20",)) -> Path:
    """The layout `glofwatch fetch` writes: OUT/<date>.tif and OUT/items.json."""
    dates = {d: {"status": "fetched", "file": f"{d}.tif", "items": [f"S2A_{d}"], "used": [f"S2A_{d}"],
                 "reason": None} for d in fetched}
    dates.update({d: {"status": "rejected", "file": None, "items": [f"S2B_{d}"], "used": [],
                      "reason": "cloud 80.0 % of the bbox > --max-cloud 20"} for d in rejected})
    folder.mkdir(parents=True, exist_ok=True)
    for d in fetched:
        scene_tif(folder / f"{d}.tif")
    doc = {"query": {"bbox": [88.17, 27.93, 88.22, 27.97], "start": "2023-09-01", "end": "2023-10-31"},
           "crs": "EPSG:32645", "dates": dict(sorted(dates.items())), "items": []}
    (folder / "items.json").write_text(json.dumps(doc))
    return folder


def skipped(output: str) -> list[str]:
    """Scenes the map command said it skipped."""
    text = " ".join(output.split())
    return sorted(part.split(": outputs in")[0] for part in text.split("skipped ")[1:] if ": outputs in" in part)


def names(region) -> list[str]:  # noqa: ANN001
    return [p.name for p in region.scenes]


def test_a_folder_of_scenes_is_a_region(tmp_path: Path) -> None:
    root = tmp_path / "region"
    scene_tif(root / "b_tile.tif")
    scene_tif(root / "a_tile.tif")
    write_geotiff(root / "dem.tif", np.zeros((64, 64), np.float32))  # one band: not a scene
    band_folder(root / "c_bands")
    (root / "S2A_MSIL2A_20231005T045701_N0509_R119_T45RUL_20231005T084212.SAFE").mkdir()
    item = {"type": "Feature", "id": "x", "assets": {"blue": {"href": "a_tile.tif"}}}
    (root / "d_item.json").write_text(json.dumps(item))
    (root / "other.json").write_text("{}")  # not an item: ignored
    (root / "maps").mkdir()  # no band files at its top: not a scene
    (root / "README.md").write_text("notes")
    region = expand_region([root])
    assert names(region) == ["S2A_MSIL2A_20231005T045701_N0509_R119_T45RUL_20231005T084212.SAFE", "a_tile.tif",
                             "b_tile.tif", "c_bands", "d_item.json"]
    assert region.sources == [f"folder {root}: 5 scene(s)"]
    assert f"{root}: skipped dem.tif (one band: a DEM, mask or SCL, not a scene)" in region.notes
    assert f"{root}: skipped maps/ (no band files at their top level)" in region.notes
    # the same scene reached twice (the folder and one of its files) is mapped once
    again = expand_region([root, root / "a_tile.tif"])
    assert names(again) == names(region)


def test_a_folder_that_is_one_scene_stays_one_scene(tmp_path: Path) -> None:
    bands = band_folder(tmp_path / "beta")
    write_geotiff(bands / "dem.tif", np.zeros((64, 64), np.float32))
    assert expand_region([bands]).scenes == [bands]
    safe = tmp_path / "S2B_MSIL2A_20200101.SAFE"
    (safe / "GRANULE").mkdir(parents=True)
    assert expand_region([safe]).scenes == [safe]
    # a SAFE's IMG_DATA: the bands in R10m/R20m subfolders, one 10 m file per band -> one scene, as the reader has it
    img = tmp_path / "IMG_DATA"
    band_folder(img / "R10m", suffix="_10m")
    band_folder(img / "R20m", names=("B02", "B03", "B04"), suffix="_20m")
    region = expand_region([img])
    assert region.scenes == [img] and region.sources == []
    # a file stays what it is (a missing one is the mapping's error, as before)
    assert expand_region([tmp_path / "nope.tif"]).scenes == [tmp_path / "nope.tif"]


def test_empty_and_scene_less_folders_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: the folder is empty; put scene GeoTIFFs, band folders or \.SAFE"):
        expand_region([tmp_path / "empty"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    write_geotiff(other / "mask.tif", np.zeros((64, 64), np.uint8))
    with pytest.raises(InputError, match=r"other: no scene in this folder \(2 entries, none a multi-band GeoTIFF"):
        expand_region([other])


def test_a_list_file(tmp_path: Path) -> None:
    scene_tif(tmp_path / "tiles" / "t1.tif")
    scene_tif(tmp_path / "tiles" / "t2.tif")
    band_folder(tmp_path / "tiles" / "t3")
    fetch_folder(tmp_path / "lhonak")
    lst = tmp_path / "lists" / "region.txt"
    lst.parent.mkdir()
    lst.write_text("# the tiles of the region\n\n../tiles/t2.tif\n  ../tiles/t1.tif   # the first\n"
                   f"{tmp_path / 'tiles' / 't3'}\n../lhonak\n")
    region = expand_region([lst])
    assert names(region) == ["t2.tif", "t1.tif", "t3", "2023-09-05.tif", "2023-10-05.tif"]
    assert region.sources[-1] == f"list {lst}: 5 scene(s)"
    lst.write_text("../tiles/t1.tif\n../tiles/t9.tif\n")
    with pytest.raises(InputError) as err:
        expand_region([lst])
    assert str(err.value) == (f"{lst}:2: ../tiles/t9.tif not found ({lst.parent / '../tiles/t9.tif'}); fix the path "
                              f"(relative to {lst.parent}) or remove the line")
    lst.write_text("# nothing yet\n\n")
    with pytest.raises(InputError, match=r"region.txt: the scene list is empty; put one scene path per line"):
        expand_region([lst])


def test_a_fetch_output(tmp_path: Path) -> None:
    out = fetch_folder(tmp_path / "lhonak")
    scene_tif(out / "2023-08-01.tif")  # on disk but not in items.json (another query): not part of this fetch
    region = expand_region([out])
    assert names(region) == ["2023-09-05.tif", "2023-10-05.tif"]
    assert region.sources == [f"fetch output {out}: 2 date(s)"]
    assert region.notes == [f"{out / 'items.json'}: 1 date(s) not fetched (cloudy or empty) are not mapped"]
    assert names(expand_region([out / "items.json"])) == names(region)  # the file itself stands for the folder
    areas = tmp_path / "areas"
    fetch_folder(areas / "a", fetched=("2023-09-05",))
    fetch_folder(areas / "b", fetched=("2023-09-06",))
    assert [p.relative_to(areas).as_posix() for p in expand_region([areas]).scenes] == ["a/2023-09-05.tif",
                                                                                       "b/2023-09-06.tif"]
    (out / "2023-10-05.tif").unlink()
    with pytest.raises(InputError, match=r"items.json: date 2023-10-05 was fetched to 2023-10-05.tif but .* is "
                                         r"missing; rerun the same `glofwatch fetch`"):
        expand_region([out])
    none = fetch_folder(tmp_path / "cloudy", fetched=())
    with pytest.raises(InputError, match=r"no date was fetched \(1 rejected as cloudy or empty\)"):
        expand_region([none])


def test_parse_worker_memory() -> None:
    from distributed.system import MEMORY_LIMIT

    assert parse_worker_memory("3GB", 2) == (3_000_000_000, "")
    assert parse_worker_memory("4GiB", 1)[0] == 4 * 2**30
    assert parse_worker_memory(None, 2) == parse_worker_memory("auto", 2) == (MEMORY_LIMIT // 2, "")
    assert parse_worker_memory("none", 4) == (None, "")
    size, note = parse_worker_memory("1GB", 1)
    assert size == 10**9 and "below the ~2 GB one 10980 px tile needs" in note
    with pytest.raises(ConfigError, match=r"--worker-memory 'lots' is not a size; give e.g. 3GB"):
        parse_worker_memory("lots", 1)
    with pytest.raises(ConfigError, match=r"--worker-memory 100MB is below the .* a worker needs to start"):
        parse_worker_memory("100MB", 1)


def test_map_over_a_folder_resumes(tiny_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "region"
    for i in range(2):
        scene_tif(root / f"tile{i}.tif", seed=i)
    runner = CliRunner()
    args = ["map", str(root), "--model", str(tiny_run), "--out", str(tmp_path / "maps"), "--tile", "64",
            "--overlap", "16", "--device", "cpu", "--backend", "torch", "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert f"folder {root}: 2 scene(s)" in first.output and "skipped" not in first.output
    assert all(is_complete(tmp_path / "maps" / f"tile{i}") for i in range(2))
    stamps = [(tmp_path / "maps" / f"tile{i}" / "mask.tif").stat().st_mtime_ns for i in range(2)]
    (tmp_path / "maps" / "tile1" / "summary.json").unlink()  # as if killed before tile1 finished
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert skipped(second.output) == [str(root / "tile0.tif")]
    assert (tmp_path / "maps" / "tile0" / "mask.tif").stat().st_mtime_ns == stamps[0]  # not redone
    assert is_complete(tmp_path / "maps" / "tile1")
    third = runner.invoke(app, args)
    assert third.exit_code == 0 and skipped(third.output) == [str(root / "tile0.tif"), str(root / "tile1.tif")]


def test_worker_memory_reaches_the_local_workers(tiny_run: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import dask
    import distributed

    seen: dict = {}
    real = distributed.LocalCluster

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        cluster = real(*args, **kwargs)
        seen["limits"] = [w.memory_manager.memory_limit for w in cluster.workers.values()]
        seen["pause"] = dask.config.get("distributed.worker.memory.pause")
        seen["allowed_failures"] = dask.config.get("distributed.scheduler.allowed-failures")
        return cluster

    monkeypatch.setattr(distributed, "LocalCluster", spy)
    out = fetch_folder(tmp_path / "lhonak", fetched=("2023-09-05",))
    res = CliRunner().invoke(app, ["map", str(out), "--model", str(tiny_run), "--out", str(tmp_path / "maps"),
                                   "--tile", "64", "--overlap", "16", "--backend", "torch", "--device", "cpu",
                                   "--worker-memory", "1GB", "--worker-threads", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "note: --worker-memory 1GB is below the ~2 GB one 10980 px tile needs" in " ".join(res.output.split())
    assert seen == {"limits": [10**9], "pause": False, "allowed_failures": 1}  # one worker, on Dask for the bound
    assert is_complete(tmp_path / "maps" / "2023-09-05")


def test_worker_memory_errors(tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    import glofwatch.mapping.batch as batch

    scene = scene_tif(tmp_path / "t.tif")
    runner = CliRunner()
    res = runner.invoke(app, ["map", str(scene), "--model", str(tiny_run), "--out", str(tmp_path / "maps"),
                              "--scheduler", "tcp://127.0.0.1:1", "--worker-memory", "3GB"])
    assert res.exit_code == 2
    assert ("--worker-memory 3GB sets the memory of the workers this run starts, but --scheduler tcp://127.0.0.1:1 "
            "has its own" in " ".join(res.output.split()))
    res = runner.invoke(app, ["map", str(scene), "--model", str(tiny_run), "--out", str(tmp_path / "maps"),
                              "--worker-memory", "3 lots"])
    assert res.exit_code == 2 and "--worker-memory '3 lots' is not a size" in res.output

    def dies(scene_path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        from types import SimpleNamespace  # what the scheduler raises after the task's second worker died

        raise distributed.KilledWorker("map-0-t", SimpleNamespace(address="tcp://127.0.0.1:2"), 1)

    monkeypatch.setattr(batch, "run_scene", dies)
    res = runner.invoke(app, ["map", str(scene), "--model", str(tiny_run), "--out", str(tmp_path / "maps"),
                              "--worker-memory", "2GB", "--worker-threads", "--no-progress"])
    assert res.exit_code == 1, res.output
    assert ("the worker mapping it died twice (over its 1.9 GiB --worker-memory, or killed); give each worker more "
            "memory (--worker-memory) or run fewer workers (--workers)" in " ".join(res.output.split()))


def test_local_workers_start_without_a_fixed_malloc_threshold(tiny_run: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import dask
    import distributed  # noqa: F401 - Dask's defaults

    from glofwatch.mapping.batch import worker_environ

    assert dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"] == 65536  # Dask's own
    assert "MALLOC_TRIM_THRESHOLD_" not in worker_environ() and worker_environ()["OMP_NUM_THREADS"] == 1
    assert "MALLOC_TRIM_THRESHOLD_" not in worker_environ(3 * 10**9)  # room for the faster, larger heap
    assert worker_environ(3 * 10**9 - 1)["MALLOC_TRIM_THRESHOLD_"] == 65536  # tight: Dask's, for the lower peak
    scene = scene_tif(tmp_path / "t.tif")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    args = ["map", str(scene), "--model", str(tiny_run), "--tile", "64", "--overlap", "16", "--backend", "torch",
            "--device", "cpu", "--worker-memory", "none", "--no-progress"]  # one worker process on a LocalCluster
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    notes = json.loads((tmp_path / "a" / "t" / "summary.json").read_text())["notes"]
    assert not any("MALLOC_TRIM_THRESHOLD_" in n for n in notes), notes
    # a value set where `glofwatch map` starts still reaches the workers, and the summary says what it costs
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    notes = json.loads((tmp_path / "b" / "t" / "summary.json").read_text())["notes"]
    assert any(n.startswith("MALLOC_TRIM_THRESHOLD_=65536 in this process's environment fixes glibc's mmap "
                            "threshold") for n in notes), notes


def test_the_malloc_note_reads_the_environment_the_process_started_with() -> None:
    import os
    import subprocess
    import sys

    code = ("import os; from glofwatch.runtime import fixed_malloc_threshold_note as n; a = n(); "
            "os.environ['MALLOC_MMAP_THRESHOLD_'] = '1'; print(repr(a), repr(n()))")
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["None", "None"]  # set after start-up: glibc never saw it
    env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.startswith("\"MALLOC_MMAP_THRESHOLD_=131072 in this process's environment fixes")
