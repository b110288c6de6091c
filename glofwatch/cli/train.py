"""``glofwatch train`` and ``glofwatch presets``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _overrides(**opts: object) -> dict[str, object]:
    return {k: v for k, v in opts.items() if v is not None}


def _parse_set(pairs: list[str]) -> dict[str, str]:
    from glofwatch.errors import ConfigError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r} must look like key=value (e.g. --set loss_params='{{gamma: 3}}')")
        k, v = pair.split("=", 1)
        out[k.strip()] = v
    return out


def train_cmd(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Preset name (glofwatch presets) or YAML file."),
    data: Optional[Path] = typer.Option(None, "--data", "-d",
                                        help="Data root ({train,test}/{images,labels} or {images,masks})."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder to create."),
    resume: Optional[Path] = typer.Option(None, "--resume",
                                          help="Continue the run in this folder (epochs, optimizer, scheduler, RNG)."),
    model: Optional[str] = typer.Option(None, help="Model name (glofwatch models)."),
    weights: Optional[str] = typer.Option(None, help="default, imagenet, none, or a path to weights."),
    loss: Optional[str] = typer.Option(None, help="bce, focal, dice, ce or bce+dice."),
    lr: Optional[float] = typer.Option(None, help="Learning rate."),
    batch_size: Optional[int] = typer.Option(None, help="Images per step."),
    max_epochs: Optional[int] = typer.Option(None, help="Total epochs (on resume: the new total)."),
    max_steps: Optional[int] = typer.Option(None, help="Stop after this many optimizer steps."),
    time_budget: Optional[float] = typer.Option(None, help="Stop after this many seconds of training."),
    image_size: Optional[int] = typer.Option(None, help="Random training crop size in pixels."),
    augment: Optional[str] = typer.Option(None, help="none, study or robust."),
    seed: Optional[int] = typer.Option(None, help="Seed for weights, order and augmentation."),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda."),
    precision: Optional[str] = typer.Option(None, help="auto, 32, 16-mixed or bf16-mixed."),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last",
                                                 help="Channels-last memory format."),
    devices: Optional[str] = typer.Option(None, help="Devices per node (auto, 2, or 0,1)."),
    num_nodes: Optional[int] = typer.Option(None, help="Number of machines."),
    strategy: Optional[str] = typer.Option(None, help="Lightning strategy, e.g. ddp."),
    num_workers: Optional[int] = typer.Option(None, help="Data-loader workers."),
    group_by: Optional[str] = typer.Option(None, "--group-by", help="Keep groups whole in the validation (and, for "
                                           "one-folder data, test) split: none, regex:PATTERN, csv:FILE or footprint."),
    test_fraction: Optional[float] = typer.Option(None, "--test-fraction", help="Share of a one-folder data set held "
                                                  "out as the run's test split (default 0.2; "
                                                  "saved in RUN/split.json)."),
    set_: list[str] = typer.Option([], "--set", help="Any other setting as key=value (repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a segmentation model (one preset per study experiment)."""
    from rich.console import Console

    from glofwatch.config import resolve_config
    from glofwatch.errors import ConfigError
    from glofwatch.train.fit import resume_config, train

    overrides = _overrides(
        model=model, weights=weights, loss=loss, lr=lr, batch_size=batch_size, max_epochs=max_epochs,
        max_steps=max_steps, time_budget_s=time_budget, image_size=image_size, augment=augment, seed=seed,
        device=device, precision=precision, channels_last=channels_last, devices=devices, num_nodes=num_nodes,
        strategy=strategy, num_workers=num_workers, group_by=group_by, test_fraction=test_fraction,
    )
    overrides.update(_parse_set(set_))
    if resume is not None:
        if preset:
            raise ConfigError("--preset cannot be combined with --resume; the run keeps its own config")
        cfg = resume_config(resume, overrides)
        run_dir = resume
    else:
        if out is None:
            raise ConfigError("--out RUN_DIR is required for a new run (or use --resume RUN_DIR)")
        cfg = resolve_config(preset, overrides)
        run_dir = out
    console = Console(stderr=True)
    rendering_note = ""
    if resume is None and data is not None and data.is_dir():
        from glofwatch.train.rendering import record_data_rendering

        cfg, rendering_note = record_data_rendering(cfg, data)
    console.print(f"[bold]glofwatch train[/] {cfg.preset}: {cfg.model}, loss {cfg.loss}, "
                  f"{cfg.max_epochs} epochs -> {run_dir}")
    if rendering_note:
        console.print(f"input rendering: {rendering_note}", soft_wrap=True, markup=False, highlight=False)
    result = train(cfg, run_dir, data, resume=resume is not None, progress=progress)
    if result.stopped_by == "rank":  # a non-zero rank of a distributed run: rank 0 reports
        return
    best = result.best_metrics
    iou = best.get("val_iou")
    console.print(
        f"done: {result.epochs} epochs in {result.seconds:.0f} s ({result.stopped_by}); "
        + (f"best val IoU {100 * iou:.1f} % (epoch {best.get('epoch')}); " if isinstance(iou, float) else "")
        + f"model: {run_dir / 'model.pt'}"
    )
    _print_selection(console, run_dir)


def _print_selection(console: object, run_dir: Path) -> None:
    """One line on the split plan, the chosen threshold and the calibration (from split.json and summary.json)."""
    from glofwatch.data.plan import read_plan
    from glofwatch.io.files import read_json

    summary = read_json(run_dir / "summary.json")
    plan = read_plan(run_dir)
    parts = [f"split: {plan.describe()}"] if plan else []
    t = summary.get("threshold") or {}
    if t:
        parts.append(f"threshold {t['threshold']:g} ({t['threshold_source']})")
    c = summary.get("calibration") or {}
    if c:
        parts.append(f"temperature {c['temperature']:.3f}, "
                     f"ECE {100 * c['ece_before']:.2f} -> {100 * c['ece_after']:.2f} %")
    if parts:
        console.print("; ".join(parts), soft_wrap=True)  # type: ignore[attr-defined]


def presets_cmd() -> None:
    """List the presets (one per study experiment, plus the fast CPU preset)."""
    from rich.console import Console
    from rich.table import Table

    from glofwatch.config import list_presets, load_preset

    table = Table(title="glofwatch presets")
    for col in ("preset", "model", "loss", "weights", "study row", "description"):
        table.add_column(col)
    for name in list_presets():
        p = load_preset(name)
        table.add_row(name, str(p.get("model", "")), str(p.get("loss", "")), str(p.get("weights", "default")),
                      str(p.get("study_row") or ""), str(p.get("description", "")))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``presets``."""
    app.command("train")(train_cmd)
    app.command("presets")(presets_cmd)
