"""``glofwatch export``: write a trained model as one self-describing ONNX or OpenVINO file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def export_cmd(
    run: Path = typer.Argument(..., help="Run folder or model.pt."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx or openvino (.xml + .bin)."),
    int8: bool = typer.Option(False, "--int8", help="Post-training static INT8 quantisation (QDQ, per-channel)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Output file (default RUN/export/model[-int8].onnx|.xml)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d",
                                        help="INT8 calibration data root (default: the run's training data)."),
    calib_images: int = typer.Option(32, help="Training crops used to calibrate INT8."),
    int8_scope: str = typer.Option("decoder", help="INT8 layers: decoder (pretrained encoder and head stay fp32; "
                                   "lossless on the fast model) or all (faster for ResNet encoders; "
                                   "check with evaluate)."),
    check: bool = typer.Option(True, "--check/--no-check",
                               help="Compare exported and PyTorch probabilities on a random input."),
) -> None:
    """Export RUN to one self-describing ONNX or OpenVINO file.

    The graph is the network only (normalised image -> logits) with dynamic batch, height and width;
    the input normalisation, stride, threshold, preset and validation metrics travel as metadata.
    """
    from glofwatch.models.export import export_model, file_size_mb

    path = export_model(run, fmt, out=out, int8=int8, data_root=data, calib_images=calib_images,
                        int8_scope=int8_scope)
    typer.echo(f"wrote {path} ({file_size_mb(path):.1f} MB, {fmt}{f', INT8 ({int8_scope})' if int8 else ''})")
    if check:
        typer.echo(parity_line(run, path))


def _check_images(exported: Path, stride: int, channels: int):  # noqa: ANN202 - (tensor, valid or None, what)
    """Up to 4 calibration crops for an INT8 export (noise is outside what it was calibrated on), else noise."""
    import numpy as np
    import torch

    from glofwatch.models.export import read_export_metadata

    calib = read_export_metadata(exported).get("calibration") or {}
    if calib.get("data_root"):
        from glofwatch.data.dataset import GlacialLakesDataset

        try:
            ds = GlacialLakesDataset(calib["data_root"], "train")
            items = [ds[i] for i in np.linspace(0, len(ds) - 1, min(4, len(ds))).astype(int)]
            side = min(min(it["image"].shape[-2:]) for it in items)
            x = torch.stack([it["image"][:, :side, :side] for it in items])
            v = torch.stack([it["valid"][:side, :side] for it in items])
            return x, v, f"{len(items)} training crops"
        except Exception:  # noqa: BLE001 - fall back to noise
            pass
    side = 2 * stride + 8
    x = torch.rand(2, channels, side, side, generator=torch.Generator().manual_seed(0)) * 255
    return x, None, "2 random images"


def parity_line(run: Path, exported: Path) -> str:
    """One line comparing exported and eager probabilities (training crops for INT8, else random images)."""
    from glofwatch.infer.backends import build_backend

    eager = build_backend("torch", run, device="cpu")
    other = build_backend("openvino" if exported.suffix == ".xml" else "onnxruntime", exported)
    x, valid, what = _check_images(exported, eager.stride, eager.spec.in_channels)
    p_ref, p_exp = eager.predict_batch(x, valid), other.predict_batch(x, valid)
    diff = (p_ref - p_exp).abs().max().item()
    flips = ((p_ref > eager.threshold) != (p_exp > eager.threshold)).float().mean().item()
    return (f"check on {what}: max |probability difference| vs PyTorch {diff:.2e}, "
            f"mask pixels differing {100 * flips:.3f} %")


def register(app: typer.Typer) -> None:
    """Add ``export``."""
    app.command("export")(export_cmd)
