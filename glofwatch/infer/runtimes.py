"""The runtimes a model can execute on: eager PyTorch, ONNX Runtime and OpenVINO (choice: :mod:`.backends`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glofwatch.errors import ConfigError

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


class OpenVINOBackend(Backend):
    """OpenVINO on CPU, one compiled graph per input shape (static shapes run faster than dynamic ones).

    Only static shapes are used: OpenVINO 2026.4 runs the INT8 (QDQ) graph wrong with dynamic
    height and width (logits off by up to 8 from its static graph and from ONNX Runtime, which
    agree within 0.1), while each static shape takes about 0.4 s to compile. Trimmed tiles
    (:mod:`glofwatch.mapping.screen`) therefore ask :meth:`fit_shape` which shape to run in: their
    own once it has been asked for :attr:`static_after` times (and fewer than :attr:`max_shapes`
    graphs exist), else the smallest compiled shape that holds them.

    Compiled graphs are shared; infer requests are per thread (an OpenVINO request must not run
    two inferences at once), so one backend serves ``glofwatch map --worker-threads`` safely.
    """

    name = "openvino"
    max_shapes = 8
    static_after = 4

    def __init__(
        self, bundle: ModelBundle, model_path: Path, device: str, source: str, threads: int | None = None
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
        self.model = self.core.read_model(str(model_path))
        # f32 explicitly: on CPUs with AMX/AVX512-BF16 OpenVINO would otherwise run fp32 graphs in bf16
        # (probabilities off by ~2e-3); INT8 graphs keep their quantised layers either way.
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
                       "INFERENCE_PRECISION_HINT": "f32"}
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._asked: dict[tuple[int, int], int] = {}
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
        """The (height, width), at least (h, w) and at most (max_h, max_w), to run a batch of one in.

        (h, w) itself when its graph exists or it has now been asked for :attr:`static_after` times
        and there is room for its graph; else the compiled shape of least area that holds it within
        the maximum; else (max_h, max_w), the whole tile.
        """
        with self._lock:
            have = [s[2:] for s in self._compiled if len(s) == 4 and s[0] == 1]
            if (h, w) in have:
                return h, w
            asked = self._asked[(h, w)] = self._asked.get((h, w), 0) + 1
            if asked >= self.static_after and len(self._compiled) < self.max_shapes:
                return h, w
            fits = [(a, b) for a, b in have if h <= a <= max_h and w <= b <= max_w]
            return min(fits, key=lambda s: (s[0] * s[1], s)) if fits else (max_h, max_w)

    def _request(self, shape: tuple[int, ...]) -> Any:
        with self._lock:
            compiled = self._compiled.get(shape)
            if compiled is None:
                if len(self._compiled) >= self.max_shapes:
                    self._compiled.pop(next(iter(self._compiled)))
                model = self.model.clone()
                model.reshape({0: list(shape)})
                compiled = self._compiled[shape] = self.core.compile_model(model, "CPU", self.config)
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
