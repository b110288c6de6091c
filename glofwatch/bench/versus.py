"""``glofwatch bench versus``: our default model against the study's best row, same budget, same crops.

The study's best configuration is DeepLabV3+ with a ResNet50 encoder trained with the Dice
loss (preset ``dlv3p-r50-dice``, IoU 79.2 % in the study). This benchmark trains it and our
default (preset ``fast``) side by side, in one run, on every data set it can measure:

* ``synthetic-false-colour``: synthetic Sentinel-2-like crops in near-infrared false colour
  (B08, B04, B03), like the real crops at hand;
* ``synthetic-true-colour``: the same landscapes in true colour (B04, B03, B02), the study's
  rendering;
* ``real-grouped``: the real Himalayan crops of ``../shared/data/himalaya-kmeans`` (when
  present), split with flipped and rotated copies kept on one side (``group_by=duplicates``).

Every contender gets the same training budget: the same wall-clock seconds on this machine,
the same crops, split and seed, and the same test crops (checked: the test lists of the two
runs must be identical). Each keeps its own recipe otherwise (model, loss, augmentation,
schedule, crop size), since a configuration is what is compared. The study's row starts
from ImageNet in the study; here its ResNet50 weights are used when on disk and random
init otherwise (said in the table), while ``fast`` ships its ImageNet weights offline.

Each row records the test metrics (dataset-level IoU, Dice, precision, recall, F1), the
epochs done within the budget, the parameters, the GFLOPs per 320 px crop and the CPU
milliseconds per 320 px crop (torch, fp32, this machine). Runs are kept under
``OUT/<dataset>/<contender>``: a rerun skips rows whose metrics exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, InputError
from glofwatch.io.atomic import write_json_atomic, write_text_atomic
from glofwatch.io.files import read_json

STUDY_BEST = "dlv3p-r50-dice"
OURS = "fast"
CONTENDERS = (STUDY_BEST, OURS)
DATASETS = ("synthetic-false-colour", "synthetic-true-colour", "real-grouped")
DEFAULT_SECONDS = 300.0
SPEED_SIZE = 320
"""Crop size of the study (and of the speed and GFLOP columns)."""


@dataclass(frozen=True)
class VersusData:
    """One data set of the comparison.

    Attributes:
        name: one of :data:`DATASETS`.
        root: the data root.
        settings: config settings every contender gets on it (split grouping).
        note: what the data set is, for the table.
    """

    name: str
    root: Path
    settings: dict[str, Any]
    note: str


def prepare_datasets(out: Path, names: Sequence[str], n: int, size: int, seed: int,
                     real_root: str | Path | None = None) -> list[VersusData]:
    """The data sets ``names`` (synthetic ones written under ``out/data`` once; real ones read in place).

    Raises:
        ConfigError: an unknown data set name.
        InputError: ``real-grouped`` asked for explicitly and the real crops are not found.
    """
    from glofwatch.bench.realism import find_real_root
    from glofwatch.registry import close_matches_hint
    from glofwatch.scene.synth import has_synthetic_dataset, write_synthetic_dataset
    from glofwatch.scene.synth.crops import CropParams

    sets = []
    for name in names:
        if name not in DATASETS:
            raise ConfigError(f"--datasets: unknown data set '{name}'{close_matches_hint(name, list(DATASETS))} "
                              f"(known: {', '.join(DATASETS)})")
        if name == "real-grouped":
            root = find_real_root(real_root)
            sets.append(VersusData(name, root, {"group_by": "duplicates"},
                                   f"real crops in {root} (K-means reference masks), grouped split"))
            continue
        rendering = name.removeprefix("synthetic-")
        root = out / "data" / name
        if not has_synthetic_dataset(root, n, size, seed, rendering):
            write_synthetic_dataset(root, n=n, size=size, seed=seed, params=CropParams(rendering=rendering))
        sets.append(VersusData(name, root, {}, f"{n} synthetic {rendering} crops of {size} px, seed {seed}"))
    return sets


def parse_contender(text: str) -> tuple[str, dict[str, str]]:
    """``PRESET[:KEY=VALUE[:KEY=VALUE...]]`` -> (preset, settings), e.g. ``fast:weights=none``.

    Raises:
        ConfigError: a setting without ``=``.
    """
    preset, *pairs = text.split(":")
    settings = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"--contenders {text}: '{pair}' is not KEY=VALUE; write e.g. fast:weights=none")
        settings[key.strip()] = value.strip()
    return preset.strip(), settings


def _contender_config(contender: str, seconds: float, seed: int, device: str, settings: dict[str, Any],
                      overrides: dict[str, Any]) -> tuple[Any, str]:
    """The config of one contender (a preset, with its own settings after ``:``) and how it was initialised."""
    from glofwatch.config import resolve_config
    from glofwatch.models.registry import get_spec
    from glofwatch.models.weights import imagenet_available

    preset, own = parse_contender(contender)
    ov = {"time_budget_s": seconds, "max_epochs": 1000, "seed": seed, "device": device, **settings, **overrides,
          **own}
    cfg = resolve_config(preset, ov)
    init = "file" if cfg.weights not in ("imagenet", "default", "none") else cfg.weights
    if cfg.weights in ("imagenet", "default"):
        if imagenet_available(get_spec(cfg.model).encoder):
            init = "ImageNet"
        else:
            cfg = resolve_config(preset, {**ov, "weights": "none"})
            init = "random (ImageNet weights not on disk)"
    elif cfg.weights == "none":
        init = "random"
    return cfg, init


def _test_names(run: Path, data: Path) -> list[str]:
    """The file names of the crops the run is tested on."""
    from glofwatch.infer.evalset import eval_items

    items = eval_items(data, "test", run)
    return sorted(Path(items.dataset.image_paths[i]).name for i in items.indices)


def cpu_ms_per_crop(net: Any, size: int = SPEED_SIZE, repeats: int = 3) -> float:
    """Median CPU milliseconds of one forward pass of ``net`` (eval mode) on one ``size`` px crop (fp32)."""
    import torch

    x = torch.rand(1, 3, size, size)
    times = []
    with torch.inference_mode():
        net(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return 1000.0 * sorted(times)[len(times) // 2]


def _network_facts(run: Path) -> dict[str, float]:
    from glofwatch.bench.peak import count_gflops
    from glofwatch.models.bundle import load_bundle

    net = load_bundle(run / "model.pt").net.eval()
    params = sum(p.numel() for p in net.parameters()) / 1e6
    gflops = count_gflops(net, (1, 3, SPEED_SIZE, SPEED_SIZE))
    return {"params_m": round(params, 2), "gflops_320": round(gflops, 2), "cpu_ms_320": round(cpu_ms_per_crop(net), 1)}


def run_row(data: VersusData, preset: str, out: Path, seconds: float, seed: int, device: str,
            overrides: dict[str, Any], say: Callable[[str], None]) -> dict[str, Any]:
    """Train and evaluate one contender on one data set (skipped when its record exists)."""
    from glofwatch.infer.backends import load_predictor
    from glofwatch.infer.evaluate import evaluate
    from glofwatch.train.fit import train

    run = out / data.name / preset.replace(":", "@")
    record_path = run / "versus.json"
    if record_path.is_file() and (run / "model.pt").is_file():
        say(f"{data.name} / {preset}: done before, skipped")
        return read_json(record_path)
    cfg, init = _contender_config(preset, seconds, seed, device, data.settings, overrides)
    say(f"{data.name} / {preset}: training {cfg.model} for {seconds:g} s ({init})")
    if not (run / "model.pt").is_file():
        import shutil

        shutil.rmtree(run, ignore_errors=True)  # a run killed part-way restarts: the budget is wall-clock
        try:
            train(cfg, run, data.root, progress=False)
        except Exception as exc:  # noqa: BLE001 - recorded as the row's outcome, then raised again below
            if "before the first epoch finished" not in str(exc):
                raise
            record = {"dataset": data.name, "preset": preset, "model": cfg.model, "init": init,
                      "seconds": seconds, "epochs": 0, "metrics": None,
                      "note": f"no epoch finished within {seconds:g} s on this machine"}
            write_json_atomic(record_path, record)
            return record
    summary = read_json(run / "summary.json")
    say(f"{data.name} / {preset}: {summary.get('epochs')} epochs, evaluating on test")
    metrics = evaluate(load_predictor(run, backend="torch", device="cpu"), data.root, "test", run / "eval" / "test",
                       save_masks=False, run=run)
    record = {"dataset": data.name, "preset": preset, "model": cfg.model, "loss": cfg.loss, "init": init,
              "seconds": seconds, "trained_s": summary.get("seconds"), "epochs": summary.get("epochs"),
              "image_size": cfg.image_size, "metrics": metrics["micro"], "n_test": metrics["n_images"],
              "test_crops": _test_names(run, data.root), **_network_facts(run)}
    write_json_atomic(record_path, record)
    return record


def run_versus(out: str | Path, datasets: Sequence[str] = DATASETS, seconds: float = DEFAULT_SECONDS,
               n: int = 320, size: int = 256, seed: int = 0, device: str = "cpu",
               contenders: Sequence[str] = CONTENDERS, overrides: dict[str, Any] | None = None,
               real_root: str | Path | None = None, seconds_for: dict[str, float] | None = None,
               say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train every contender on every data set under one budget; write ``versus.json`` and ``versus.md``.

    Args:
        out: output folder.
        datasets: names from :data:`DATASETS`; ``real-grouped`` is left out (and said) when the
            real crops are not found and the default list is used.
        seconds: training seconds per contender and data set.
        n: synthetic crops per synthetic data set.
        size: synthetic crop size.
        seed: the seed of the data, the split and training.
        device: training device (evaluation and speed columns are on the CPU).
        contenders: presets (default: the study's best row and ours), each optionally with its own
            settings (``fast:weights=none``: our recipe from random init, like the study's row here).
        overrides: settings applied to every contender (tests use a tiny model).
        real_root: the real crops (default ``../shared/data/himalaya-kmeans``).
        seconds_for: training seconds for some data sets instead of ``seconds`` (both contenders
            alike), e.g. more for the real crops, whose 400 px crops take the study's row longer.
        say: called with one status line per step.

    Returns:
        The content of ``versus.json``: ``rows`` per data set and contender, and ``skipped``.

    Raises:
        InputError: the contenders were not tested on the same crops.
    """
    say = say or (lambda _m: None)
    out = Path(out)
    names, skipped = list(datasets), []
    if "real-grouped" in names and tuple(datasets) == DATASETS:
        from glofwatch.bench.realism import find_real_root

        try:
            find_real_root(real_root)
        except InputError as exc:
            names.remove("real-grouped")
            skipped.append(f"real-grouped: {exc}")
    t0 = time.monotonic()
    sets = prepare_datasets(out, names, n, size, seed, real_root)
    rows: list[dict[str, Any]] = []
    for data in sets:
        budget = float((seconds_for or {}).get(data.name, seconds))
        found = [run_row(data, preset, out, budget, seed, device, overrides or {}, say) for preset in contenders]
        tests = {tuple(r.get("test_crops", [])) for r in found if r.get("metrics")}
        if len(tests) > 1:
            raise InputError(f"{out / data.name}: the contenders were tested on different crops; delete the folder "
                             "and rerun (the data changed between runs?)")
        for r in found:
            r["data_note"] = data.note
        rows += found
    result = {"seconds_per_row": seconds, "seed": seed, "device": device, "contenders": list(contenders),
              "rows": [{k: v for k, v in r.items() if k != "test_crops"} for r in rows],
              "skipped": skipped, "wall_s": round(time.monotonic() - t0, 1)}
    write_json_atomic(out / "versus.json", result)
    write_text_atomic(out / "versus.md", render_versus(result))
    return result


def render_versus(result: dict[str, Any]) -> str:
    """The Markdown table of a :func:`run_versus` result, one block of rows per data set."""

    def pct(m: dict[str, Any] | None, key: str) -> str:
        return "–" if not m or m.get(key) is None else f"{100 * float(m[key]):.1f}"

    budgets = sorted({float(r["seconds"]) for r in result["rows"]})
    each = " or ".join(f"{b:g}" for b in budgets) or f"{result['seconds_per_row']:g}"
    lines = [f"# Our default against the study's best row, {each} s of training each (the same for both on a data set)",
             "", f"Device {result['device']}, seed {result['seed']}; metrics are dataset-level (micro) on the "
             "same test crops for both; speed is one 320 px crop, CPU fp32 torch on this machine.", "",
             "| data set | preset | model | init | seconds | epochs | IoU | Dice | Prec | Rec | F1 | params M "
             "| GFLOPs 320 px | CPU ms 320 px |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        m = r.get("metrics")
        lines.append(f"| {r['dataset']} | {r['preset']} | {r['model']} | {r['init']} | {float(r['seconds']):g} | "
                     f"{r.get('epochs', 0)} | "
                     f"{pct(m, 'iou')} | {pct(m, 'dice')} | {pct(m, 'precision')} | {pct(m, 'recall')} | "
                     f"{pct(m, 'f1')} | {r.get('params_m', '–')} | {r.get('gflops_320', '–')} | "
                     f"{r.get('cpu_ms_320', '–')} |")
    lines.append("")
    by_set: dict[str, dict[str, dict[str, Any]]] = {}
    for r in result["rows"]:
        by_set.setdefault(r["dataset"], {})[r["preset"]] = r
    for name, rows in by_set.items():
        theirs = rows.get(STUDY_BEST)
        if theirs and not theirs.get("metrics"):
            lines.append(f"- {name}: {STUDY_BEST}: {theirs.get('note')}.")
            continue
        for label, ours in rows.items():
            if label != STUDY_BEST and theirs and ours.get("metrics"):
                d = 100 * (ours["metrics"]["iou"] - theirs["metrics"]["iou"])
                lines.append(f"- {name}: {label} {'+' if d >= 0 else ''}{d:.1f} IoU points against {STUDY_BEST}.")
    lines += [f"- skipped {s}" for s in result.get("skipped", [])]
    notes = sorted({r["data_note"] for r in result["rows"] if r.get("data_note")})
    lines += ["", *[f"Data: {n}." for n in notes]]
    return "\n".join(lines) + "\n"


__all__ = ["CONTENDERS", "DATASETS", "STUDY_BEST", "VersusData", "parse_contender", "prepare_datasets",
           "render_versus", "run_row", "run_versus"]
