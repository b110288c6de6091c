"""Lake inventories: counts and total area by size class.

Size classes follow the usual glacial-lake inventory bins (km2):
``<0.01``, ``0.01-0.05``, ``0.05-0.1``, ``0.1-0.5``, ``0.5-1``, ``>1``; a lake
belongs to the class whose lower edge it reaches (0.05 km2 is in ``0.05-0.1``).
The lakes of a region, each counted once where map tiles overlap, come from
:func:`glofwatch.changes.regional.regional_inventory`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glofwatch.errors import InputError

SIZE_EDGES_KM2: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1.0)
"""Inner edges of the size classes in km2."""

SIZE_CLASSES: tuple[str, ...] = ("<0.01", "0.01-0.05", "0.05-0.1", "0.1-0.5", "0.5-1", ">1")
"""Size class labels, smallest first."""


def size_class(area_km2: np.ndarray) -> np.ndarray:
    """Index into :data:`SIZE_CLASSES` for each area (km2).

    Example:
        >>> size_class(np.array([0.005, 0.01, 0.2, 3.0])).tolist()
        [0, 1, 3, 5]
    """
    return np.searchsorted(np.asarray(SIZE_EDGES_KM2), np.asarray(area_km2, dtype=float), side="right")


def summarize_inventory(lakes) -> list[dict]:  # noqa: ANN001 - DataFrame with area_km2
    """Counts and total area per size class, plus a ``total`` row.

    Args:
        lakes: a table with an ``area_km2`` column.

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


INVENTORY_SUFFIXES = (".csv", ".json")


def check_inventory_path(path: str | Path) -> Path:
    """``path`` when its suffix is one :func:`write_inventory` writes, else an InputError (before any work)."""
    path = Path(path)
    if path.suffix.lower() not in INVENTORY_SUFFIXES:
        raise InputError(f"{path}: unknown inventory file type '{path.suffix.lower()}'; use .csv or .json")
    return path


def write_inventory(rows: list[dict], path: str | Path, extra: dict | None = None) -> Path:
    """Write summary rows to ``.csv`` (one line per row) or ``.json`` (``extra`` beside ``classes``) atomically."""
    from glofwatch.io.atomic import write_json_atomic, write_text_atomic

    path = check_inventory_path(path)
    if path.suffix.lower() == ".json":
        return write_json_atomic(path, {"size_edges_km2": list(SIZE_EDGES_KM2), **(extra or {}), "classes": rows})
    keys = list(rows[0])
    lines = [",".join(keys)] + [",".join(_fmt(r[k]) for k in keys) for r in rows]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def _fmt(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
