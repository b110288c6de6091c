"""``glofwatch bench train``: seconds per training step per preset.

One step is what training does per batch: normalise, forward, loss, backward,
optimizer step (the preset's model, loss and optimizer; random weights and
random data, since speed does not depend on them). Each preset is timed with
and without channels-last memory format, on CPU and on CUDA when present
(CUDA in bf16 autocast, as ``precision: auto`` trains).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError

DEFAULT_PRESETS = ("fast", "dlv3p-r50-bce")


def resolve_bench_config(name: str) -> Any:
    """A preset name, or a model name (default training settings), as a :class:`TrainConfig`."""
    from glofwatch.config import list_presets, resolve_config
    from glofwatch.models.registry import MODELS
    from glofwatch.registry import close_matches_hint

    preset_names = list_presets()
    if name in preset_names:
        return resolve_config(name, {"weights": "none"})
    if name in MODELS:
        return resolve_config(None, {"model": name, "weights": "none", "preset": f"model:{name}"})
    hint = close_matches_hint(name, preset_names + MODELS.names())
    raise ConfigError(
        f"'{name}' is neither a preset nor a model{hint}; see `glofwatch train --help` and `glofwatch models`"
    )


def time_steps(
    cfg: Any, device: str, channels_last: bool, batch: int, size: int, steps: int, warmup: int
) -> dict[str, Any]:
    """Median seconds per training step of ``cfg``'s model on random data.

    Returns:
        {"s_per_step", "min_s", "images_per_s", "steps"}.
    """
    import numpy as np
    import torch

    from glofwatch.train.task import SegmentationTask

    conf = cfg.to_dict() | {"channels_last": channels_last}
    task = SegmentationTask(conf, init_weights=False).to(device).train()
    opt = torch.optim.Adam(task.net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    c = task.spec.in_channels
    x = (torch.rand(batch, c, size, size, generator=gen) * 255).to(device)
    y = (torch.rand(batch, size, size, generator=gen) > 0.8).long().to(device)
    valid = torch.ones(batch, size, size, dtype=torch.bool, device=device)
    cuda = device == "cuda"

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            logits = task(x, valid)
            loss = task.loss_fn(logits.float(), y, valid)
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {"s_per_step": med, "min_s": float(min(times)), "images_per_s": batch / med, "steps": steps}


def bench_train(
    presets: list[str],
    out_dir: str | Path | None,
    batch: int = 8,
    size: int = 320,
    steps: int = 3,
    warmup: int = 1,
    devices: list[str] | None = None,
    channels_last: tuple[bool, ...] = (False, True),
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time training steps; write ``train.json`` and ``train.md`` to ``out_dir`` (None: write nothing).

    Args:
        presets: preset names or model names.
        batch, size: images per step and square crop side in pixels.
        steps, warmup: timed and untimed steps per configuration.
        devices: ``["cpu"]`` plus ``"cuda"`` when available by default.
        channels_last: memory formats to try.
        threads: CPU threads for torch (default: torch's default).
        progress: called with one line per configuration.
    """
    import torch

    from glofwatch.bench import machine_info, write_report

    say = progress or (lambda msg: None)
    devices = devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    if "cuda" in devices and not torch.cuda.is_available():
        raise ConfigError("--devices cuda was asked for but no CUDA GPU is visible; use --devices cpu")
    configs = [(name, resolve_bench_config(name)) for name in presets]
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        _run_all(configs, devices, channels_last, batch, size, steps, warmup, say, results, errors)
    finally:
        torch.set_num_threads(old_threads)
    doc = {"kind": "train", "machine": machine_info() | {"torch_threads": threads or old_threads},
           "settings": {"batch": batch, "size": size, "steps": steps, "warmup": warmup, "devices": devices,
                        "threads": threads or old_threads, "precision": {"cpu": "32", "cuda": "bf16 autocast"}},
           "results": results, "errors": errors}
    if out_dir is not None:
        write_report(out_dir, "train", doc, train_markdown(doc))
    return doc


def _run_all(configs: list[tuple[str, Any]], devices: list[str], channels_last: tuple[bool, ...], batch: int, size: int,
             steps: int, warmup: int, say: Callable[[str], None], results: list[dict[str, Any]],
             errors: list[dict[str, Any]]) -> None:
    for name, cfg in configs:
        for device in devices:
            for cl in channels_last:
                say(f"{name} on {device}{' channels-last' if cl else ''}")
                try:
                    res = time_steps(cfg, device, cl, batch, size, steps, warmup)
                except Exception as exc:  # noqa: BLE001 - keep the other configurations
                    errors.append({"preset": name, "device": device, "channels_last": cl,
                                   "error": str(exc).splitlines()[0]})
                    continue
                results.append({"preset": name, "model": cfg.model, "loss": cfg.loss, "device": device,
                                "channels_last": cl, "batch": batch, "size": size, **res})


def train_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: one row per preset x device x memory format."""
    from glofwatch.bench import markdown_table

    s, mach = doc["settings"], doc["machine"]
    head = (f"Training step (forward, loss, backward, Adam) at batch {s['batch']}, {s['size']}x{s['size']} px, "
            f"median of {s['steps']} steps after {s['warmup']} warm-up; {mach['cpu']}, {mach['torch_threads']} threads"
            f"{', ' + mach['cuda'] if mach['cuda'] else ''}.\n")
    rows = [[r["preset"], r["model"], r["device"], "yes" if r["channels_last"] else "no", r["s_per_step"],
             r["images_per_s"]] for r in doc["results"]]
    table = markdown_table(["preset", "model", "device", "channels-last", "s/step", "images/s"], rows)
    errs = "".join(f"\n- {e['preset']} / {e['device']} / channels_last={e['channels_last']}: {e['error']}"
                   for e in doc["errors"])
    return head + "\n" + table + ("\n\nFailed:" + errs if errs else "")
