"""The runtimes a model can execute on: eager PyTorch, ONNX Runtime and OpenVINO (choice: :mod:`.backends`)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glofwatch.errors import ConfigError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from glofwatch.infer.predict import MaskResult, Predictor
    from glofwatch.models.bundle import ModelBundle


class Backend:
    """A model ready to run on one runtime.

    Attributes:
        name: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        bundle: the model's config and metrics (``bundle.net`` is None for exported files).
        device: ``torch.device`` where :meth:`run` takes and returns tensors.
        source: the model the user gave (run folder file, exported file, or "memory").
        model_path: the graph file executed (ONNX Runtime/OpenVINO; a temporary file,
            since deleted, for in-memory bundles).
    """

    name = "base"

    def __init__(self, bundle: ModelBundle, device: str, source: str) -> None:
        import torch

        self.bundle = bundle
        self.device = torch.device(device)
        self.source = source
        self._predictor: Predictor | None = None

    def run(self, z: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, H, W) float32 for normalised input (N, C, H, W), H and W multiples of :attr:`stride`."""
        raise NotImplementedError

    def predictor(self, max_tile: int = 1024, overlap: int = 64, threshold: float | None = None,
                  tta: bool = False) -> Predictor:
        """A :class:`Predictor` executing the network with this backend (``threshold`` overrides the model's)."""
        from glofwatch.infer.predict import Predictor

        runner = None if self.name == "torch" else self.run
        return Predictor(self.bundle, device=self.device.type, max_tile=max_tile, overlap=overlap, runner=runner,
                         backend=self.name, threshold=threshold, tta=tta)

    def _default_predictor(self) -> Predictor:
        if self._predictor is None:
            self._predictor = self.predictor()
        return self._predictor

    @property
    def spec(self) -> Any:
        """The model's :class:`~glofwatch.data.normalize.InputSpec`."""
        return self.bundle.spec

    @property
    def stride(self) -> int:
        """H and W given to :meth:`run` must be multiples of this."""
        from glofwatch.models.registry import get_spec

        return get_spec(self.bundle.config.model).stride

    @property
    def threshold(self) -> float:
        """Probability above which a pixel is lake."""
        return self.bundle.threshold

    def predict_batch(self, x: torch.Tensor | np.ndarray, valid: Any = None, stats: Any = None) -> torch.Tensor:
        """Probabilities (N, H, W), exactly as :meth:`Predictor.predict_batch` (raw NCHW input, any H, W)."""
        import torch

        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        if valid is not None and not isinstance(valid, torch.Tensor):
            valid = torch.as_tensor(valid)
        return self._default_predictor().predict_batch(x, valid, stats)

    def predict_image(self, image: np.ndarray, valid: np.ndarray | None = None) -> MaskResult:
        """One raw image (H, W, C) of any size -> :class:`MaskResult` (tiled when large)."""
        return self._default_predictor().predict_image(image, valid)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.bundle.config.model!r}, source={self.source!r})"


class TorchBackend(Backend):
    """Eager PyTorch on CPU or CUDA."""

    name = "torch"

    def __init__(self, bundle: ModelBundle, device: str, source: str) -> None:
        from glofwatch.runtime import resolve_device

        if bundle.net is None:
            raise ConfigError(f"{source}: the torch backend needs a run folder or model.pt, not an exported file; "
                              "use --backend onnxruntime or openvino")
        super().__init__(bundle, resolve_device(device), source)
        self.net = bundle.net.to(self.device).eval()

    def run(self, z: torch.Tensor) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            return self.net(z.to(self.device, torch.float32))


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime, CPU (or CUDA when onnxruntime-gpu is installed and device is cuda)."""

    name = "onnxruntime"

    def __init__(
        self, bundle: ModelBundle, onnx_path: Path, device: str, source: str, threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        import torch

        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(
                    "--device cuda with onnxruntime needs onnxruntime-gpu; use --backend torch or --device cpu"
                )
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.model_path = Path(onnx_path)
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=providers)
        self._input = self.session.get_inputs()[0].name
        super().__init__(bundle, "cpu", source)

    def run(self, z: torch.Tensor) -> torch.Tensor:
        import numpy as np
        import torch

        x = np.ascontiguousarray(z.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run(None, {self._input: x})[0])


SHAPE_SIDES = (3 / 8, 5 / 8, 1.0)
"""Shares of a tile's side a trimmed box's side is rounded up to (192, 320 or 512 px of a 512 px tile)."""

SHAPE_STEP = 32
"""Compiled sides are multiples of this (the networks' stride)."""


def shape_sides(side: int) -> list[int]:
    """The sides a box of a tile of ``side`` px runs in: :data:`SHAPE_SIDES` of it, rounded up to :data:`SHAPE_STEP`.

    Example:
        >>> shape_sides(512), shape_sides(480)
        ([192, 320, 512], [192, 320, 480])
    """
    out = {min(side, -(-int(round(f * side)) // SHAPE_STEP) * SHAPE_STEP) for f in SHAPE_SIDES}
    return sorted(out)


def _fit_side(n: int, side: int) -> int:
    if not 0 < n <= side:
        raise ValueError(f"a box side of {n} px does not fit a tile side of {side} px")
    return next(s for s in shape_sides(side) if s >= n)


class OpenVINOBackend(Backend):
    """OpenVINO on CPU, one compiled graph per input shape (static shapes run faster than dynamic ones).

    Only static shapes are used: OpenVINO 2026.4 runs the INT8 (QDQ) graph wrong with dynamic
    height and width (logits off by up to 8 from its static graph and from ONNX Runtime, which
    agree within 0.1), while each static shape takes 0.55-0.9 s to compile. The boxes of trimmed
    tiles (:mod:`glofwatch.mapping.screen`) therefore ask :meth:`fit_shape` which shape to run in:
    each side rounded up to one of :data:`SHAPE_SIDES` of the tile (3/8, 5/8 or all of it), at most
    9 shapes for a tile size. On the synthetic Sentinel-2 tile the cut boxes run 0.33 of the scene's
    pixels in 8 graphs; in their own shapes they are 0.26 in 54 shapes, and the earlier policy (a
    box's own graph the fourth time its shape came, at most 8) ran one box per tile in 0.41.

    Compiled graphs are shared; infer requests are per thread (an OpenVINO request must not run
    two inferences at once), so one backend serves ``glofwatch map --worker-threads`` safely.

    With ``cache`` (a folder; :func:`glofwatch.infer.backends.build_backend` gives
    ``$GLOFWATCH_CACHE_DIR/openvino``) each shape's graph is kept there as OpenVINO IR, and OpenVINO
    keeps its compiled form, keyed by the graph, the settings and the CPU: later processes load
    it in 0.13 s instead of 0.55-0.9 s per shape on a 2-core AVX2 EPYC (INT8 demo model, about
    12 MB of compiled graph and 13 MB of IR per shape). Nothing prunes that folder: delete it to
    reclaim the space.
    """

    name = "openvino"
    max_shapes = 16

    def __init__(
        self, bundle: ModelBundle, model_path: Path, device: str, source: str, threads: int | None = None,
        cache: Path | None = None,
    ) -> None:
        import numpy as np
        import torch

        from glofwatch.models.export import import_openvino, openvino_core

        ov = import_openvino()
        if device == "cuda":
            raise ConfigError("the openvino backend runs on CPU here; use --device cpu or --backend torch for CUDA")
        self.model_path = Path(model_path)
        # pybind11 sets up its NumPy API on the first array it hands out; two threads doing that first at
        # once (two requests' first tiles, from worker threads) deadlocked in its call_once: done here, once
        _ = ov.Tensor(np.zeros(1, dtype=np.float32)).data
        self.core = openvino_core()  # shared by all backends: see openvino_core
        self.cache = Path(cache) if cache is not None else None
        if self.cache is not None:
            try:
                self.cache.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a read-only cache only costs the compile time
                log.warning("%s: cannot keep compiled OpenVINO graphs there (%s); compiling each time", cache, exc)
                self.cache = None
        self.model = self.core.read_model(str(model_path))
        # f32 explicitly: on CPUs with AMX/AVX512-BF16 OpenVINO would otherwise run fp32 graphs in bf16
        # (probabilities off by ~2e-3); INT8 graphs keep their quantised layers either way.
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
                       "INFERENCE_PRECISION_HINT": "f32"}
        if self.cache is not None:  # per compiled graph, not on the shared Core
            self.config["CACHE_DIR"] = str(self.cache)
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        super().__init__(bundle, "cpu", source)

    def use_precision(self, precision: str) -> None:
        """Run the graph's float layers in ``precision`` ("f32" or "bf16"; bf16 needs native CPU support)."""
        hint = {"fp32": "f32", "f32": "f32", "bf16": "bf16"}.get(precision)
        if hint is None:
            raise ConfigError(f"OpenVINO precision '{precision}' is unknown; use fp32 or bf16")
        with self._lock:
            self.config["INFERENCE_PRECISION_HINT"] = hint
            self._compiled.clear()
        self.name = "openvino" if hint == "f32" else f"openvino-{precision}"

    def fit_shape(self, h: int, w: int, max_h: int, max_w: int) -> tuple[int, int]:
        """The (height, width) to run a batch of one (h, w) box of a (max_h, max_w) tile in.

        Each side is the least of :func:`shape_sides` of the tile's side that holds it, so a
        scene's boxes share a few compiled graphs.
        """
        return _fit_side(h, max_h), _fit_side(w, max_w)

    def _shape_file(self, shape: tuple[int, ...]) -> Path | None:
        """The graph reshaped to ``shape`` as OpenVINO IR in the cache (None without a cache)."""
        if self.cache is None:
            return None
        import hashlib

        st = self.model_path.stat()
        key = hashlib.sha1(f"{self.model_path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
        return self.cache / f"{self.model_path.stem}-{key}-{'x'.join(map(str, shape))}.xml"

    def _compile(self, shape: tuple[int, ...]) -> Any:
        """A compiled graph for ``shape`` (hold the lock).

        With a cache, each shape's graph is also kept as IR: compiling that file lets OpenVINO find
        its compiled blob by the file alone, 0.13 s against 0.38 s for reshaping the model and having
        the blob found by hashing it (2-core AVX2 EPYC, demo INT8 model).
        """
        import os

        import openvino as ov

        ir = self._shape_file(shape)
        if ir is not None and not (ir.is_file() and ir.with_suffix(".bin").is_file()):
            model = self.model.clone()
            model.reshape({0: list(shape)})
            tmp = ir.with_name(f".{ir.stem}.{os.getpid()}.{threading.get_ident()}.xml")
            try:  # under temporary names, then renamed: the .bin before the .xml
                ov.save_model(model, str(tmp), compress_to_fp16=False)
                os.replace(tmp.with_suffix(".bin"), ir.with_suffix(".bin"))
                os.replace(tmp, ir)
            except (OSError, RuntimeError) as exc:
                log.warning("%s: cannot keep the reshaped graph (%s); compiling it from memory", ir, exc)
                for part in (tmp, tmp.with_suffix(".bin")):
                    part.unlink(missing_ok=True)
                return self.core.compile_model(model, "CPU", self.config)
        if ir is not None:
            try:
                return self.core.compile_model(str(ir), "CPU", self.config)
            except RuntimeError as exc:  # an unreadable file: compiled from memory
                log.warning("%s: cannot compile the kept graph (%s); reshaping the model again", ir, exc)
        model = self.model.clone()
        model.reshape({0: list(shape)})
        return self.core.compile_model(model, "CPU", self.config)

    def _request(self, shape: tuple[int, ...]) -> Any:
        with self._lock:
            compiled = self._compiled.get(shape)
            if compiled is None:
                if len(self._compiled) >= self.max_shapes:
                    self._compiled.pop(next(iter(self._compiled)))
                compiled = self._compiled[shape] = self._compile(shape)
        requests = self._local.__dict__.setdefault("requests", {})
        req = requests.get(shape)
        if req is None or req[0] is not compiled:
            req = requests[shape] = (compiled, compiled.create_infer_request())
        return req[1]

    def run(self, z: torch.Tensor) -> torch.Tensor:
        import numpy as np
        import torch

        x = np.ascontiguousarray(z.detach().to("cpu", torch.float32).numpy())
        req = self._request(tuple(x.shape))
        req.infer({0: x})
        return torch.from_numpy(req.get_output_tensor(0).data.copy())
