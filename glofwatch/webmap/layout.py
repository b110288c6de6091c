"""Find the stage outputs under the served folder, at any depth.

A folder is recognised by its files:

- map output (``glofwatch map``): ``summary.json``, ``probability.tif``, ``mask.tif``, ``lakes.gpkg``;
- monitoring output (``glofwatch monitor``): ``monitor.gpkg``;
- risk output (``glofwatch risk``): ``risk.gpkg`` and ``breakdown.json``;
- alerts output (``glofwatch alerts``): ``alerts.json``.

Hidden folders (``.webmap``, ``.git``, ...) are skipped and symbolic links are
not followed. Every file the web map reads is resolved and must lie inside the
served folder (:func:`inside`); scene GeoTIFFs named in ``summary.json`` may
also lie in the extra scene folders given with ``--scenes``. When a stage
appears more than once, the most recently written folder is used and a note
says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError

MAP_FILES = ("summary.json", "probability.tif", "mask.tif", "lakes.gpkg")
SCENE_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
"""File types looked for when a scene has moved with its folder."""
CACHE_DIR = ".webmap"
"""Folder under the served folder for rendered overlays, thumbnails and acknowledgements."""


def inside(root: Path, path: str | os.PathLike[str]) -> Path | None:
    """``path`` resolved (symbolic links followed), or None when it lies outside ``root``.

    Args:
        root: an already resolved folder.
        path: absolute, or relative to ``root``.
    """
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError):  # symlink loops
        return None
    return resolved if resolved == root or resolved.is_relative_to(root) else None


def inside_any(roots: tuple[Path, ...], path: str | os.PathLike[str]) -> Path | None:
    """The first of :func:`inside` over ``roots`` that is not None."""
    for root in roots:
        hit = inside(root, path)
        if hit is not None:
            return hit
    return None


@dataclass
class MapFolder:
    """One map output (one scene on one date).

    Attributes:
        folder: the resolved folder.
        key: short stable id used in URLs (slug of the name plus a hash of the relative path).
        summary: the content of ``summary.json``.
        name: scene name.
        date: acquisition date ``YYYY-MM-DD`` or None.
        scene: the source scene GeoTIFF, resolved inside the allowed roots, or None.
        scene_note: why ``scene`` is None ("" otherwise).
    """

    folder: Path
    key: str
    summary: dict[str, Any]
    name: str
    date: str | None
    scene: Path | None
    scene_note: str = ""

    def file(self, name: str) -> Path:
        """A file of this map output (one of :data:`MAP_FILES`)."""
        return self.folder / name


@dataclass
class Layout:
    """The stage outputs found under the served folder.

    Attributes:
        root: the served folder, resolved.
        maps: map outputs, by date then name (undated last).
        monitor: folder with ``monitor.gpkg`` or None.
        risk: folder with ``risk.gpkg`` and ``breakdown.json`` or None.
        alerts: folder with ``alerts.json`` or None.
        notes: one line per thing the map cannot show and why.
    """

    root: Path
    maps: list[MapFolder] = field(default_factory=list)
    monitor: Path | None = None
    risk: Path | None = None
    alerts: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when no stage output was found."""
        return not self.maps and self.monitor is None and self.risk is None and self.alerts is None

    def relative(self, path: Path) -> str:
        """``path`` relative to the served folder, for messages and the API."""
        try:
            return str(path.relative_to(self.root)) or "."
        except ValueError:
            return str(path)

    def cache(self) -> Path:
        """The web map's own folder, ``DIR/.webmap``."""
        return self.root / CACHE_DIR


def _key(name: str, rel: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "scene"
    return f"{slug}-{hashlib.sha256(rel.encode()).hexdigest()[:8]}"


def _read_summary(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _find_scene(summary: dict[str, Any], folder: Path, root: Path, scene_roots: tuple[Path, ...],
                by_name: dict[str, list[Path]]) -> tuple[Path | None, str]:
    """Resolve ``summary["scene"]`` inside the allowed roots.

    Tried in order: the path as written (relative to the map output, the served
    folder or a scene folder), then a file of the same name beside the outputs, in
    a scene folder, or anywhere in the served folder when only one has that name
    (a folder that was moved or copied).
    """
    text = summary.get("scene")
    if not text:
        return None, "summary.json names no scene"
    given = Path(str(text))
    roots = (root, *scene_roots)
    tries = [given] if given.is_absolute() else [folder / given, root / given, *(r / given for r in scene_roots)]
    beside = (folder, folder.parent, root, *scene_roots)
    tries += [f / given.name for f in beside]
    if len(by_name.get(given.name, [])) == 1:
        tries += by_name[given.name]
    outside = False
    for cand in tries:
        if not cand.exists():
            continue
        hit = inside_any(roots, cand)
        if hit is not None and (hit.is_file() or hit.is_dir()):  # a GeoTIFF, or a folder of band files
            return hit, ""
        outside = True
    if outside:
        return None, (f"scene {given} lies outside the served folder; start `glofwatch serve` with "
                      f"--scenes {given.parent} to show its imagery")
    return None, f"scene {given} not found"


def discover(root: str | os.PathLike[str], scene_roots: tuple[str | os.PathLike[str], ...] = ()) -> Layout:
    """Walk ``root`` (any depth, no hidden folders, no symbolic links) and find the stage outputs.

    Args:
        root: the served folder.
        scene_roots: extra folders the scene GeoTIFFs may be read from.

    Returns:
        The :class:`Layout` (possibly empty).

    Raises:
        InputError: ``root`` or a scene folder is not a folder.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise InputError(f"{root_path}: not a folder; give the folder holding the map, monitor, risk and alerts "
                         "outputs")
    base = root_path.resolve()
    extra = []
    for s in scene_roots:
        if not Path(s).is_dir():
            raise InputError(f"--scenes {s}: not a folder")
        extra.append(Path(s).resolve())
    layout = Layout(root=base)
    found: dict[str, list[Path]] = {"monitor": [], "risk": [], "alerts": []}
    rasters: dict[str, list[Path]] = {}
    pending: list[tuple[Path, dict[str, Any]]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        names = set(filenames)
        for name in names:
            if name.lower().endswith(SCENE_SUFFIXES) and name not in MAP_FILES:
                rasters.setdefault(name, []).append(folder / name)
        if all(f in names for f in MAP_FILES) and all(inside(base, folder / f) for f in MAP_FILES):
            summary = _read_summary(folder / "summary.json")
            if summary is None:
                layout.notes.append(f"{layout.relative(folder)}/summary.json is not valid JSON; map output skipped")
            else:
                pending.append((folder, summary))
        if "monitor.gpkg" in names and inside(base, folder / "monitor.gpkg"):
            found["monitor"].append(folder)
        if {"risk.gpkg", "breakdown.json"} <= names and inside(base, folder / "risk.gpkg"):
            found["risk"].append(folder)
        if "alerts.json" in names and inside(base, folder / "alerts.json"):
            found["alerts"].append(folder)
    for folder, summary in pending:
        rel = layout.relative(folder)
        name = str(summary.get("name") or folder.name)
        scene, note = _find_scene(summary, folder, base, tuple(extra), rasters)
        date = summary.get("date") if isinstance(summary.get("date"), str) else None
        layout.maps.append(MapFolder(folder, _key(name, rel), summary, name, date, scene, note))
        if note:
            layout.notes.append(f"{rel}: {note}")
    layout.maps.sort(key=lambda m: (m.date is None, m.date or "", m.name, m.key))
    for stage, folders in found.items():
        if not folders:
            continue
        marker = {"monitor": "monitor.gpkg", "risk": "risk.gpkg", "alerts": "alerts.json"}[stage]
        newest = max(folders, key=lambda f: ((f / marker).stat().st_mtime, str(f)))
        setattr(layout, stage, newest)
        if len(folders) > 1:
            layout.notes.append(f"{len(folders)} {stage} outputs found; showing the newest, {layout.relative(newest)}")
    return layout
