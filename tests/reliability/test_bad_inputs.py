"""Bad input through the real CLI: one line naming the input and the fix, exit status 2, nothing half-written.

Every case here is a file a user's pipeline could hand over: truncated or corrupt images and
rasters, odd sizes and band counts, masks with stray values, NaN, missing CRS, rotated grids,
odd file names, symlink loops, a full disk or a read-only folder, checkpoints that are truncated
or belong to another model, and configs with unknown keys or wrong types.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from glofwatch.cli.app import app

runner = CliRunner()
pytestmark = pytest.mark.bad_input


def one_line_error(args: list[str], *needles: str) -> str:
    """Run the CLI; assert exit 2 and a single ``error:`` line that holds every needle."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def crop_pair(root: Path, name: str, size: int = 64, value: int = 255) -> None:
    rng = np.random.default_rng(0)
    png(root / "images" / f"{name}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    mask = np.zeros((size, size), np.uint8)
    mask[10:30, 10:30] = value
    png(root / "masks" / f"{name}.png", mask)


# ---- images handed to predict -------------------------------------------------------------

@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    good = png(tmp_path / "in" / "good.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = good.read_bytes()
    out = {"good": good}
    out["truncated"] = tmp_path / "in" / "truncated.png"
    out["truncated"].write_bytes(data[: len(data) // 2])
    out["empty"] = tmp_path / "in" / "empty.png"
    out["empty"].write_bytes(b"")
    jpg = tmp_path / "in" / "corrupt.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpg)
    jpg.write_bytes(jpg.read_bytes()[:200])
    out["corrupt_jpeg"] = jpg
    out["not_an_image"] = tmp_path / "in" / "notes.png"
    out["not_an_image"].write_text("these are field notes, not a picture")
    return out


@pytest.mark.parametrize("kind", ["truncated", "empty", "corrupt_jpeg", "not_an_image"])
def test_predict_names_the_unreadable_image(tiny_run: Path, images: dict[str, Path], tmp_path: Path, kind: str) -> None:
    one_line_error(["predict", tiny_run, images[kind], "--out", tmp_path / "out", "--backend", "torch"],
                   images[kind].name)
    assert not any((tmp_path / "out").glob(f"{images[kind].stem}_*")) if (tmp_path / "out").exists() else True


def test_predict_over_a_folder_keeps_going_and_lists_the_failures(tiny_run: Path, images: dict[str, Path],
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["predict", str(tiny_run), str(images["good"].parent), "--out", str(out),
                              "--backend", "torch"])
    assert res.exit_code == 1, res.output  # some images failed: not a clean run
    assert (out / "good_mask.png").is_file() and (out / "good_overlay.png").is_file()
    for kind in ("truncated", "empty", "corrupt_jpeg", "not_an_image"):
        assert images[kind].name in res.output
    assert "4 of 5 images failed" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["good_mask.png", "good_overlay.png"]


def test_a_decompression_bomb_is_refused_by_its_pixel_count(tiny_run: Path, tmp_path: Path) -> None:
    big = tmp_path / "huge.png"
    Image.new("L", (12000, 12000)).save(big, optimize=False)  # 144 Mpx of zeros: a small file, a huge image
    line = one_line_error(["predict", tiny_run, big, "--out", tmp_path / "out", "--backend", "torch"], "huge.png",
                          "144 M pixels is over the 64 M pixel limit")
    assert "corrupt" not in line


def test_wrong_band_count_and_dtype(tiny_run: Path, tmp_path: Path) -> None:
    import rasterio

    two = tmp_path / "two_band.tif"
    with rasterio.open(two, "w", driver="GTiff", width=32, height=32, count=2, dtype="uint8") as ds:
        ds.write(np.ones((2, 32, 32), np.uint8))
    one_line_error(["predict", tiny_run, two, "--out", tmp_path / "out", "--backend", "torch"], "two_band.tif")


def test_odd_file_names_are_read_and_written(tiny_run: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    names = ["lake with spaces.png", "Tsho Rolpa (2023).png", "ल्होनक.png"]
    for n in names:
        png(tmp_path / "in" / n, rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    raw = os.fsencode(tmp_path / "in") + b"/\xff\xfe-latin.png"  # not valid UTF-8
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(raw.decode("utf-8", "surrogateescape"))
    res = runner.invoke(app, ["predict", str(tiny_run), str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                              "--backend", "torch"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "out").glob("*_mask.png"))) == 4


def test_a_symlink_loop_in_the_input_folder_is_one_line(tiny_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "loop").symlink_to(folder / "loop")
    one_line_error(["predict", tiny_run, folder, "--out", tmp_path / "out", "--backend", "torch"], "loop")


# ---- data sets ------------------------------------------------------------------------------

def test_data_check_reports_every_problem_without_a_traceback(tmp_path: Path) -> None:
    root = tmp_path / "data"
    crop_pair(root, "ok")
    crop_pair(root, "seven", value=7)  # a mask value that is neither 0/1 nor 255
    png(root / "images" / "odd.png", np.zeros((64, 64, 3), np.uint8))
    png(root / "masks" / "odd.png", np.zeros((64, 60), np.uint8))  # mismatched size
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    png(root / "masks" / "broken.png", np.zeros((64, 64), np.uint8))
    res = runner.invoke(app, ["data", "check", str(root)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    for name in ("seven", "odd", "broken"):
        assert name in res.output


def test_nan_and_inf_in_a_float_crop_are_nodata(tiny_run: Path, tmp_path: Path) -> None:
    import rasterio

    path = tmp_path / "float.tif"
    arr = np.random.default_rng(3).random((3, 48, 48)).astype(np.float32) * 255
    arr[:, :8, :8] = np.nan
    arr[:, -8:, -8:] = np.inf
    with rasterio.open(path, "w", driver="GTiff", width=48, height=48, count=3, dtype="float32") as ds:
        ds.write(arr)
    res = runner.invoke(app, ["predict", str(tiny_run), str(path), "--out", str(tmp_path / "out"),
                              "--backend", "torch"])
    assert res.exit_code == 0, res.output
    mask = np.array(Image.open(tmp_path / "out" / "float_mask.png"))
    assert mask[:8, :8].max() == 0 and mask[-8:, -8:].max() == 0  # never lake where the data is missing


# ---- scenes ---------------------------------------------------------------------------------

def scene(path: Path, crs: str | None = "EPSG:32645", transform=None, count: int = 4) -> Path:  # noqa: ANN001
    import rasterio
    from affine import Affine

    transform = transform or Affine(10, 0, 500000, 0, -10, 3100000)
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=count, dtype="uint16", crs=crs,
                       transform=transform, nodata=0) as ds:
        ds.write(np.full((count, 64, 64), 1500, np.uint16))
    return path


def test_map_refuses_a_scene_without_crs(tiny_run: Path, tmp_path: Path) -> None:
    one_line_error(["map", scene(tmp_path / "nocrs.tif", crs=None), "--model", tiny_run, "--out", tmp_path / "maps",
                    "--backend", "torch", "--no-progress"], "nocrs.tif", "CRS")
    assert not (tmp_path / "maps" / "nocrs" / "summary.json").exists()


def test_map_refuses_a_rotated_grid(tiny_run: Path, tmp_path: Path) -> None:
    from affine import Affine

    rotated = Affine(10, 2, 500000, 2, -10, 3100000)
    one_line_error(["map", scene(tmp_path / "rotated.tif", transform=rotated), "--model", tiny_run, "--out",
                    tmp_path / "maps", "--backend", "torch", "--no-progress"], "rotated.tif")


@pytest.mark.parametrize("suffix", [".tif", ".jp2"])
def test_map_names_a_truncated_raster(tiny_run: Path, tmp_path: Path, suffix: str) -> None:
    good = scene(tmp_path / "good.tif")
    bad = tmp_path / f"cut{suffix}"
    bad.write_bytes(good.read_bytes()[:300])
    one_line_error(["map", bad, "--model", tiny_run, "--out", tmp_path / "maps", "--backend", "torch",
                    "--no-progress"], bad.name)


def test_map_names_a_wrong_band_count(tiny_run: Path, tmp_path: Path) -> None:
    one_line_error(["map", scene(tmp_path / "two.tif", count=2), "--model", tiny_run, "--out", tmp_path / "maps",
                    "--backend", "torch", "--no-progress"], "two.tif")


# ---- disks and folders ----------------------------------------------------------------------

@pytest.mark.parametrize(("code", "needle"), [(errno.ENOSPC, "disk"), (errno.EACCES, "permission"),
                                              (errno.EROFS, "read-only")])
def test_a_full_disk_or_read_only_folder_is_one_line_and_leaves_nothing(tiny_run: Path, images: dict[str, Path],
                                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       code: int, needle: str) -> None:
    """Tests run as root, which ignores permissions: the failing write is simulated where files are written."""
    from PIL import Image as PILImage

    def refuse(self, fp, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise OSError(code, os.strerror(code), str(fp))

    monkeypatch.setattr(PILImage.Image, "save", refuse)
    out = tmp_path / "out"
    line = one_line_error(["predict", tiny_run, images["good"], "--out", out, "--backend", "torch"])
    assert needle in line.lower()
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]  # no temporary left behind


# ---- model files and configs ----------------------------------------------------------------

def test_a_truncated_model_file_is_one_line(tiny_run: Path, tmp_path: Path) -> None:
    cut = tmp_path / "model.pt"
    data = (tiny_run / "model.pt").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    one_line_error(["evaluate", cut, "--split", "test"], "model.pt")


def test_a_checkpoint_of_another_model_is_one_line(tiny_run: Path, synth_root: Path, tmp_path: Path) -> None:
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"] = "unet"  # the plain U-Net: other layers, other shapes
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    one_line_error(["train", "--resume", run, "--data", synth_root], "last.ckpt")


def test_a_truncated_last_checkpoint_falls_back_to_best(tiny_run: Path, synth_root: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    res = runner.invoke(app, ["train", "--resume", str(run), "--data", str(synth_root), "--max-epochs", "3"])
    assert res.exit_code == 0, res.output
    assert "last.ckpt" in res.output and "best.ckpt" in res.output  # says what it did


def test_a_corrupt_run_json_is_one_line(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "run.json").write_text('{"data_root": ')
    one_line_error(["evaluate", run], "run.json")


@pytest.mark.parametrize(("args", "needle"), [
    (["--set", "bogus_key=1"], "bogus_key"),
    (["--set", "lr=fast"], "lr"),
    (["--set", "batch_size=-3"], "batch_size"),
    (["--max-epochs", "0"], "max"),
])
def test_bad_settings_are_one_line(synth_root: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    one_line_error(["train", "--preset", "fast", "--data", synth_root, "--out", tmp_path / "run", *args], needle)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_preset_file_with_unknown_keys_is_one_line(synth_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("model: tiny-unet\nlearning_rate: 0.1\n")
    one_line_error(["train", "--preset", bad, "--data", synth_root, "--out", tmp_path / "run"], "learning_rate")
