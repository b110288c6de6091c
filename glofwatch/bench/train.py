"""``glofwatch bench train``: seconds per training step per preset, and what the study protocol would take.

One step is what training does per batch: normalise, forward, loss, backward,
optimizer step (the preset's model, loss and optimizer; random weights and
random data, since speed does not depend on them). Each preset is timed on
every combination asked for of device (CPU, CUDA), precision (fp32, or bf16
through ``torch.autocast`` as ``precision: auto`` trains on CUDA), memory
format (channels-last or not) and ``torch.compile`` of the network (as
``compile: true`` trains). Each combination is one row with:

* ``s_per_step``: median seconds of the timed steps (steady state: the warm-up
  steps before them absorb compilation, cuDNN set-up and allocator growth);
* ``forward_s``: median seconds of one validation batch (eval mode, no
  gradients: forward and loss), after one warm-up batch;
* ``compile_s`` (compiled rows): the one-off cost, i.e. the warm-up steps and
  the warm-up validation batch minus what they would take at steady state;
* ``peak_mb``: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak
  resident memory during the row on CPU (Linux resets it per row).

:func:`project_study` turns the rows into minutes for the study protocol (per
preset: ``epochs x ceil(train_crops / batch)`` training steps plus
``epochs x ceil(val_crops / batch)`` validation batches, plus the compile time
once) with the fastest configuration of each preset, and says whether the six
study rows fit the 15-minute goal. It excludes data loading, augmentation,
metric bookkeeping, checkpoint writes and the end-of-run threshold choice.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError

DEFAULT_PRESETS = ("fast", "dlv3p-r50-bce")
STUDY_PRESETS = ("dlv3p-r50-bce", "dlv3p-r50-focal", "dlv3p-r50-dice", "unet-ce", "unet-r50-ce", "unet-effb0-ce")
"""The six segmentation rows of the study (YOLOv8-Seg trains through ultralytics and is not timed here)."""
STUDY_EPOCHS, STUDY_TRAIN_CROPS, STUDY_VAL_CROPS = 50, 1000, 200
GOAL_MIN = 15.0
"""The goal for the six study rows on one H100-class GPU, in minutes."""

PRECISIONS = {"32": ("32",), "bf16": ("bf16",), "both": ("32", "bf16")}
SWITCHES = {"off": (False,), "on": (True,), "both": (False, True)}


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


def expand_presets(names: Sequence[str]) -> list[str]:
    """``study`` stands for the six study rows; duplicates are dropped, order kept."""
    out: list[str] = []
    for name in names:
        for n in STUDY_PRESETS if name == "study" else (name,):
            if n not in out:
                out.append(n)
    return out


def resolve_devices(devices: Sequence[str] | None) -> list[str]:
    """``cpu``/``cuda``/``auto`` (comma lists allowed) -> the devices to time; default ``auto``.

    Raises:
        ConfigError: an unknown name, or ``cuda`` with no visible CUDA GPU.
    """
    import torch

    names = [d.strip().lower() for item in (devices or ["auto"]) for d in str(item).split(",") if d.strip()]
    out: list[str] = []
    for name in names or ["auto"]:
        if name not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device {name!r} is unknown; use cpu, cuda or auto")
        if name == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is visible (torch.cuda.is_available() is "
                              "False); run on a machine with a CUDA GPU or use --device cpu")
        dev = ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
        if dev not in out:
            out.append(dev)
    return out


def _choice(option: str, value: str, table: dict[str, tuple[Any, ...]], auto: tuple[Any, ...]) -> tuple:
    if value == "auto":
        return auto
    if value not in table:
        raise ConfigError(f"--{option} {value!r} is unknown; use {', '.join(table)} or auto")
    return table[value]


def precisions_for(value: str, device: str) -> tuple[str, ...]:
    """``--precision`` on ``device``: auto is fp32 on CPU, fp32 and bf16 on CUDA."""
    return _choice("precision", value, PRECISIONS, ("32",) if device == "cpu" else ("32", "bf16"))


def compiles_for(value: str, device: str) -> tuple[bool, ...]:
    """``--compile`` on ``device``: auto is off on CPU (compiling takes minutes there), off and on on CUDA."""
    return _choice("compile", value, SWITCHES, (False,) if device == "cpu" else (False, True))


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def time_steps(
    cfg: Any, device: str, channels_last: bool, batch: int, size: int, steps: int, warmup: int,
    precision: str = "32", compile: bool = False,
) -> dict[str, Any]:
    """Time training steps and validation batches of ``cfg``'s model on random data.

    Args:
        precision: "32", or "bf16" (``torch.autocast`` in bfloat16 on ``device``).
        compile: run the network through ``torch.compile`` (the task's ``compile: true``);
            at least one warm-up step is then taken, so the timed steps are compiled ones.

    Returns:
        {"s_per_step", "min_s", "images_per_s", "steps", "warmup", "warmup_s", "forward_s",
        "warmup_forward_s", "compile_s", "peak_mb", "memory"}.
    """
    import numpy as np
    import torch

    from glofwatch.runtime import peak_rss_mb
    from glofwatch.train.task import SegmentationTask

    cuda = device == "cuda"
    bf16 = precision == "bf16"
    if bf16 and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU has no bfloat16 support; use --precision 32")
    warmup = max(warmup, 1) if compile else warmup
    gc.collect()
    if compile:
        torch._dynamo.reset()  # fresh compile per row (the recompile limit would silently fall back to eager)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        memory = "cuda max allocated"
    else:
        memory = "peak RSS during the row" if _reset_peak_rss() else "peak RSS of the process"

    conf = cfg.to_dict() | {"channels_last": channels_last, "compile": compile}
    task = SegmentationTask(conf, init_weights=False).to(device).train()
    opt = torch.optim.Adam(task.net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    c = task.spec.in_channels
    x = (torch.rand(batch, c, size, size, generator=gen) * 255).to(device)
    y = (torch.rand(batch, size, size, generator=gen) > 0.8).long().to(device)
    valid = torch.ones(batch, size, size, dtype=torch.bool, device=device)

    def timed(fn: Callable[[], None]) -> float:
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            logits = task(x, valid)
            loss = task.loss_fn(logits.float(), y, valid)
        loss.backward()
        opt.step()

    def forward() -> None:
        with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            logits = task(x, valid)
            task.loss_fn(logits.float(), y, valid)

    warm = [timed(step) for _ in range(warmup)]
    times = [timed(step) for _ in range(steps)]
    task.eval()
    warm_fwd = timed(forward)
    fwd = [timed(forward) for _ in range(steps)]
    med, fwd_med = float(np.median(times)), float(np.median(fwd))
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb()
    compile_s = max(0.0, sum(warm) - warmup * med) + max(0.0, warm_fwd - fwd_med) if compile else None
    return {"s_per_step": med, "min_s": float(min(times)), "images_per_s": batch / med, "steps": steps,
            "warmup": warmup, "warmup_s": float(sum(warm)), "forward_s": fwd_med, "warmup_forward_s": warm_fwd,
            "compile_s": compile_s,
            "peak_mb": float(peak), "memory": memory}


def bench_train(
    presets: list[str],
    out_dir: str | Path | None,
    batch: int = 8,
    size: int = 320,
    steps: int = 3,
    warmup: int = 1,
    devices: list[str] | None = None,
    channels_last: str = "both",
    precision: str = "auto",
    compile: str = "auto",
    threads: int | None = None,
    epochs: int = STUDY_EPOCHS,
    train_crops: int = STUDY_TRAIN_CROPS,
    val_crops: int = STUDY_VAL_CROPS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time training steps; write ``train.json`` and ``train.md`` to ``out_dir`` (None: write nothing).

    Args:
        presets: preset names or model names; ``study`` stands for the six study rows.
        batch, size: images per step and square crop side in pixels.
        steps, warmup: timed and untimed steps per configuration.
        devices: cpu, cuda and/or auto (CUDA when visible, else CPU; the default).
        channels_last, compile: both, on or off (compile auto: off on CPU, both on CUDA).
        precision: both, bf16, 32 or auto (32 on CPU, both on CUDA).
        threads: CPU threads for torch (default: torch's default).
        epochs, train_crops, val_crops: the protocol :func:`project_study` projects.
        progress: called with one line per configuration.
    """
    import torch

    from glofwatch.bench import machine_info, write_report

    say = progress or (lambda msg: None)
    if steps < 1:
        raise ConfigError(f"--steps {steps} must be >= 1")
    devs = resolve_devices(devices)
    formats = _choice("channels-last", channels_last, SWITCHES, (False, True))
    grid = {d: (precisions_for(precision, d), compiles_for(compile, d)) for d in devs}
    names = expand_presets(presets)
    configs = [(name, resolve_bench_config(name)) for name in names]
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for name, cfg in configs:
            for device in devs:
                for prec in grid[device][0]:
                    for comp in grid[device][1]:
                        for cl in formats:
                            _run_one(name, cfg, device, prec, comp, cl, batch, size, steps, warmup, say,
                                     results, errors)
    finally:
        torch.set_num_threads(old_threads)
    doc: dict[str, Any] = {
        "kind": "train", "machine": machine_info() | {"torch_threads": threads or old_threads},
        "settings": {"batch": batch, "size": size, "steps": steps, "warmup": warmup, "devices": devs,
                     "threads": threads or old_threads, "channels_last": list(formats),
                     "precision": {d: list(g[0]) for d, g in grid.items()},
                     "compile": {d: list(g[1]) for d, g in grid.items()},
                     "protocol": {"epochs": epochs, "train_crops": train_crops, "val_crops": val_crops}},
        "results": results, "errors": errors}
    doc["projection"] = project_study(results, epochs, train_crops, val_crops)
    if out_dir is not None:
        write_report(out_dir, "train", doc, train_markdown(doc))
    return doc


def _run_one(name: str, cfg: Any, device: str, prec: str, comp: bool, cl: bool, batch: int, size: int, steps: int,
             warmup: int, say: Callable[[str], None], results: list[dict[str, Any]],
             errors: list[dict[str, Any]]) -> None:
    key = {"preset": name, "device": device, "precision": prec, "channels_last": cl, "compile": comp}
    say(f"{name} on {device}, {'bf16' if prec == 'bf16' else 'fp32'}{', channels-last' if cl else ''}"
        f"{', compiled' if comp else ''}")
    try:
        res = time_steps(cfg, device, cl, batch, size, steps, warmup, precision=prec, compile=comp)
    except Exception as exc:  # noqa: BLE001 - keep the other configurations
        errors.append(key | {"error": (str(exc).splitlines() or [type(exc).__name__])[0]})
        return
    results.append(key | {"model": cfg.model, "loss": cfg.loss, "batch": batch, "size": size, **res})


def project_study(results: list[dict[str, Any]], epochs: int = STUDY_EPOCHS, train_crops: int = STUDY_TRAIN_CROPS,
                  val_crops: int = STUDY_VAL_CROPS, goal_min: float = GOAL_MIN) -> dict[str, Any]:
    """Minutes to train every measured preset with the study protocol, per device, at its fastest configuration.

    Per row: ``epochs * ceil(train_crops / batch) * s_per_step + epochs * ceil(val_crops / batch) * forward_s``
    plus ``compile_s`` once (a compiled configuration compiles once per run). The verdict on
    ``goal_min`` is given only when all six study rows were measured on the device.
    """
    out: dict[str, Any] = {}
    for device in dict.fromkeys(r["device"] for r in results):
        best: dict[str, dict[str, Any]] = {}
        for r in (r for r in results if r["device"] == device):
            steps = epochs * math.ceil(train_crops / r["batch"])
            val_batches = epochs * math.ceil(val_crops / r["batch"]) if val_crops > 0 else 0
            seconds = steps * r["s_per_step"] + val_batches * r["forward_s"] + (r["compile_s"] or 0.0)
            row = {"preset": r["preset"], "precision": r["precision"], "channels_last": r["channels_last"],
                   "compile": r["compile"], "train_steps": steps, "val_batches": val_batches,
                   "s_per_step": r["s_per_step"], "forward_s": r["forward_s"], "compile_s": r["compile_s"],
                   "seconds": seconds, "minutes": seconds / 60}
            if r["preset"] not in best or seconds < best[r["preset"]]["seconds"]:
                best[r["preset"]] = row
        total_min = sum(r["minutes"] for r in best.values())
        missing = [p for p in STUDY_PRESETS if p not in best]
        out[device] = {"rows": list(best.values()), "total_min": total_min, "goal_min": goal_min,
                       "study_complete": not missing, "missing": missing,
                       "meets_goal": total_min < goal_min if not missing else None}
    return out


def _config_label(r: dict[str, Any]) -> str:
    parts = ["bf16" if r["precision"] == "bf16" else "fp32"]
    return ", ".join(parts + (["channels-last"] if r["channels_last"] else []) + (["compiled"] if r["compile"] else []))


def projection_lines(doc: dict[str, Any]) -> list[str]:
    """One sentence per device: projected minutes and the verdict on the goal."""
    p = doc["settings"]["protocol"]
    lines = []
    for device, proj in doc.get("projection", {}).items():
        what = (f"{len(proj['rows'])} preset(s) x {p['epochs']} epochs of {p['train_crops']} crops "
                f"(+ {p['val_crops']} validation crops per epoch) at batch {doc['settings']['batch']}, "
                f"{doc['settings']['size']} px")
        if proj["study_complete"]:
            verdict = (f"meets the < {proj['goal_min']:g} min goal" if proj["meets_goal"]
                       else f"misses the < {proj['goal_min']:g} min goal")
            lines.append(f"Projected study protocol on {device}: {proj['total_min']:.1f} min for the six study rows "
                         f"({what}): {verdict}.")
        else:
            lines.append(f"Projected on {device}: {proj['total_min']:.1f} min for {what}; not the full study "
                         f"(missing {', '.join(proj['missing'])}; use --presets study), so no verdict on the "
                         f"< {proj['goal_min']:g} min goal.")
    return lines


def train_markdown(doc: dict[str, Any]) -> str:
    """The Markdown report: one row per preset x device x precision x compile x memory format, then the projection."""
    from glofwatch.bench import markdown_table

    s, mach = doc["settings"], doc["machine"]
    head = (f"Training step (forward, loss, backward, Adam) at batch {s['batch']}, {s['size']}x{s['size']} px, "
            f"median of {s['steps']} steps after {s['warmup']} warm-up (at least 1 when compiled); "
            f"validation batch: forward and loss without gradients; {mach['cpu']}, {mach['torch_threads']} threads"
            f"{', ' + mach['cuda'] if mach['cuda'] else ''}. Peak memory: CUDA max allocated on CUDA, "
            "peak process RSS on CPU.\n")
    rows = [[r["preset"], r["model"], r["device"], r["precision"], "yes" if r["channels_last"] else "no",
             "yes" if r["compile"] else "no", r["s_per_step"], r["images_per_s"], r["forward_s"], r["peak_mb"],
             r["compile_s"]] for r in doc["results"]]
    table = markdown_table(["preset", "model", "device", "precision", "channels-last", "compile", "s/step", "images/s",
                            "val s/batch", "peak MB", "compile s"], rows)
    errs = "".join(f"\n- {e['preset']} / {e['device']} / {e['precision']} / channels_last={e['channels_last']} / "
                   f"compile={e['compile']}: {e['error']}" for e in doc["errors"])
    proj = ""
    for device, pr in doc.get("projection", {}).items():
        prow = [[r["preset"], _config_label(r), r["train_steps"], r["val_batches"], r["compile_s"], r["minutes"]]
                for r in pr["rows"]]
        proj += (f"\n\nProjection on {device} (fastest configuration per preset; excludes data loading):\n\n"
                 + markdown_table(["preset", "configuration", "train steps", "val batches", "compile s", "minutes"],
                                  prow))
    summary = "\n".join(projection_lines(doc))
    return head + "\n" + table + ("\n\nFailed:" + errs if errs else "") + proj + ("\n\n" + summary if summary else "")
