"""One ``glofwatch watch`` pass: per area, fetch the new dates, map them, update the tracked lakes and alerts.

For each area of the configuration (:mod:`glofwatch.watch.config`) the pass
works in ``OUT/<area>/``:

1. ``scenes/``: :func:`glofwatch.scene.acquire.fetch` over the area from
   ``start`` to ``end`` (default today), skipping the dates fetched or found
   cloudy before (``watch.json``);
2. ``maps/<date>/``: every fetched date mapped (:func:`glofwatch.mapping.batch.map_scenes`,
   resumed by the model's and options' hash);
3. ``monitor/``, ``risk/``, ``alerts/``: :func:`glofwatch.pipeline.chain.run_warning_chain`
   once two dates or more are mapped, and only when the set of maps changed since
   it last ran to the end.

``watch.json`` records the dates fetched, rejected and mapped and the maps the
chain last ran on; it is written atomically after each step, and only when it
changes. So a pass is idempotent (a second one finds nothing new and writes
nothing), and a pass killed at any point resumes where it stopped (every output
is atomic; the chain reruns until it has finished once on the current maps).
``OUT/.watch.lock`` (an OS file lock, released when the process ends, even when
killed) keeps two passes from running at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError
from glofwatch.watch.config import Area, WatchConfig

LOCK_FILE = ".watch.lock"
STATE_FILE = "watch.json"


@dataclass
class AreaRun:
    """What one pass did for one area.

    Attributes:
        name: the area.
        new_dates: dates fetched in this pass.
        mapped: dates mapped in this pass.
        chain: True when monitor, risk and alerts ran.
        dates: every date with a map.
        rejected: date -> why it is not used.
        new_messages: CAP messages sent in this pass.
    """

    name: str
    new_dates: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    chain: bool = False
    dates: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    new_messages: int = 0


@contextlib.contextmanager
def watch_lock(out: Path) -> Iterator[Path]:
    """Hold ``out/.watch.lock`` for the pass, or say that another pass holds it.

    Raises:
        ConfigError: another ``glofwatch watch`` on the same folder is running.
    """
    from filelock import FileLock, Timeout

    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"{path}: another `glofwatch watch` is running on {out}; wait for it to finish "
                          "(the lock goes when that process ends)") from None
    try:
        yield path
    finally:
        lock.release()


def _save(path: Path, state: dict[str, Any], before: dict[str, Any]) -> None:
    from glofwatch.io.atomic import write_json_atomic

    if state != before:
        write_json_atomic(path, state)
        before.clear()
        before.update(json_copy(state))


def json_copy(value: Any) -> Any:
    """A deep copy through JSON (what the state file will hold)."""
    import json

    return json.loads(json.dumps(value))


def _maps_signature(maps: Path, dates: list[str]) -> dict[str, str]:
    """date -> resume hash of its map (what the chain's last run used)."""
    from glofwatch.io.files import read_json

    return {d: str((read_json(maps / d / "summary.json").get("resume") or {}).get("hash")) for d in dates}


def watch_area(cfg: WatchConfig, area: Area, say: Callable[[str], None]) -> AreaRun:
    """One pass for one area (see the module docstring)."""
    from glofwatch.io.files import read_json
    from glofwatch.mapping.batch import MapOptions, map_scenes
    from glofwatch.scene.acquire import fetch

    root = cfg.out / area.name
    state_path = root / STATE_FILE
    saved = read_json(state_path)
    state = json_copy(saved) or {"area": area.name, "fetched": [], "rejected": {}, "mapped": [], "chain": None}
    run = AreaRun(area.name)
    tag = f"[{area.name}]"

    skip = set(state["fetched"]) | set(state["rejected"])
    result = fetch(area.bbox, cfg.start.isoformat(), cfg.end_date().isoformat(), root / "scenes", catalog=cfg.catalog,
                   collection=cfg.collection, max_cloud=area.max_cloud, timeout_s=cfg.timeout, skip_dates=skip,
                   allow_empty=True, polygon=area.polygon, progress=lambda line: say(f"{tag} {line}"))
    run.new_dates = sorted(d for d in result.dates if d not in state["fetched"])
    state["fetched"] = sorted(set(state["fetched"]) | set(result.dates))
    state["rejected"] = dict(sorted({**state["rejected"], **result.rejected}.items()))
    _save(state_path, state, saved)
    run.rejected = dict(state["rejected"])
    if not run.new_dates:
        say(f"{tag} no new dates ({len(state['fetched'])} fetched before, "
            f"{len(state['rejected'])} too cloudy or empty)")

    scenes = [root / "scenes" / f"{d}.tif" for d in state["fetched"]]
    options = MapOptions(min_area_m2=area.min_area_m2, backend=cfg.backend, device=cfg.device)
    maps = root / "maps"
    for res in map_scenes(scenes, area.model, maps, options):
        if res.status == "failed":
            raise ConfigError(f"{tag} mapping {res.scene} failed: {res.message}")
        if res.status == "done":
            run.mapped.append(res.name)
            done = res.summary or {}
            say(f"{tag} {res.name}: mapped, {done.get('n_lakes')} lakes, {done.get('lake_area_km2', 0.0):.3f} km2"
                + (f" ({res.message})" if res.message else ""))
    state["mapped"] = list(state["fetched"])
    _save(state_path, state, saved)
    run.dates = list(state["mapped"])

    signature = _maps_signature(maps, run.dates)
    done_before = state.get("chain") or {}
    chain_files = all((root / sub).is_dir() for sub in ("monitor", "risk", "alerts"))
    if len(run.dates) < 2:
        say(f"{tag} {len(run.dates)} mapped date(s): lake tracking and alerts start with the second date")
    elif done_before.get("maps") != signature or not chain_files:
        from glofwatch.pipeline.chain import run_warning_chain

        chain = run_warning_chain({d: root / "scenes" / f"{d}.tif" for d in run.dates}, area.model, root,
                                  dem=area.dem, glaciers=area.glaciers, settlements=area.settlements,
                                  min_level=area.min_level, sender=cfg.sender, status=cfg.status,
                                  backend=cfg.backend, device=cfg.device, say=lambda line: say(f"{tag} {line}"))
        run.chain, run.new_messages = True, len(chain.alerts.messages)
        state["chain"] = {"maps": signature}
        _save(state_path, state, saved)
    else:
        say(f"{tag} tracked lakes and alerts are up to date ({len(run.dates)} dates)")
    return run


def run_watch(cfg: WatchConfig, say: Callable[[str], None] | None = None) -> list[AreaRun]:
    """One locked pass over every area of ``cfg``."""
    say = say or (lambda _line: None)
    with watch_lock(cfg.out):
        return [watch_area(cfg, area, say) for area in cfg.areas]
