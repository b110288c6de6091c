"""Sentinel-2 band names found in file names, band descriptions and asset keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_BAND_TOKEN = re.compile(r"(?:^|[^A-Za-z0-9])B0?(1[0-2]|[1-9]|8A)(?=$|[^A-Za-z0-9])", re.IGNORECASE)
_SCL_TOKEN = re.compile(r"(?:^|[^A-Za-z0-9])SCL(?=$|[^A-Za-z0-9])", re.IGNORECASE)

SCL = "SCL"
"""Name of the Scene Classification Layer among band names."""


def band_name(text: str | None) -> str | None:
    """The Sentinel-2 band named in ``text`` (``"B4"``, ``"B04 red"``, ``"x_B04_10m"``) as ``"B04"``, or None.

    Example:
        >>> band_name("T45RUL_20200101T045211_B08_10m"), band_name("red")
        ('B08', None)
    """
    if not text:
        return None
    m = _BAND_TOKEN.search(text)
    if m is None:
        return None
    num = m.group(1).upper()
    return "B8A" if num == "8A" else f"B{int(num):02d}"


def is_scl(text: str | None) -> bool:
    """True when ``text`` names the Scene Classification Layer (``"SCL"``, ``"T45RUL_..._SCL_20m"``).

    Example:
        >>> is_scl("T45RUL_20231005T045709_SCL_20m"), is_scl("B02")
        (True, False)
    """
    return bool(text) and _SCL_TOKEN.search(text or "") is not None


@dataclass(frozen=True)
class BandSource:
    """Where one band lives: a file (a path, or a URL as text) and its 1-based band index."""

    path: str | Path
    index: int


def band_sort_key(band: str) -> float:
    """Sort key putting bands in Sentinel-2 wavelength order (B8A between B08 and B09)."""
    return 8.5 if band == "B8A" else float(band[1:])
