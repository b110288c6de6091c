"""``glofwatch map --method ndwi``: whole scenes mapped by the NDWI baseline, without a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from skimage.filters import threshold_otsu
from stand_ins import write_geotiff
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.mapping.batch import OUTPUT_FILES, is_complete

EDGE = 1e-5
"""Pixels whose NDWI is this close to the threshold may fall either side (float32 probabilities, blending)."""


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic scenes (256 px, B02 B03 B04 B08): seed 3 as plain DN, seed 4 as DN of baseline 05.09 (offset
    -1000) in band files."""
    from glofwatch.scene.synth import write_synthetic_scene

    root = tmp_path_factory.mktemp("ndwi")
    plain = write_synthetic_scene(root / "plain", size=256, seed=3).scene
    l2a = write_synthetic_scene(root / "l2a", size=256, seed=4, processing_baseline="05.09", bands_as_files=True)
    for extra in ("lakes_mask.tif", "dem.tif"):  # leave only B02..B08 in the folder
        (l2a.out_dir / extra).unlink(missing_ok=True)
    return {"plain": plain, "l2a": l2a.out_dir}


def by_hand(scene: Path, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """(NDWI of DN + offset clipped at 0, valid) of the whole scene (256 px: the overview is the scene itself)."""
    if scene.is_dir():
        g, n = (rasterio.open(scene / f"{b}.tif").read(1) for b in ("B03", "B08"))
    else:
        with rasterio.open(scene) as ds:
            names = list(ds.descriptions)
            data = ds.read()
        g, n = data[names.index("B03")], data[names.index("B08")]
    valid = (g != 0) & (n != 0)  # nodata 0
    g = np.clip(g.astype(np.float64) + offset, 0, None)
    n = np.clip(n.astype(np.float64) + offset, 0, None)
    s = g + n
    index = np.where(s > 0, (g - n) / np.where(s > 0, s, 1.0), 0.0)
    return index, valid


def read_mask(out: Path) -> np.ndarray:
    with rasterio.open(out / "mask.tif") as ds:
        return ds.read(1)


def assert_mask_is_index_above(mask: np.ndarray, index: np.ndarray, valid: np.ndarray, t: float) -> None:
    """mask 1 exactly where NDWI > t on valid pixels, 0 elsewhere on them, 255 on nodata.

    The window screen keeps every tile with a pixel of NDWI > 0 (the DN offset cannot lift a pixel's index
    above 0 unless green exceeds NIR), so with t >= 0 no lake pixel lies in a skipped tile.
    """
    assert t >= 0.0
    sure = valid & (np.abs(index - t) > EDGE)
    assert np.count_nonzero(valid & ~sure) < 20
    np.testing.assert_array_equal(mask[sure] == 1, index[sure] > t)
    assert set(np.unique(mask[valid]).tolist()) <= {0, 1}
    assert (mask[~valid] == 255).all()


def test_ndwi_maps_without_a_model_with_the_scene_otsu_threshold_and_resumes(scenes: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["map", str(scenes["plain"]), "--method", "ndwi", "--out", str(tmp_path), "--tile", "128",
            "--overlap", "16", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = tmp_path / "scene"
    assert is_complete(out) and all((out / f).is_file() for f in OUTPUT_FILES)
    s = json.loads((out / "summary.json").read_text())
    assert s["model"] == "ndwi-otsu" and s["backend"] == "ndwi" and s["threshold"] == 0.5
    assert s["ndwi"]["method"] == "otsu" and s["ndwi"]["overview_shape"] == [256, 256]
    assert s["dn_offset"] == 0.0 and s["input"] == "dn bands B03 B08 as they are"
    assert s["resume"]["method"] == {"name": "ndwi", "threshold": "otsu"} and "model_sha256" not in s["resume"]
    t = s["ndwi"]["threshold"]
    assert any(f"NDWI threshold {t:.4f} (Otsu" in n for n in s["notes"])
    index, valid = by_hand(scenes["plain"], 0.0)
    assert t == pytest.approx(threshold_otsu(index[valid], nbins=256), abs=1e-12)
    mask = read_mask(out)
    assert_mask_is_index_above(mask, index, valid, t)
    assert s["lake_pixels"] == np.count_nonzero(mask == 1) and s["n_lakes"] > 0
    with rasterio.open(scenes["plain"].parent / "lakes_mask.tif") as ds:
        truth = ds.read(1) == 1
    assert np.count_nonzero(truth & (mask == 1)) / np.count_nonzero(truth) > 0.5  # it finds the lakes
    stamp = (out / "mask.tif").stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "skipped" in again.output and "complete for this method" in again.output
    assert (out / "mask.tif").stat().st_mtime_ns == stamp
    other = runner.invoke(app, [*args, "--ndwi-threshold", "0.3"])  # another threshold: another key, redone
    assert other.exit_code == 0 and "redone" in other.output and (out / "mask.tif").stat().st_mtime_ns != stamp


def test_fixed_ndwi_thresholds(scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    index, valid = by_hand(scenes["plain"], 0.0)
    lake = {}
    for t in ("0.0", "0.3"):
        out = tmp_path / t
        res = runner.invoke(app, ["map", str(scenes["plain"]), "--method", "ndwi", "--ndwi-threshold", t,
                                  "--out", str(out), "--tile", "128", "--overlap", "16", "--no-progress"])
        assert res.exit_code == 0, res.output
        s = json.loads((out / "scene" / "summary.json").read_text())
        assert s["model"] == f"ndwi-{float(t):g}" and s["ndwi"]["threshold"] == float(t)
        assert s["ndwi"]["method"] == "fixed" and s["ndwi"]["overview_shape"] is None
        assert s["resume"]["method"]["threshold"] == float(t)
        mask = read_mask(out / "scene")
        assert_mask_is_index_above(mask, index, valid, float(t))
        lake[t] = s["lake_pixels"]
    assert 0 < lake["0.3"] < lake["0.0"]


def test_ndwi_on_dask_takes_each_scenes_dn_offset(scenes: dict[str, Path], tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["map", str(scenes["plain"]), str(scenes["l2a"]), "--method", "ndwi",
                                   "--out", str(tmp_path), "--tile", "128", "--overlap", "16", "--workers", "2",
                                   "--worker-threads", "--no-progress"])
    assert res.exit_code == 0, res.output
    plain = json.loads((tmp_path / "scene" / "summary.json").read_text())
    l2a = json.loads((tmp_path / "l2a" / "summary.json").read_text())
    assert l2a["dn_offset"] == -1000.0 and l2a["model"] == "ndwi-otsu"
    assert l2a["ndwi"]["threshold"] != plain["ndwi"]["threshold"]  # each scene its own Otsu threshold
    index, valid = by_hand(scenes["l2a"], -1000.0)
    t = l2a["ndwi"]["threshold"]
    assert t == pytest.approx(threshold_otsu(index[valid], nbins=256), abs=1e-12)
    raw, _ = by_hand(scenes["l2a"], 0.0)
    assert abs(threshold_otsu(raw[valid], nbins=256) - t) > 0.01  # the offset matters
    assert_mask_is_index_above(read_mask(tmp_path / "l2a"), index, valid, t)


def test_ndwi_errors(scenes: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = ["--out", str(tmp_path / "maps"), "--no-progress"]
    res = runner.invoke(app, ["map", str(scenes["plain"]), *out])
    assert res.exit_code == 2 and "--method model needs --model RUN" in res.output and "--method ndwi" in res.output
    res = runner.invoke(app, ["map", str(scenes["plain"]), "--method", "ndwi", "--ndwi-threshold", "much", *out])
    assert res.exit_code == 2 and "NDWI threshold 'much' is not valid" in res.output
    res = runner.invoke(app, ["map", str(scenes["plain"]), "--method", "ndwi", "--threshold", "0.4", *out])
    assert res.exit_code == 2 and "--ndwi-threshold" in res.output
    res = runner.invoke(app, ["map", str(scenes["plain"]), "--method", "ndwi", "--model", "runs/x", *out])
    assert res.exit_code == 2 and "--model runs/x is not used by --method ndwi" in res.output
    res = runner.invoke(app, ["map", str(scenes["plain"]), "--ndwi-threshold", "0.1", "--model", "runs/x", *out])
    assert res.exit_code == 2 and "--ndwi-threshold 0.1 is for --method ndwi" in res.output
    res = runner.invoke(app, ["map", str(scenes["plain"]), "--method", "mndwi", *out])
    assert res.exit_code == 2 and "--method mndwi is unknown" in res.output
    rgb = np.full((3, 64, 64), 800, np.uint16)
    scene = write_geotiff(tmp_path / "rgb.tif", rgb, nodata=0, bands=("B02", "B03", "B04"))
    res = runner.invoke(app, ["map", str(scene), "--method", "ndwi", *out])
    assert res.exit_code == 2, res.output
    line = " ".join(res.output.split())
    assert "rgb.tif: NDWI needs the green (B03) and near-infrared (B08) bands, but the input has B02 B03 B04 " \
           "(no B08)" in line
    assert "1 of 1 scene(s) failed" in line and not (tmp_path / "maps" / "rgb" / "summary.json").exists()
