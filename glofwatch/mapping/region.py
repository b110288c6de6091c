"""Regional runs: which scenes a ``glofwatch map`` argument stands for, and how much memory each worker gets.

:func:`expand_region` turns the arguments into scene paths:

* a ``.txt`` file: a list, one path per line, relative to the list's folder; blank
  lines and ``#`` comments (whole lines, or after whitespace) are skipped; each
  entry is expanded again (a listed folder may be a region itself);
* a ``glofwatch fetch`` output (a folder holding ``items.json``, or that file
  itself): every date ``items.json`` records as fetched, ``<folder>/<file>``;
* a folder that is one scene, as :func:`glofwatch.scene.read.read_scene` reads it:
  a ``.SAFE`` product (or a folder with ``MTD_MSIL2A.xml``), a folder of band
  files (``B02.tif``, ``..._B02_10m.jp2``), or a folder whose band files lie in
  subfolders with one file per band (a SAFE's ``IMG_DATA``, the 10 m file of each
  band);
* any other folder: a region, whose scenes are its multi-band rasters
  (``.tif .tiff .jp2 .vrt``; one-band files such as a DEM, a mask or an SCL are
  skipped with a note), its STAC item JSON files and its subfolders that are a
  SAFE, a band folder or a fetch output (one level down, not deeper);
* anything else: as given (a missing scene is reported by the mapping, as before).

The same path reached twice is kept once. Two scenes with one output name stay
an error of :func:`glofwatch.mapping.batch.check_scene_names`.

:func:`parse_worker_memory` reads ``--worker-memory`` (``3GB``, ``auto``, ``none``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from glofwatch.errors import ConfigError, InputError
from glofwatch.scene.bands import band_name, is_scl
from glofwatch.scene.fetchfiles import ITEMS_FILE
from glofwatch.scene.layouts import RASTER_SUFFIXES

LIST_SUFFIX = ".txt"
MTD_FILE = "MTD_MSIL2A.xml"
TILE_MEMORY_GB = 2.0
"""About what mapping one 10980 x 10980 tile takes in one worker (the peak-memory target of
``glofwatch bench scene``, which measures it)."""
MIN_WORKER_MEMORY = 512 * 2**20
"""Below this a worker process (Python, torch, the model) cannot even start."""


@dataclass
class Region:
    """The scenes of a regional run.

    Attributes:
        scenes: scene files or folders, in the order given (folders and lists sorted by name).
        sources: one line per argument that stood for more than itself (``folder X: 20 scenes``).
        notes: what was skipped and why (one line each).
    """

    scenes: list[Path] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, path: Path, seen: set[Path]) -> int:
        """Append ``path`` unless it was reached before; 1 when added."""
        key = path.resolve()
        if key in seen:
            return 0
        seen.add(key)
        self.scenes.append(path)
        return 1


def expand_region(args: Sequence[str | Path]) -> Region:
    """The scenes the ``glofwatch map`` arguments stand for (see the module docstring).

    Raises:
        InputError: an empty folder or list, a folder with no scene in it, a listed path that does not
            exist, a list that lists itself, an ``items.json`` that names a missing file or no fetched date;
            one line naming the file and the fix.
    """
    region = Region()
    seen: set[Path] = set()
    for arg in args:
        _expand(Path(arg), region, seen, lists=())
    return region


def _expand(path: Path, region: Region, seen: set[Path], lists: tuple[Path, ...]) -> None:
    if path.is_file() and path.suffix.lower() == LIST_SUFFIX:
        _expand_list(path, region, seen, lists)
    elif path.is_file() and path.name == ITEMS_FILE and _fetch_doc(path) is not None:
        _expand_fetch(path.parent, region, seen)
    elif path.is_dir():
        _expand_folder(path, region, seen)
    else:
        region.add(path, seen)


def _expand_list(path: Path, region: Region, seen: set[Path], lists: tuple[Path, ...]) -> None:
    key = path.resolve()
    if key in lists:
        raise InputError(f"{path}: the list includes itself (through {lists[-1]}); remove that line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the scene list ({exc.__class__.__name__}); give a UTF-8 text file "
                         "with one scene path per line") from None
    before = len(region.scenes)
    entries = 0
    for lineno, line in enumerate(lines, start=1):
        text = _strip_comment(line)
        if not text:
            continue
        entries += 1
        entry = Path(text).expanduser()
        target = entry if entry.is_absolute() else path.parent / entry
        if not target.exists():
            raise InputError(f"{path}:{lineno}: {text} not found ({target}); fix the path (relative to "
                             f"{path.parent}) or remove the line")
        _expand(target, region, seen, (*lists, key))
    if entries == 0:
        raise InputError(f"{path}: the scene list is empty; put one scene path per line (relative to "
                         f"{path.parent}, # for comments)")
    region.sources.append(f"list {path}: {len(region.scenes) - before} scene(s)")


def _strip_comment(line: str) -> str:
    """The path of a list line: no leading ``#`` line, no `` # ...`` tail, no surrounding whitespace."""
    text = line.strip()
    if text.startswith("#"):
        return ""
    for sep in (" #", "\t#"):
        if sep in text:
            text = text.split(sep, 1)[0]
    return text.strip()


def _fetch_doc(items: Path) -> dict | None:
    """The ``items.json`` of a ``glofwatch fetch`` folder, or None when the file is something else."""
    from glofwatch.io.files import read_json

    doc = read_json(items)
    return doc if isinstance(doc.get("dates"), dict) and "query" in doc else None


def _expand_fetch(folder: Path, region: Region, seen: set[Path]) -> None:
    items = folder / ITEMS_FILE
    doc = _fetch_doc(items) or {}
    dates: dict = doc.get("dates") or {}
    fetched = {d: v for d, v in sorted(dates.items()) if isinstance(v, dict) and v.get("status") == "fetched"
               and v.get("file")}
    if not fetched:
        rejected = sum(1 for v in dates.values() if isinstance(v, dict) and v.get("status") == "rejected")
        raise InputError(f"{items}: no date was fetched ({rejected} rejected as cloudy or empty); rerun "
                         "`glofwatch fetch` with a larger --max-cloud or a longer --start/--end")
    n = 0
    for day, entry in fetched.items():
        scene = folder / str(entry["file"])
        if not scene.is_file():
            raise InputError(f"{items}: date {day} was fetched to {entry['file']} but {scene} is missing; rerun "
                             "the same `glofwatch fetch` to read it again")
        n += region.add(scene, seen)
    if len(dates) > len(fetched):
        region.notes.append(f"{items}: {len(dates) - len(fetched)} date(s) not fetched (cloudy or empty) are not "
                            "mapped")
    region.sources.append(f"fetch output {folder}: {n} date(s)")


def _rasters(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)


def _band_files(files: list[Path]) -> list[Path]:
    return [p for p in files if band_name(p.stem) is not None and not is_scl(p.stem)]


def is_scene_folder(folder: Path) -> bool:
    """True for a folder that is one scene by its own top level: a ``.SAFE``, ``MTD_MSIL2A.xml``, band files."""
    return (folder.name.upper().endswith(".SAFE") or (folder / MTD_FILE).is_file()
            or bool(_band_files(_rasters(folder))))


def _one_band_set(folder: Path) -> bool:
    """True when the band files under ``folder`` give one file per band, as the scene reader chooses them.

    Mirrors :func:`glofwatch.scene.layouts.folder_parts`: several files of one band are fine when exactly one
    of them is the 10 m file.
    """
    files = _band_files(sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES))
    by_band: dict[str, list[Path]] = {}
    for p in files:
        by_band.setdefault(str(band_name(p.stem)), []).append(p)
    if not by_band:
        return False
    return all(len(ps) == 1 or sum("10m" in p.stem.lower() for p in ps) == 1 for ps in by_band.values())


def _band_count(path: Path) -> int | None:
    """Bands of a raster file (None when it cannot be opened: the mapping reports why)."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return int(ds.count)
    except Exception:  # noqa: BLE001 - an unreadable file is left to the scene reader's one-line error
        return None


def _is_item(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("type") == "Feature" and isinstance(doc.get("assets"), dict)


def _expand_folder(folder: Path, region: Region, seen: set[Path]) -> None:
    if (folder / ITEMS_FILE).is_file() and _fetch_doc(folder / ITEMS_FILE) is not None:
        _expand_fetch(folder, region, seen)
        return
    if is_scene_folder(folder):
        region.add(folder, seen)
        return
    entries = sorted(folder.iterdir())
    if not entries:
        raise InputError(f"{folder}: the folder is empty; put scene GeoTIFFs, band folders or .SAFE products in it, "
                         "or give the scenes themselves")
    files: list[Path] = []
    one_band: list[str] = []
    for p in _rasters(folder):
        if is_scl(p.stem) or _band_count(p) == 1:
            one_band.append(p.name)
        else:
            files.append(p)
    items = [p for p in entries if p.is_file() and p.suffix.lower() == ".json" and _is_item(p)]
    subdirs = [p for p in entries if p.is_dir()]
    fetch_dirs = [p for p in subdirs if (p / ITEMS_FILE).is_file() and _fetch_doc(p / ITEMS_FILE) is not None]
    scene_dirs = [p for p in subdirs if p not in fetch_dirs and is_scene_folder(p)]
    safe_dirs = [p for p in scene_dirs if p.name.upper().endswith(".SAFE") or (p / MTD_FILE).is_file()]
    if not (files or items or fetch_dirs or safe_dirs) and _one_band_set(folder):
        region.add(folder, seen)  # band files in subfolders, one per band (a SAFE's IMG_DATA): one scene, as ever
        return
    if not (files or items or fetch_dirs or scene_dirs):
        raise InputError(f"{folder}: no scene in this folder ({len(entries)} entries, none a multi-band GeoTIFF, "
                         "band folder, .SAFE product, STAC item or fetch output); give the scenes, a folder of them, "
                         "or a .txt list of their paths")
    before = len(region.scenes)
    for p in sorted([*files, *items, *scene_dirs]):
        region.add(p, seen)
    for p in fetch_dirs:
        _expand_fetch(p, region, seen)
    region.sources.append(f"folder {folder}: {len(region.scenes) - before} scene(s)")
    other = [p.name + "/" for p in subdirs if p not in fetch_dirs and p not in scene_dirs]
    if one_band:
        region.notes.append(f"{folder}: skipped {_some(one_band)} (one band: a DEM, mask or SCL, not a scene)")
    if other:
        region.notes.append(f"{folder}: skipped {_some(other)} (no band files at their top level)")


def _some(names: list[str], most: int = 4) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def parse_worker_memory(text: str | int | None, workers: int) -> tuple[int | None, str]:
    """Bytes of memory per LocalCluster worker for ``--worker-memory``, and a note ("" when there is none).

    ``None`` or ``auto``: the machine's memory (its cgroup limit when lower) divided by ``workers``;
    ``none`` or ``0``: no limit; otherwise a size as Dask reads it (``3GB``, ``3GiB``, ``3000MB``, bytes).

    Raises:
        ConfigError: not a size, or below :data:`MIN_WORKER_MEMORY`.
    """
    from dask.utils import format_bytes, parse_bytes
    from distributed.system import MEMORY_LIMIT

    if text is None or str(text).strip().lower() == "auto":
        return max(MIN_WORKER_MEMORY, MEMORY_LIMIT // max(1, workers)), ""
    spec = str(text).strip()
    if spec.lower() in ("none", "0"):
        return None, ""
    try:
        size = int(text) if isinstance(text, int) else int(parse_bytes(spec))
    except (ValueError, TypeError):
        raise ConfigError(f"--worker-memory {spec!r} is not a size; give e.g. 3GB, 3GiB or 3000MB (auto: the "
                          "machine's memory / --workers; none: no limit)") from None
    if size < MIN_WORKER_MEMORY:
        raise ConfigError(f"--worker-memory {spec} is below the {format_bytes(MIN_WORKER_MEMORY)} a worker needs to "
                          f"start; mapping one 10980 px tile takes about {TILE_MEMORY_GB:g} GB, give at least that")
    note = ""
    if size < TILE_MEMORY_GB * 1e9:
        note = (f"--worker-memory {spec} is below the ~{TILE_MEMORY_GB:g} GB one 10980 px tile needs; a worker that "
                "goes over 95 % of it is restarted and its tile fails")
    elif size * workers > MEMORY_LIMIT:
        note = (f"--worker-memory {spec} x {workers} workers is more than this machine's "
                f"{format_bytes(MEMORY_LIMIT)}; the machine may run out of memory before a worker reaches its limit")
    return size, note
