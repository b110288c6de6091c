"""predict_scene: tiled + blended maps equal whole-image maps, no seams, nodata kept, input conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from glofwatch.data.normalize import InputSpec, normalize
from glofwatch.errors import ConfigError, InputError
from glofwatch.mapping.scene import SceneInput, predict_scene, whole_image_probability
from glofwatch.scene.read import read_scene

UTM = "EPSG:32645"
TRANSFORM = Affine(10, 0, 500000, 0, -10, 3100000)


def write_scene(path: Path, data: np.ndarray, nodata=0, bands=("B02", "B03", "B04", "B08")) -> Path:
    c, h, w = data.shape
    prof = dict(driver="GTiff", height=h, width=w, count=c, dtype=data.dtype.name, crs=UTM, transform=TRANSFORM,
                nodata=nodata)
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(data)
        for i, b in enumerate(bands):
            ds.set_band_description(i + 1, b)
    return path


def dn_scene(h: int = 200, w: int = 230, seed: int = 0) -> np.ndarray:
    """Smooth random L2A DN (4, h, w) with a dark 'lake' and a nodata corner."""
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    base = ndimage.gaussian_filter(rng.random((4, h, w)), (0, 6, 6))
    data = (800 + 6000 * (base - base.min()) / (base.max() - base.min())).astype(np.uint16)
    data[:, 60:110, 80:150] = [[[300]], [[350]], [[200]], [[100]]]
    data[:, :70, :70] = 0
    return data


class PixelPredictor:
    """A per-pixel 'model' (no spatial context): probability = sigmoid of the normalised red band.

    Tiling cannot change its output, so tiled and whole maps must agree to float precision.
    Records the stats passed with every batch.
    """

    def __init__(self, spec: InputSpec, stride: int = 1) -> None:
        self.spec = spec
        self.stride = stride
        self.threshold = 0.5
        self.calls: list[tuple[tuple[int, ...], torch.Tensor | None]] = []

    def predict_batch(self, x: torch.Tensor, valid: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((tuple(x.shape), stats))
        z = normalize(x, self.spec, valid, stats=stats)
        return torch.sigmoid(-3.0 * z[:, 0]) * valid


def read(path: Path) -> tuple[np.ndarray, rasterio.profiles.Profile]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.profile


def test_tiles_equal_whole_image_for_a_per_pixel_model_and_stats_are_scene_wide(tmp_path: Path) -> None:
    scene = read_scene(write_scene(tmp_path / "s.tif", dn_scene()))
    pred = PixelPredictor(InputSpec(bands=("B04", "B03", "B02"), source="rgb8", scaling="percentile"))
    res = predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=64, overlap=16, batch_size=3)
    whole = whole_image_probability(scene, pred)
    prob, prof = read(tmp_path / "p.tif")
    np.testing.assert_allclose(prob, whole, atol=1e-5)  # NaN in the same places too
    assert res.n_tiles == 4 * 5 and res.n_tiles_run == 19  # the tile inside the nodata corner is skipped
    tile_calls = pred.calls[:-1]
    assert all(shape[2:] == (64, 64) and shape[0] <= 3 for shape, _ in tile_calls)
    assert all(s is tile_calls[0][1] for _, s in tile_calls)  # one set of scene-wide percentiles for every tile
    assert tile_calls[0][1].shape == (1, 3, 2)
    assert res.stats == tile_calls[0][1][0].tolist()


def test_outputs_keep_grid_nodata_and_are_tiled_compressed(tmp_path: Path) -> None:
    data = dn_scene(300, 280)
    scene = read_scene(write_scene(tmp_path / "s.tif", data))
    pred = PixelPredictor(InputSpec(bands=("B04", "B03", "B02"), source="rgb8", scaling="percentile"))
    predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=128, overlap=32)
    prob, pprof = read(tmp_path / "p.tif")
    mask, mprof = read(tmp_path / "m.tif")
    for prof, dtype in ((pprof, "float32"), (mprof, "uint8")):
        assert prof["crs"].to_epsg() == 32645 and prof["transform"] == TRANSFORM
        assert (prof["height"], prof["width"]) == (300, 280) and prof["dtype"] == dtype
        assert prof["tiled"] and prof["blockxsize"] == 256 and prof["compress"] == "zstd"
    assert np.isnan(pprof["nodata"]) and mprof["nodata"] == 255
    nodata = np.all(data == 0, axis=0)
    assert np.isnan(prob[nodata]).all() and (mask[nodata] == 255).all()
    assert not np.isnan(prob[~nodata]).any() and set(np.unique(mask[~nodata])) <= {0, 1}
    np.testing.assert_array_equal(mask[~nodata], (prob[~nodata] > 0.5).astype(np.uint8))
    assert mask[60:110, 80:150].mean() == 1.0  # the dark 'lake' is lake for the red-band model
    assert not list(tmp_path.glob(".*tmp*"))


def test_nan_pixels_of_float_scenes_stay_nodata(tmp_path: Path) -> None:
    data = dn_scene(100, 100).astype(np.float32)
    data[2, 50:55, 50:55] = np.nan
    scene = read_scene(write_scene(tmp_path / "f.tif", data, nodata=None))
    pred = PixelPredictor(InputSpec(bands=("B04", "B03", "B02"), source="reflectance", scaling="percentile"))
    predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=64, overlap=16)
    prob, _ = read(tmp_path / "p.tif")
    mask, _ = read(tmp_path / "m.tif")
    assert np.isnan(prob[50:55, 50:55]).all() and (mask[50:55, 50:55] == 255).all()
    assert not np.isnan(prob[:40, :40]).any()  # without a nodata value, 0 is data in float scenes


def test_scene_smaller_than_a_tile_is_one_tile(tmp_path: Path) -> None:
    scene = read_scene(write_scene(tmp_path / "s.tif", dn_scene(70, 90)))
    pred = PixelPredictor(InputSpec(bands=("B04", "B03", "B02"), source="rgb8", scaling="fixed"))
    res = predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=512, overlap=64)
    assert res.n_tiles == 1 and pred.calls[0][0] == (1, 3, 70, 90)
    prob, _ = read(tmp_path / "p.tif")
    np.testing.assert_allclose(prob, whole_image_probability(scene, pred), atol=1e-6)


def test_rgb8_conversion_renders_dn_like_the_training_crops(tmp_path: Path) -> None:
    from glofwatch.scene.render import to_rgb

    data = np.full((4, 40, 40), 800, np.uint16)
    data[2] = 1200  # B04
    data[3] = 3000  # B08
    scene = read_scene(write_scene(tmp_path / "s.tif", data))
    true = SceneInput.plan(scene, InputSpec(bands=("B04", "B03", "B02")), gain=2.5)
    x = true.convert(scene.read_window(0, 0, 4, 4, true.read_bands), np.ones((4, 4), bool))
    # 0.12 * 2.5 * 255 + 0.5 = 77 (B04), 0.08 * 2.5 * 255 + 0.5 = 51.5 -> 51 (B03, B02)
    assert x[:, 0, 0].tolist() == [77.0, 51.0, 51.0] and x.dtype == np.float32
    false = SceneInput.plan(scene, InputSpec(bands=("B08", "B04", "B03")), gain=3.0)
    assert false.rendering == "false-colour"
    y = false.convert(scene.read_window(0, 0, 4, 4, false.read_bands), np.ones((4, 4), bool))
    refl = data[:, :4, :4].astype(np.float32) / 10000
    np.testing.assert_array_equal(y, to_rgb(refl, "false-colour", 3.0).transpose(2, 0, 1))
    dn = SceneInput.plan(scene, InputSpec.for_channels(4, source="reflectance"), dn_offset=-1000)
    assert dn.read_bands == ("B04", "B03", "B02", "B08")
    z = dn.convert(scene.read_window(0, 0, 2, 2, dn.read_bands), np.array([[True, False], [True, True]]))
    assert z[:, 0, 0].tolist() == [200.0, 0.0, 0.0, 2000.0] and z[:, 0, 1].tolist() == [0.0] * 4


@pytest.mark.parametrize("offset", [0.0, -1000.0])
def test_in_place_rendering_equals_to_rgb_on_random_dn(tmp_path: Path, offset: float) -> None:
    from glofwatch.scene.render import BANDS, to_rgb

    rng = np.random.default_rng(5)
    data = rng.integers(0, 12000, size=(4, 64, 64)).astype(np.uint16)
    data[:, :5, :] = 0  # nodata rows
    data[:, 10:12, :] = rng.integers(0, 1100, size=(4, 2, 64))  # dark: at or below the offset
    scene = read_scene(write_scene(tmp_path / "s.tif", data))
    plan = SceneInput.plan(scene, InputSpec(bands=("B08", "B04", "B03")), gain=3.3, dn_offset=offset)
    window = scene.read_window(0, 0, 64, 64, plan.read_bands)
    valid = scene.valid_mask(window)
    # reference: reflectance of every band in BANDS order, rendered by to_rgb
    refl = np.zeros((len(BANDS), 64, 64), np.float32)
    for i, b in enumerate(plan.read_bands):
        band = np.clip((window[i].astype(np.float32) + np.float32(offset)) / np.float32(10000.0), 0.0, None)
        band[~valid] = 0.0
        refl[BANDS.index(b)] = band
    expected = to_rgb(refl, "false-colour", 3.3).transpose(2, 0, 1).astype(np.float32)
    got = plan.convert(window, valid)
    np.testing.assert_array_equal(got, expected)
    assert (got[:, :5] == 0).all() and got.dtype == np.float32


def test_input_mismatches_are_errors(tmp_path: Path) -> None:
    three = read_scene(write_scene(tmp_path / "rgb.tif", dn_scene(40, 40)[:3], bands=("B02", "B03", "B04")))
    with pytest.raises(InputError,
                       match=r"rgb\.tif: the model needs bands B08, B04, B03 but the scene has B02, B03, B04"):
        SceneInput.plan(three, InputSpec(bands=("B08", "B04", "B03")))
    tci = read_scene(write_scene(tmp_path / "tci.tif", np.full((3, 40, 40), 9, np.uint8), bands=("B04", "B03", "B02")))
    with pytest.raises(InputError,
                       match=r"tci\.tif: scene is 8-bit \(uint8\) but the model was trained on L2A reflectance"):
        SceneInput.plan(tci, InputSpec(bands=("B04", "B03", "B02"), source="reflectance"))
    with pytest.raises(ConfigError, match=r"8-bit bands B02 B03 B04 but no rendering shows them"):
        SceneInput.plan(three, InputSpec(bands=("B02", "B03", "B04")))


def test_all_nodata_scene_is_an_error(tmp_path: Path) -> None:
    scene = read_scene(write_scene(tmp_path / "empty.tif", np.zeros((4, 64, 64), np.uint16)))
    pred = PixelPredictor(InputSpec())
    with pytest.raises(InputError, match=r"empty\.tif: every pixel is nodata \(nodata=0\.0\); check the file"):
        predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=32, overlap=8)
    assert not (tmp_path / "p.tif").exists()


def test_bad_tiling_options(tmp_path: Path) -> None:
    scene = read_scene(write_scene(tmp_path / "s.tif", dn_scene(64, 64)))
    pred = PixelPredictor(InputSpec())
    with pytest.raises(ConfigError, match=r"--overlap 64 must be at least 0 and smaller than --tile 64"):
        predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=64, overlap=64)
    with pytest.raises(ConfigError, match=r"--batch-size -1 must be at least 1 \(or 0: automatic\)"):
        predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=32, overlap=8, batch_size=-1)


@pytest.fixture(scope="module")
def synth_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256 x 256 synthetic L2A scene (UTM 45N, 10 m, nodata wedge on the west edge)."""
    from glofwatch.scene.synth import write_synthetic_scene

    return write_synthetic_scene(tmp_path_factory.mktemp("scene"), size=256, seed=3).scene


def seam_ratio(prob: np.ndarray, tile: int, overlap: int) -> float:
    """Mean step between neighbouring pixels across tile start/end lines, over the mean step elsewhere.

    Rows and columns both; a seam makes the step at the lines larger (ratio > 1).
    """
    from glofwatch.infer.tiles import tile_starts

    n = prob.shape[0]
    starts = tile_starts(n, tile, overlap)
    lines = sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < n})
    ratios = []
    for p in (prob, prob.T):
        valid = ~np.isnan(p)
        step = np.abs(np.diff(np.nan_to_num(p), axis=0))  # step[i]: between rows i and i+1
        both = valid[1:] & valid[:-1]
        at_lines = np.mean([step[i - 1][both[i - 1]].mean() for i in lines])
        ratios.append(at_lines / step[both].mean())
    return float(max(ratios))


def test_trained_model_tiles_match_whole_image_without_seams(tiny_run: Path, synth_scene: Path, tmp_path: Path) -> None:
    from glofwatch.infer.predict import Predictor

    predictor = Predictor.from_path(tiny_run, device="cpu")
    scene = read_scene(synth_scene)
    tile, overlap = 96, 32
    res = predict_scene(scene, predictor, tmp_path / "p.tif", tmp_path / "m.tif", tile=tile, overlap=overlap,
                        batch_size=4)
    tiled, _ = read(tmp_path / "p.tif")
    whole = whole_image_probability(scene, predictor)
    assert res.n_tiles == 16  # starts 0, 64, 128, 160 on each axis
    valid = ~np.isnan(whole)
    np.testing.assert_array_equal(np.isnan(tiled), ~valid)
    diff = np.abs(tiled - whole)[valid]
    assert diff.mean() < 1e-3 and diff.max() < 1e-2  # only padding context differs at tile borders
    blended = seam_ratio(tiled, tile, overlap)
    assert blended < 1.25
    # the measure does see seams: tiles that just abut (no overlap, no blending) show them
    predict_scene(scene, predictor, tmp_path / "p0.tif", tmp_path / "m0.tif", tile=tile, overlap=0, batch_size=4)
    abutting, _ = read(tmp_path / "p0.tif")
    assert seam_ratio(abutting, tile, 0) > blended


class ThreadsSeen(PixelPredictor):
    """A PixelPredictor that says which runtime runs it and notes torch's thread count at each batch."""

    def __init__(self, spec: InputSpec, backend: str, device: str = "cpu") -> None:
        super().__init__(spec)
        self.backend, self.device = backend, device
        self.threads: set[int] = set()

    def predict_batch(self, x: torch.Tensor, valid: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        self.threads.add(torch.get_num_threads())
        return super().predict_batch(x, valid, stats)


@pytest.mark.parametrize(("backend", "device", "inside"), [("openvino-bf16", "cpu", 1), ("onnxruntime", "cpu", 1),
                                                            ("torch", "cpu", 2), ("openvino", "cuda", 2)])
def test_torch_glue_runs_in_one_thread_only_beside_another_runtime_on_cpu(
    tmp_path: Path, backend: str, device: str, inside: int
) -> None:
    from glofwatch.runtime import single_threaded_glue

    scene = read_scene(write_scene(tmp_path / "s.tif", dn_scene()))
    spec = InputSpec(bands=("B04", "B03", "B02"), source="rgb8", scaling="percentile")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pred = ThreadsSeen(spec, backend, device)
        predict_scene(scene, pred, tmp_path / "p.tif", tmp_path / "m.tif", tile=64, overlap=16)
        assert pred.threads == {inside} and torch.get_num_threads() == 2  # restored after the scene
        plain = PixelPredictor(spec)
        predict_scene(scene, plain, tmp_path / "p2.tif", tmp_path / "m2.tif", tile=64, overlap=16)
        np.testing.assert_array_equal(read(tmp_path / "p.tif")[0], read(tmp_path / "p2.tif")[0])  # same map
        # nested and concurrent uses share one setting: the outer one restores it, also after an error
        with single_threaded_glue("openvino"):
            with single_threaded_glue("onnxruntime") as inner:
                assert inner and torch.get_num_threads() == 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="boom"), single_threaded_glue("openvino"):
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_int8_mapping_runs_its_uncertain_inputs_again_in_fp32(tiny_run: Path, synth_scene: Path,
                                                             tmp_path: Path) -> None:
    import json

    from glofwatch.infer.refine import RefinedPredictor, uncertain_patch
    from glofwatch.mapping.batch import cached_predictor, map_scene

    def build(precision: str, refine: bool = True):  # noqa: ANN202
        return cached_predictor(tiny_run, "cpu", "auto", 128, 16, precision=precision, threads=1, refine=refine)

    refined, plain, exact = build("int8"), build("int8", refine=False), build("fp32")
    assert isinstance(refined, RefinedPredictor) and refined.backend == "openvino-int8+fp32"
    assert not isinstance(plain, RefinedPredictor) and not isinstance(exact, RefinedPredictor)
    assert refined.precision_note == "precision int8 (asked for)"
    maps = {}
    for name, pred in (("refined", refined), ("int8", plain), ("fp32", exact)):
        map_scene(synth_scene, pred, tmp_path / name, tile=128, overlap=16)
        maps[name] = read(tmp_path / name / "probability.tif")[0]
    screen = json.loads((tmp_path / "refined" / "summary.json").read_text())["screen"]
    plain_screen = json.loads((tmp_path / "int8" / "summary.json").read_text())["screen"]
    assert plain_screen["refined_tiles"] is None and plain_screen["refined_px"] == 0
    # the tiny model is unsure all over the scene: every input ran again, so the map is fp32's exactly
    assert screen["refined_tiles"] == screen["tiles_run"] == 9 and screen["boxes"] == 0
    assert screen["refined_px"] == screen["processed_px"] == 9 * 128 * 128
    np.testing.assert_array_equal(maps["refined"], maps["fp32"])  # NaN (nodata) in the same places too
    assert np.nanmax(np.abs(maps["int8"] - maps["fp32"])) > 0  # which INT8 alone is not
    assert uncertain_patch(maps["int8"], refined.threshold)
    # a second scene counts only its own inputs
    map_scene(synth_scene, refined, tmp_path / "again", tile=128, overlap=16)
    again = json.loads((tmp_path / "again" / "summary.json").read_text())["screen"]
    assert again["refined_tiles"] == 9
    # with no margin nothing is uncertain: INT8's map, and 0 inputs again
    none = RefinedPredictor(plain, exact, margin=0.0)
    map_scene(synth_scene, none, tmp_path / "none", tile=128, overlap=16)
    assert json.loads((tmp_path / "none" / "summary.json").read_text())["screen"]["refined_tiles"] == 0
    np.testing.assert_array_equal(read(tmp_path / "none" / "probability.tif")[0], maps["int8"])


def test_refinement_runs_a_trimmed_box_s_whole_tile_in_fp32_once_and_cuts_the_box() -> None:
    from glofwatch.infer.refine import RefinedPredictor
    from glofwatch.mapping.scene import refine_inputs

    class Exact:  # fp32 stand-in: the probability encodes the pixel's place in the tile it was given
        threshold, backend, stride = 0.5, "openvino", 1

        def __init__(self) -> None:
            self.shapes: list[tuple[int, ...]] = []

        def predict_batch(self, x: torch.Tensor, valid: torch.Tensor, stats: torch.Tensor | None) -> torch.Tensor:
            self.shapes.append(tuple(x.shape))
            n, _, h, w = x.shape
            return (x[:, 0] + torch.arange(h * w, dtype=torch.float32).reshape(1, h, w)) / 1e6 * valid

    class Fast(Exact):
        backend = "openvino-bf16"

    exact = Exact()
    refiner = RefinedPredictor(Fast(), exact)
    x = np.zeros((3, 64, 128), np.uint8)
    x[0, :, 64:] = 7  # the second tile's first band
    valid = np.ones((64, 128), bool)
    box = (8, 40, 16, 48)  # a 32 x 32 box of each 64 px tile
    probs = np.zeros((2, 32, 32), np.float32)
    probs[0, 4:20, 4:20] = 0.5  # the first tile's box is unsure, the second's is not
    tiles: dict[int, np.ndarray] = {}
    refine_inputs(refiner, probs, [0, 64], x, valid, None, box, 64, tiles)
    whole = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 1e6
    np.testing.assert_allclose(probs[0], whole[8:40, 16:48])  # fp32 of the whole tile, cut to the box
    assert float(probs[1].max()) == 0.0  # left as the fast graph mapped it
    assert exact.shapes == [(1, 3, 64, 64)] and set(tiles) == {0}
    # a second box of the same tile that is unsure too: cut from the tile already run
    probs2 = np.full((1, 32, 32), 0.5, np.float32)
    refine_inputs(refiner, probs2, [0], x, valid, None, (32, 64, 32, 64), 64, tiles)
    np.testing.assert_allclose(probs2[0], whole[32:64, 32:64])
    assert len(exact.shapes) == 1
    assert refiner.counts() == {"inputs": 3, "px": 3 * 32 * 32, "refined": 1, "refined_px": 64 * 64}
