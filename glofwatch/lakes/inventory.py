"""Lake inventories: counts and total area by size class, over one or many lake files.

Size classes follow the usual glacial-lake inventory bins (km2):
``<0.01``, ``0.01-0.05``, ``0.05-0.1``, ``0.1-0.5``, ``0.5-1``, ``>1``; a lake
belongs to the class whose lower edge it reaches (0.05 km2 is in ``0.05-0.1``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glofwatch.errors import InputError

SIZE_EDGES_KM2: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1.0)
"""Inner edges of the size classes in km2."""

SIZE_CLASSES: tuple[str, ...] = ("<0.01", "0.01-0.05", "0.05-0.1", "0.1-0.5", "0.5-1", ">1")
"""Size class labels, smallest first."""

LAKE_FILE_NAMES = ("lakes.gpkg",)


def size_class(area_km2: np.ndarray) -> np.ndarray:
    """Index into :data:`SIZE_CLASSES` for each area (km2).

    Example:
        >>> size_class(np.array([0.005, 0.01, 0.2, 3.0])).tolist()
        [0, 1, 3, 5]
    """
    return np.searchsorted(np.asarray(SIZE_EDGES_KM2), np.asarray(area_km2, dtype=float), side="right")


def find_lake_files(paths: list[str | Path]) -> list[Path]:
    """Lake files named by ``paths``: files as they are, folders searched for ``lakes.gpkg``.

    Raises:
        InputError: a path does not exist, or nothing is found.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q for name in LAKE_FILE_NAMES for q in p.rglob(name)))
        else:
            raise InputError(f"{p}: not found; give lakes.gpkg files or folders written by `glofwatch map`")
    if not found:
        raise InputError(
            f"no lakes.gpkg under {', '.join(map(str, paths))}; map scenes first with `glofwatch map SCENE --out DIR`"
        )
    return found


def scene_label(path: Path) -> str:
    """Name of the scene a lake file belongs to (its folder for ``lakes.gpkg``, else the file stem)."""
    return path.parent.name if path.name in LAKE_FILE_NAMES else path.stem


def load_inventory(paths: list[str | Path]):  # noqa: ANN201 - pandas DataFrame
    """All lakes of the files under ``paths`` as one table (``scene``, ``lake_id``, ``area_km2``, ``size_class``)."""
    import pandas as pd

    from glofwatch.lakes.vectorize import read_lakes

    frames = []
    for f in find_lake_files(paths):
        lakes = read_lakes(f)
        if "area_km2" not in lakes.columns:
            raise InputError(f"{f}: no area_km2 column; is this a lake file written by `glofwatch map`?")
        frames.append(pd.DataFrame({
            "scene": scene_label(f),
            "lake_id": lakes["lake_id"].to_numpy() if "lake_id" in lakes.columns else np.arange(1, len(lakes) + 1),
            "area_km2": lakes["area_km2"].to_numpy(dtype=float),
        }))
    table = pd.concat(frames, ignore_index=True)
    table["size_class"] = [SIZE_CLASSES[i] for i in size_class(table["area_km2"].to_numpy())]
    return table


def summarize_inventory(lakes) -> list[dict]:  # noqa: ANN001 - DataFrame with area_km2
    """Counts and total area per size class, plus a ``total`` row.

    Args:
        lakes: a table with an ``area_km2`` column (e.g. from :func:`load_inventory`).

    Returns:
        One dict per class then the total: ``size_class``, ``lakes``, ``area_km2``,
        ``lakes_pct`` (share of the count), ``area_pct`` (share of the area).
    """
    area = np.asarray(lakes["area_km2"], dtype=float)
    idx = size_class(area)
    n_all, a_all = len(area), float(area.sum())
    rows = []
    for i, name in enumerate(SIZE_CLASSES):
        sel = idx == i
        n, a = int(sel.sum()), float(area[sel].sum())
        rows.append({"size_class": name, "lakes": n, "area_km2": a,
                     "lakes_pct": 100.0 * n / n_all if n_all else 0.0,
                     "area_pct": 100.0 * a / a_all if a_all else 0.0})
    rows.append({"size_class": "total", "lakes": n_all, "area_km2": a_all,
                 "lakes_pct": 100.0 if n_all else 0.0, "area_pct": 100.0 if a_all else 0.0})
    return rows


def write_inventory(rows: list[dict], path: str | Path, scenes: list[str] | None = None) -> Path:
    """Write summary rows to ``.csv`` or ``.json`` atomically."""
    from glofwatch.io.atomic import write_json_atomic, write_text_atomic

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return write_json_atomic(path, {"size_edges_km2": list(SIZE_EDGES_KM2), "scenes": scenes or [],
                                        "classes": rows})
    if suffix == ".csv":
        keys = list(rows[0])
        lines = [",".join(keys)] + [",".join(_fmt(r[k]) for k in keys) for r in rows]
        return write_text_atomic(path, "\n".join(lines) + "\n")
    raise InputError(f"{path}: unknown inventory file type '{suffix}'; use .csv or .json")


def _fmt(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
