"""Export to ONNX / OpenVINO, metadata, parity with eager PyTorch, INT8, backend selection."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from required import requires
from typer.testing import CliRunner

from glofwatch.cli.app import app
from glofwatch.errors import ConfigError, InputError
from glofwatch.infer.backends import (
    OnnxRuntimeBackend,
    TorchBackend,
    build_backend,
    load_predictor,
)
from glofwatch.infer.predict import Predictor
from glofwatch.models.bundle import load_bundle, run_model_file
from glofwatch.models.export import OPENVINO_MISSING, export_model, read_export_metadata

runner = CliRunner()
try:
    import openvino  # noqa: F401

    HAVE_OPENVINO = True
except ImportError:
    HAVE_OPENVINO = False
needs_openvino = requires(HAVE_OPENVINO, "openvino", "pip install openvino (a dependency of glofwatch)")


@pytest.fixture(autouse=True)
def _export_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLOFWATCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def onnx_file(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    res = runner.invoke(app, ["export", str(tiny_run), "--format", "onnx", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "check on 2 random images: max |probability difference| vs PyTorch" in res.output
    return out


def _test_images(root: Path) -> list[np.ndarray]:
    from glofwatch.data.dataset import GlacialLakesDataset

    ds = GlacialLakesDataset(root, "test")
    return [ds.load(i) for i in range(len(ds))]


def test_metadata_read_back(onnx_file: Path, tiny_run: Path) -> None:
    meta = read_export_metadata(onnx_file)
    bundle = load_bundle(tiny_run)
    assert meta["format"] == "glofwatch-export"
    assert meta["model"] == "tiny-unet" and meta["stride"] == 4
    assert meta["input"] == bundle.spec.to_dict()
    assert meta["threshold"] == bundle.threshold
    assert meta["preset"] == "tiny-test" and meta["config"]["loss"] == "bce+dice"
    assert meta["metrics"] == json.loads(json.dumps(bundle.metrics))
    assert meta["int8"] is False and meta["output"] == "logits"
    assert meta["glofwatch_version"]
    assert dt.datetime.fromisoformat(meta["exported_at"]).tzinfo is not None


def test_onnx_dynamic_shapes(onnx_file: Path) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 64, 64), (3, 3, 48, 80)]:  # batch, height and width differ from the traced 64x64
        out = sess.run(None, {"image": np.zeros(shape, np.float32)})[0]
        assert out.shape == (shape[0], 1, *shape[2:])


def test_onnx_parity_on_test_images(onnx_file: Path, tiny_run: Path, synth_root: Path) -> None:
    eager = Predictor.from_path(tiny_run, device="cpu")
    exported = load_predictor(onnx_file, backend="auto")
    assert isinstance(exported.runner.__self__, OnnxRuntimeBackend)
    for image, _, valid in _test_images(synth_root):
        a = eager.predict_image(image.astype(np.float32), valid)
        b = exported.predict_image(image.astype(np.float32), valid)
        assert np.abs(a.probability - b.probability).max() <= 1e-4
        assert np.array_equal(a.mask, b.mask)
    # a batch whose size is not a multiple of the stride: both pad identically
    x = torch.rand(2, 3, 45, 62, generator=torch.Generator().manual_seed(1)) * 255
    assert (eager.predict_batch(x) - exported.predict_batch(x)).abs().max().item() <= 1e-4


@needs_openvino
def test_openvino_export_parity(tiny_run: Path, tmp_path: Path, synth_root: Path) -> None:
    out = export_model(tiny_run, "openvino", out=tmp_path / "tiny.xml")
    assert out.with_suffix(".bin").is_file()
    assert read_export_metadata(out)["model"] == "tiny-unet"
    backend = build_backend("auto", out)
    assert backend.name == "openvino"
    eager = Predictor.from_path(tiny_run, device="cpu")
    image, _, valid = _test_images(synth_root)[0]
    a = eager.predict_image(image.astype(np.float32), valid)
    b = backend.predict_image(image.astype(np.float32), valid)
    assert np.abs(a.probability - b.probability).max() <= 1e-4
    assert np.array_equal(a.mask, b.mask)


@needs_openvino
def test_openvino_runs_boxes_in_a_few_shapes_of_the_tile(tiny_run: Path, tmp_path: Path) -> None:
    from glofwatch.infer.runtimes import shape_sides

    backend = build_backend("openvino", export_model(tiny_run, "openvino", out=tmp_path / "tiny.xml"))
    predictor = backend.predictor(max_tile=512, overlap=16)
    assert shape_sides(512) == [192, 320, 512]  # 3/8, 5/8 and all of the side
    assert shape_sides(128) == [64, 96, 128]  # 48 and 80 rounded up to the stride of 32
    assert predictor.fit_shape(96, 200, 512, 512) == (192, 320)
    assert predictor.fit_shape(192, 321, 512, 512) == (192, 512)
    assert predictor.fit_shape(64, 64, 128, 128) == (64, 64)
    assert predictor.fit_shape(65, 128, 128, 128) == (96, 128)
    with pytest.raises(ValueError, match="a box side of 600 px does not fit a tile side of 512 px"):
        predictor.fit_shape(600, 64, 512, 512)
    # boxes of every size a 128 px tile can hold run in 9 graphs at most
    for h in range(32, 129, 32):
        for w in range(32, 129, 32):
            predictor.predict_batch(torch.rand(1, 3, *predictor.fit_shape(h, w, 128, 128)) * 255)
    assert set(backend._compiled) == {(1, 3, a, b) for a in (64, 96, 128) for b in (64, 96, 128)}
    # torch takes any shape as it comes
    assert Predictor.from_path(tiny_run, device="cpu").fit_shape(32, 96, 128, 128) == (32, 96)


SIGNAL_AFTER_BACKENDS = """
import gc, os, signal, sys
from glofwatch.infer.backends import build_backend
import torch
def ran(backend):
    backend.predictor(max_tile=64, overlap=16).predict_batch(torch.rand(1, 3, 64, 64) * 255)
    return backend
first = ran(build_backend("openvino", sys.argv[1]))
second = ran(build_backend("openvino", sys.argv[1]))
del first; gc.collect()   # dropped in the order they were made
del second; gc.collect()
signal.signal(signal.SIGUSR1, lambda *_: print("handled", flush=True))
os.kill(os.getpid(), signal.SIGUSR1)
print("alive", flush=True)
"""


@needs_openvino
def test_backends_dropped_in_the_order_made_leave_signals_handled(tiny_run: Path, tmp_path: Path) -> None:
    # with a Core (and so a CPU plugin) per backend, the second plugin put back the first one's
    # unmapped signal stack, and the next handled signal killed the process with SIGSEGV
    import subprocess

    from glofwatch.models.export import openvino_core

    xml = export_model(tiny_run, "openvino", out=tmp_path / "tiny.xml")
    assert openvino_core() is openvino_core()
    assert build_backend("openvino", xml).core is build_backend("openvino", xml).core is openvino_core()
    proc = subprocess.run([sys.executable, "-c", SIGNAL_AFTER_BACKENDS, str(xml)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split() == ["handled", "alive"]


@needs_openvino
def test_openvino_keeps_compiled_graphs_in_the_cache(tiny_run: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    xml = export_model(tiny_run, "openvino", out=tmp_path / "tiny.xml")
    x = torch.rand(1, 3, 64, 96) * 255
    first = build_backend("openvino", xml)
    assert first.cache == tmp_path / "cache" / "openvino"
    a = first.predictor(max_tile=128, overlap=16).predict_batch(x)
    blobs = sorted(first.cache.glob("*.blob"))
    assert len(blobs) == 1  # one graph compiled, for the one shape run
    (ir,) = first.cache.glob("*.xml")  # the graph reshaped to that shape, kept as IR; no temporary file left
    assert ir.name.startswith("tiny-") and ir.name.endswith("-1x3x64x96.xml") and ir.with_suffix(".bin").is_file()
    assert not list(first.cache.glob(".*"))
    second = build_backend("openvino", xml)  # a later process loads that graph: same probabilities
    b = second.predictor(max_tile=128, overlap=16).predict_batch(x)
    assert sorted(second.cache.glob("*.blob")) == blobs
    assert torch.equal(a, b)
    second.predictor(max_tile=128, overlap=16).predict_batch(torch.rand(1, 3, 64, 64) * 255)
    assert len(list(second.cache.glob("*.blob"))) == 2  # a new shape is a new graph
    monkeypatch.setenv("GLOFWATCH_OPENVINO_CACHE", "0")
    assert build_backend("openvino", xml).cache is None


@needs_openvino
@pytest.mark.fault
def test_openvino_pair_torn_by_a_kill_is_refused(tiny_run: Path, synth_root: Path, tmp_path: Path) -> None:
    """A kill between the .bin and the .xml rename leaves a new .bin beside an old .xml: detected at load."""
    import torch

    out = export_model(tiny_run, "openvino", out=tmp_path / "a.xml")
    other = load_bundle(tiny_run)
    with torch.no_grad():
        for p in other.net.parameters():
            p.add_(0.5)  # another model of the same shape: only its weights differ
    foreign = export_model(other, "openvino", out=tmp_path / "b.xml")
    out.with_suffix(".bin").write_bytes(foreign.with_suffix(".bin").read_bytes())
    with pytest.raises(InputError, match=r"a\.bin: does not belong to a\.xml \(an export was interrupted"):
        build_backend("openvino", out)


def _iou(predictor: Predictor, root: Path) -> float:
    inter = union = 0
    for image, truth, valid in _test_images(root):
        mask = predictor.predict_image(image.astype(np.float32), valid).mask.astype(bool)
        t = truth.astype(bool)
        inter += int((mask & t & valid).sum())
        union += int(((mask | t) & valid).sum())
    return inter / max(union, 1)


def _train_tiny(root: Path, steps: int = 300):  # noqa: ANN202 - ModelBundle
    """tiny-unet trained enough to find lakes (IoU ~0.48 after 300 steps; 150 gave 0.26-0.47, too close to chance).

    One thread: with two, a busy machine slows small convolutions down many times.
    """
    from glofwatch.config import resolve_config
    from glofwatch.data.dataset import GlacialLakesDataset
    from glofwatch.data.normalize import normalize
    from glofwatch.models import build_model
    from glofwatch.models.bundle import ModelBundle
    from glofwatch.train.losses import build_loss

    torch.manual_seed(0)
    cfg = resolve_config(None, {"model": "tiny-unet", "weights": "none", "loss": "bce+dice", "preset": "tiny-int8"})
    ds = GlacialLakesDataset(root, "train")
    items = [ds[i] for i in range(len(ds))]
    v = torch.stack([it["valid"] for it in items])
    z = normalize(torch.stack([it["image"] for it in items]), cfg.input_spec, v)
    y = torch.stack([it["mask"] for it in items])
    net = build_model("tiny-unet", weights=None)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = build_loss("bce+dice")
    gen = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(z), (8,), generator=gen)
            opt.zero_grad()
            loss_fn(net(z[idx]), y[idx], v[idx]).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return ModelBundle(net.eval(), cfg, {}, {})


@pytest.mark.slow
def test_int8_loses_at_most_half_an_iou_point(synth_root: Path, tmp_path: Path) -> None:
    bundle = _train_tiny(synth_root)
    out = export_model(bundle, "onnx", out=tmp_path / "int8.onnx", int8=True, data_root=synth_root, calib_images=16)
    iou_fp32 = _iou(Predictor(bundle, device="cpu"), synth_root)
    iou_int8 = _iou(load_predictor(out), synth_root)
    assert iou_fp32 > 0.3  # the model finds lakes, so the comparison means something
    assert iou_int8 >= iou_fp32 - 0.005


def test_int8_cli_calibrates_on_the_runs_training_data(tiny_run: Path, synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8.onnx"
    res = runner.invoke(app, ["export", str(tiny_run), "--int8", "--calib-images", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "INT8 (decoder)" in res.output and "check on 4 training crops: max |probability difference|" in res.output
    meta = read_export_metadata(out)
    assert meta["int8"] is True
    assert meta["calibration"] == {"data_root": str(synth_root), "n_images": 4, "method": "minmax", "format": "QDQ",
                                   "scope": "decoder"}


def test_export_errors(tiny_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown export format 'onxx'; did you mean 'onnx'\?"):
        export_model(tiny_run, "onxx")
    with pytest.raises(ConfigError, match=r"unknown INT8 scope 'al'; did you mean 'all'\?"):
        export_model(tiny_run, "onnx", out=tmp_path / "q.onnx", int8=True, int8_scope="al")
    with pytest.raises(ConfigError, match=r"a onnx export must end in \.onnx"):
        export_model(tiny_run, "onnx", out=tmp_path / "m.xml")
    plain = tmp_path / "plain.onnx"
    import onnx

    model = onnx.load(str(export_model(tiny_run, "onnx", out=tmp_path / "m.onnx")))
    del model.metadata_props[:]
    onnx.save(model, str(plain))
    with pytest.raises(InputError, match=r"plain\.onnx: no glofwatch metadata in this model file; export it"):
        build_backend("onnxruntime", plain)


def test_backend_selection(tiny_run: Path, onnx_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not torch.cuda.is_available():
        auto = build_backend("auto", tiny_run)
        assert auto.name in ({"onnxruntime", "openvino"} if HAVE_OPENVINO else {"onnxruntime"})
        assert Path(auto.source).name == "model.pt"
        assert auto.model_path.parent == Path(os.environ["GLOFWATCH_CACHE_DIR"]) / "exports"  # cached export
        assert auto.model_path.is_file() and auto.model_path.name.startswith("tiny-unet-")
    assert isinstance(build_backend("torch", tiny_run, device="cpu"), TorchBackend)
    assert build_backend("onnxruntime", onnx_file).name == "onnxruntime"
    with pytest.raises(ConfigError, match=r"unknown backend 'onnxruntim'; did you mean 'onnxruntime'\?"):
        build_backend("onnxruntim", tiny_run)
    with pytest.raises(ConfigError, match=r"the torch backend needs a run folder or model\.pt"):
        build_backend("torch", onnx_file)
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"^openvino is not installed in this environment; pip install openvino "
                                          r"\(a glofwatch dependency\) or use --backend onnxruntime$"):
        build_backend("openvino", tiny_run)
    assert OPENVINO_MISSING.startswith("openvino is not installed")


def test_auto_falls_back_to_torch_when_export_fails(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import glofwatch.models.export as export_mod

    def broken(*args: object, **kw: object) -> Path:
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(export_mod, "export_model", broken)
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.warns(UserWarning, match="onnxruntime backend unavailable"):
        backend = build_backend("auto", tiny_run, device="cpu")
    assert backend.name == "torch"


def test_cli_predict_and_evaluate_backend_option(tiny_run: Path, synth_root: Path, tmp_path: Path) -> None:
    images = synth_root / "test" / "images"
    res = runner.invoke(app, ["predict", str(tiny_run), str(images), "--out", str(tmp_path / "p"),
                              "--backend", "onnxruntime"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "p").glob("*_mask.png"))) == len(list(images.iterdir()))
    res = runner.invoke(app, ["predict", str(tiny_run), str(images), "--out", str(tmp_path / "q"), "--backend", "onnx"])
    assert res.exit_code == 2
    assert "error: unknown backend 'onnx'; did you mean 'onnxruntime' or 'openvino'?" in res.output
    res = runner.invoke(app, ["evaluate", str(tiny_run), "--out", str(tmp_path / "e"), "--backend", "torch",
                              "--no-save-masks"])
    assert res.exit_code == 0, res.output
    torch_iou = json.loads((tmp_path / "e" / "metrics.json").read_text())["micro"]["iou"]
    res = runner.invoke(app, ["evaluate", str(tiny_run), "--out", str(tmp_path / "f"), "--backend", "onnxruntime",
                              "--no-save-masks"])
    assert res.exit_code == 0, res.output
    onnx_iou = json.loads((tmp_path / "f" / "metrics.json").read_text())["micro"]["iou"]
    assert onnx_iou == pytest.approx(torch_iou, abs=1e-6)


def test_run_folder_resolves_model_then_best_then_last(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(InputError, match=r"run: no model.pt or checkpoints/\*.ckpt in this folder; train first$"):
        run_model_file(run, ".ckpt", "train first")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert run_model_file(run, ".ckpt", "") == run / "checkpoints" / "last.ckpt"
    (run / "checkpoints" / "best.ckpt").write_bytes(b"x")
    assert run_model_file(run, ".ckpt", "") == run / "checkpoints" / "best.ckpt"
    (run / "checkpoints" / "best.pt").write_bytes(b"x")  # a YOLO run's checkpoint
    assert run_model_file(run, ".pt", "") == run / "checkpoints" / "best.pt"
    (run / "model.pt").write_bytes(b"x")
    assert run_model_file(run, ".ckpt", "") == run / "model.pt"


@needs_openvino
@pytest.mark.skipif(torch.cuda.is_available(), reason="auto picks torch on CUDA")
def test_auto_races_the_exported_runtimes_and_remembers(tiny_run: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    import time

    from glofwatch.infer.backends import OpenVINOBackend

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # a new model file: no remembered choice yet
    fast_ort, fast_ov = OnnxRuntimeBackend.run, OpenVINOBackend.run

    def slowed(run_fn):  # noqa: ANN001, ANN202
        def run_slowly(self, z):  # noqa: ANN001, ANN202
            t0 = time.perf_counter()
            out = run_fn(self, z)
            # at least 4x its own time: a fixed 50 ms was within OpenVINO's lead over ONNX Runtime on a bf16 CPU
            time.sleep(max(0.05, 3 * (time.perf_counter() - t0)))
            return out

        return run_slowly

    monkeypatch.setattr(OnnxRuntimeBackend, "run", slowed(fast_ort))
    assert build_backend("auto", run, device="cpu").name == "openvino"
    choices = json.loads((Path(os.environ["GLOFWATCH_CACHE_DIR"]) / "exports" / "auto-choice.json").read_text())
    assert [v for k, v in choices.items() if k.startswith(str((run / "model.pt").resolve()))] == ["openvino"]
    # remembered: no new race even though OpenVINO is now the slow one
    monkeypatch.setattr(OnnxRuntimeBackend, "run", fast_ort)
    monkeypatch.setattr(OpenVINOBackend, "run", slowed(fast_ov))
    assert build_backend("auto", run, device="cpu").name == "openvino"
    (run / "model.pt").touch()  # a changed model file is raced again
    assert build_backend("auto", run, device="cpu").name == "onnxruntime"
