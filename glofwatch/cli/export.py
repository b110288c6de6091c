"""``glofwatch export``: write a trained model as one self-describing ONNX or OpenVINO file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def export_cmd(
    run: Path = typer.Argument(..., help="Run folder or model.pt."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx or openvino (.xml + .bin)."),
    int8: bool = typer.Option(False, "--int8", help="Post-training static INT8 quantisation (QDQ, per-channel)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default RUN/export/model[-int8].onnx|.xml)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="INT8 calibration data root (default: the run's training data)."),
    calib_images: int = typer.Option(32, help="Training crops used to calibrate INT8."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare exported and PyTorch probabilities on a random input."),
) -> None:
    """Export RUN to one self-describing ONNX or OpenVINO file.

    The graph is the network only (normalised image -> logits) with dynamic batch, height and width;
    the input normalisation, stride, threshold, preset and validation metrics travel as metadata.
    """
    from glofwatch.models.export import export_model, file_size_mb

    path = export_model(run, fmt, out=out, int8=int8, data_root=data, calib_images=calib_images)
    typer.echo(f"wrote {path} ({file_size_mb(path):.1f} MB, {fmt}{', INT8' if int8 else ''})")
    if check:
        typer.echo(parity_line(run, path))


def parity_line(run: Path, exported: Path) -> str:
    """One line comparing exported and eager probabilities on two random images of 2 x stride + 8 px."""
    import torch

    from glofwatch.models.backends import build_backend

    eager = build_backend("torch", run, device="cpu")
    other = build_backend("openvino" if exported.suffix == ".xml" else "onnxruntime", exported)
    side = 2 * eager.stride + 8
    x = torch.rand(2, eager.spec.in_channels, side, side, generator=torch.Generator().manual_seed(0)) * 255
    p_ref, p_exp = eager.predict_batch(x), other.predict_batch(x)
    diff = (p_ref - p_exp).abs().max().item()
    flips = ((p_ref > eager.threshold) != (p_exp > eager.threshold)).float().mean().item()
    return f"check: max |probability difference| vs PyTorch {diff:.2e}, mask pixels differing {100 * flips:.3f} %"


def register(app: typer.Typer) -> None:
    """Add ``export``."""
    app.command("export")(export_cmd)
