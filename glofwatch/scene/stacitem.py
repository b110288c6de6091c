"""Band assets of a Sentinel-2 L2A STAC item: which asset holds which band, and where it is.

Catalogs name the assets differently: Earth Search v1 uses common names
(``blue green red nir scl``, also ``coastal rededge1-3 nir08 nir09 swir16
swir22``), the Planetary Computer band names (``B02 ... B12 B8A SCL``).
:func:`item_band_hrefs` accepts both, and falls back on the ``eo:bands`` names
of an asset. Relative hrefs are resolved against the item's own location.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError
from glofwatch.scene.bands import band_name

COMMON_NAMES: dict[str, str] = {
    "coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05", "rededge2": "B06",
    "rededge3": "B07", "nir": "B08", "nir08": "B8A", "nir09": "B09", "cirrus": "B10", "swir16": "B11",
    "swir22": "B12",
}  # fmt: skip
"""Earth Search asset keys (and ``eo:bands`` common names) -> Sentinel-2 band names."""

SCL_KEYS = ("scl", "SCL")


def read_item(path: str | Path) -> dict[str, Any]:
    """A STAC item from a JSON file.

    Raises:
        InputError: the file is not JSON or not a STAC item with assets.
    """
    path = Path(path)
    try:
        item = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as a STAC item ({exc.__class__.__name__}); give an item JSON file "
                         "(type Feature with assets)") from None
    if not isinstance(item, dict) or item.get("type") != "Feature" or not isinstance(item.get("assets"), dict):
        raise InputError(f"{path}: not a STAC item (needs \"type\": \"Feature\" and \"assets\"); give one item, not a "
                         "catalog or collection")
    return item


def asset_band(key: str, asset: dict[str, Any], by_bands: bool = False) -> str | None:
    """The Sentinel-2 band an asset holds (``"B04"``, ``"SCL"``), or None.

    Args:
        key: the asset key.
        asset: the asset dict.
        by_bands: also look at its ``eo:bands``/``bands`` names (single-band assets only);
            otherwise only the key counts.
    """
    if key in SCL_KEYS:
        return "SCL"
    if key.lower() in COMMON_NAMES:
        return COMMON_NAMES[key.lower()]
    direct = band_name(key) if len(key) <= 4 else None
    if direct or not by_bands:
        return direct
    entries = asset.get("eo:bands") or asset.get("bands") or []
    if len(entries) != 1:
        return None
    entry = entries[0]
    common = str(entry.get("common_name") or entry.get("eo:common_name") or "")
    return band_name(str(entry.get("name") or "")) or COMMON_NAMES.get(common)


def resolve_href(href: str, base: str | Path | None) -> str:
    """An asset href as rasterio opens it: URLs as they are, relative paths against the item's folder."""
    if "://" in href:
        return href
    path = Path(href)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return str(path)


def item_band_hrefs(item: dict[str, Any], base: str | Path | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Band name -> href, and band name -> asset key, for the raster assets of ``item``.

    Args:
        item: a STAC item dict.
        base: folder that relative hrefs are relative to.
    """
    hrefs: dict[str, str] = {}
    keys: dict[str, str] = {}
    assets = item.get("assets") or {}
    for by_bands in (False, True):  # asset keys first; eo:bands names only for bands still missing
        for key, asset in assets.items():
            band = asset_band(key, asset, by_bands)
            if band is None or band in hrefs or not asset.get("href"):
                continue
            kind = str(asset.get("type") or "")
            if kind and "tiff" not in kind and "jp2" not in kind:
                continue  # e.g. a JPEG preview or an XML metadata asset of the same band
            hrefs[band] = resolve_href(str(asset["href"]), base)
            keys[band] = key
    return hrefs, keys
