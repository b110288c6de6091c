"""What a Sentinel-2 L2A product says about its own pixels: processing baseline, BOA offset, sun angles.

Since processing baseline 04.00 (every L2A product from 25 January 2022 on, and
the reprocessed collection), surface reflectance is stored as
``DN = reflectance * 10000 - BOA_ADD_OFFSET`` with ``BOA_ADD_OFFSET = -1000``,
so ``reflectance = (DN + BOA_ADD_OFFSET) / 10000`` (ESA, Sentinel-2 Products
Specification Document, baseline 04.00 note; the offset is in ``MTD_MSIL2A.xml``
under ``BOA_ADD_OFFSET_VALUES_LIST``). Older products have no offset.

:func:`product_info_from_mtd`, :func:`product_info_from_stac` and
:func:`product_info_from_tags` read what a product records;
:func:`resolve_offset` turns it into the one offset to use, in this order:

1. the user's ``--dn-offset``;
2. the offset the product records (``MTD_MSIL2A.xml``, STAC ``raster:bands``
   offset/scale, GeoTIFF band offset/scale or ``BOA_ADD_OFFSET`` tag);
3. the processing baseline the product records (>= 04.00: -1000, else 0);
4. the acquisition date (on or after 2022-01-25: -1000), with a one-line note;
5. 0, with a one-line note.

The mean sun angles (for the cast-shadow rule of :mod:`glofwatch.mapping.terrain`) come from
``Mean_Sun_Angle`` (``MTD_MSIL2A.xml``, else the granule's ``MTD_TL.xml`` where ESA keeps them),
STAC ``view:sun_elevation`` / ``view:sun_azimuth`` (or ``s2:mean_solar_zenith`` / ``_azimuth``)
or the GeoTIFF tags of :data:`SUN_TAGS`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError

BASELINE_04_DATE = dt.date(2022, 1, 25)
"""First acquisitions processed with baseline 04.00 (ESA, Sentinel-2 L2A baseline 04.00 deployment)."""

BOA_ADD_OFFSET = -1000.0
"""The L2A offset of baseline 04.00 and later, in DN."""

QUANTIFICATION = 10000.0
"""L2A reflectance quantification value: reflectance = (DN + offset) / 10000."""

MTD_NAME = "MTD_MSIL2A.xml"

BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
"""Band names by the ``band_id`` index of ``MTD_MSIL2A.xml``."""

_BASELINE_IN_NAME = re.compile(r"_N(\d{2})(\d{2})(?=_|\.|$)")


@dataclass
class ProductInfo:
    """What a product records about its radiometry.

    Attributes:
        baseline: processing baseline ``"NN.NN"`` or None.
        offsets: band name -> BOA_ADD_OFFSET in DN, for the bands it is recorded for.
        offset_from: where ``offsets`` came from (``MTD_MSIL2A.xml``, ``STAC raster:bands``, ...), or None.
        baseline_from: where ``baseline`` came from, or None.
        date: acquisition date, or None.
        source: the metadata file or item, when there is one.
        extra: other facts worth recording (spacecraft, product id).
        sun_zenith: mean sun zenith angle in degrees, or None.
        sun_azimuth: mean sun azimuth in degrees clockwise from north, or None.
        sun_from: where the sun angles came from, or None.
    """

    baseline: str | None = None
    offsets: dict[str, float] = field(default_factory=dict)
    offset_from: str | None = None
    baseline_from: str | None = None
    date: dt.date | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sun_zenith: float | None = None
    sun_azimuth: float | None = None
    sun_from: str | None = None

    def merge(self, other: ProductInfo) -> ProductInfo:
        """This info with the gaps filled from ``other`` (this one wins where both know)."""
        return ProductInfo(
            baseline=self.baseline or other.baseline,
            offsets=self.offsets or other.offsets,
            offset_from=self.offset_from if self.offsets else other.offset_from,
            baseline_from=self.baseline_from if self.baseline else other.baseline_from,
            date=self.date or other.date,
            source=self.source or other.source,
            extra={**other.extra, **self.extra},
            **(self._sun() if self.sun_zenith is not None else other._sun()),
        )

    def _sun(self) -> dict[str, Any]:
        return {"sun_zenith": self.sun_zenith, "sun_azimuth": self.sun_azimuth, "sun_from": self.sun_from}


@dataclass(frozen=True)
class OffsetChoice:
    """The DN offset to use and why.

    Attributes:
        offset: added to DN before dividing by 10000.
        source: ``--dn-offset``, ``MTD_MSIL2A.xml``, ``STAC raster:bands``, ``GeoTIFF band offset``,
            ``processing baseline NN.NN``, ``acquisition date`` or ``default``.
        note: one line for the user when the offset was guessed, else None.
    """

    offset: float
    source: str
    note: str | None = None


def baseline_tuple(baseline: str) -> tuple[int, int]:
    """``"05.09"`` -> (5, 9).

    Raises:
        InputError: the text is not ``NN.NN``.
    """
    m = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\s*", str(baseline))
    if m is None:
        raise InputError(f"processing baseline {baseline!r} is not of the form NN.NN (e.g. 05.09)")
    return int(m.group(1)), int(m.group(2))


def baseline_offset(baseline: str) -> float:
    """The BOA offset a processing baseline implies: -1000 from 04.00 on, else 0."""
    return BOA_ADD_OFFSET if baseline_tuple(baseline) >= (4, 0) else 0.0


def baseline_from_name(name: str) -> str | None:
    """The baseline in a product name (``..._N0509_...`` -> ``"05.09"``), or None."""
    m = _BASELINE_IN_NAME.search(name)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def resolve_offset(
    info: ProductInfo | None, bands: tuple[str, ...] | list[str], override: float | None = None,
    what: str = "scene",
) -> OffsetChoice:
    """The DN offset for ``bands`` of a product (see the module docstring for the order).

    Args:
        info: what the product records (None: nothing).
        bands: the bands that will be read.
        override: the user's ``--dn-offset``.
        what: the scene, named in the notes.

    Raises:
        InputError: the product records different offsets for the bands read.
    """
    if override is not None:
        return OffsetChoice(float(override), "--dn-offset")
    info = info or ProductInfo()
    if info.offsets:
        values = {b: info.offsets[b] for b in bands if b in info.offsets} or dict(info.offsets)
        distinct = sorted(set(values.values()))
        if len(distinct) > 1:
            raise InputError(
                f"{what}: the product records different BOA offsets per band "
                f"({', '.join(f'{b} {v:g}' for b, v in values.items())}); pass --dn-offset to choose one"
            )
        return OffsetChoice(float(distinct[0]), str(info.offset_from or "product metadata"))
    if info.baseline:
        return OffsetChoice(baseline_offset(info.baseline), f"processing baseline {info.baseline}")
    if info.date is not None:
        if info.date >= BASELINE_04_DATE:
            return OffsetChoice(
                BOA_ADD_OFFSET, "acquisition date",
                f"{what}: no BOA offset or processing baseline recorded; the acquisition date {info.date} implies "
                f"baseline 04.00 or later, so DN offset {BOA_ADD_OFFSET:g} is used (--dn-offset to override)",
            )
        return OffsetChoice(
            0.0, "acquisition date",
            f"{what}: no BOA offset or processing baseline recorded; the acquisition date {info.date} is before "
            f"{BASELINE_04_DATE}, so DN offset 0 is used (reprocessed products need --dn-offset -1000)",
        )
    return OffsetChoice(
        0.0, "default",
        f"{what}: no BOA offset, processing baseline or date found; DN offset 0 is used "
        "(products from 2022-01-25 on need --dn-offset -1000)",
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def product_info_from_mtd(path: str | Path) -> ProductInfo:
    """Read baseline, BOA offsets and date from an ``MTD_MSIL2A.xml``.

    Raises:
        InputError: the file cannot be parsed.
    """
    import xml.etree.ElementTree as ET

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"{path}: cannot read the product metadata ({exc}); restore MTD_MSIL2A.xml from the "
                         "product") from None
    info = ProductInfo(source=str(path))
    offsets: dict[str, float] = {}
    for el in root.iter():
        tag = _local(el.tag)
        text = (el.text or "").strip()
        if tag == "PROCESSING_BASELINE" and text and info.baseline is None:
            info.baseline, info.baseline_from = text, MTD_NAME
        elif tag == "BOA_ADD_OFFSET" and text:
            band_id = int(el.get("band_id", "-1"))
            if 0 <= band_id < len(BAND_IDS):
                offsets[BAND_IDS[band_id]] = float(text)
        elif tag in ("PRODUCT_START_TIME", "DATATAKE_SENSING_START") and text and info.date is None:
            info.date = _date(text)
        elif tag == "SPACECRAFT_NAME" and text:
            info.extra["spacecraft"] = text
        elif tag == "PRODUCT_URI" and text:
            info.extra["product"] = text
    if offsets:
        info.offsets, info.offset_from = offsets, MTD_NAME
    _sun_from_xml(root, info, path.name)
    if info.sun_zenith is None:  # ESA products keep the angles in the granule's MTD_TL.xml
        for tile in sorted(path.parent.glob("GRANULE/*/MTD_TL.xml"))[:1]:
            try:
                _sun_from_xml(ET.parse(tile).getroot(), info, "MTD_TL.xml")
            except (OSError, ET.ParseError):
                pass
    return info


def _sun_from_xml(root, info: ProductInfo, where: str) -> None:  # noqa: ANN001 - an ElementTree element
    """Fill ``info``'s sun angles from the first ``Mean_Sun_Angle`` (ZENITH_ANGLE, AZIMUTH_ANGLE) of ``root``."""
    for el in root.iter():
        if _local(el.tag) != "Mean_Sun_Angle":
            continue
        angles = {_local(c.tag): (c.text or "").strip() for c in el}
        zenith, azimuth = _angle(angles.get("ZENITH_ANGLE")), _angle(angles.get("AZIMUTH_ANGLE"))
        if zenith is not None and azimuth is not None:
            info.sun_zenith, info.sun_azimuth, info.sun_from = zenith, azimuth, f"{where} Mean_Sun_Angle"
        return


def _angle(value: Any) -> float | None:
    """A finite angle in degrees, or None."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


SUN_TAGS = (("SUN_ZENITH", "SUN_AZIMUTH", False), ("SUN_ELEVATION", "SUN_AZIMUTH", True),
            ("view:sun_elevation", "view:sun_azimuth", True),
            ("MEAN_SUN_ZENITH_ANGLE", "MEAN_SUN_AZIMUTH_ANGLE", False))
"""GeoTIFF tag pairs holding the sun angles: (zenith or elevation tag, azimuth tag, is it an elevation)."""


def sun_from_mapping(values: dict[str, Any], info: ProductInfo, where: str,
                     pairs: tuple[tuple[str, str, bool], ...] = SUN_TAGS) -> None:
    """Fill ``info``'s sun angles from the first pair of ``pairs`` found in ``values`` (tags, STAC properties)."""
    for first, azimuth_key, is_elevation in pairs:
        angle, azimuth = _angle(values.get(first)), _angle(values.get(azimuth_key))
        if angle is not None and azimuth is not None:
            info.sun_zenith = 90.0 - angle if is_elevation else angle
            info.sun_azimuth, info.sun_from = azimuth, f"{where} {first}/{azimuth_key}"
            return


def find_mtd(path: str | Path) -> Path | None:
    """The ``MTD_MSIL2A.xml`` of the product that ``path`` (a folder or a band file) belongs to, or None.

    Looks in ``path`` itself when it is a folder, then in each parent folder up to and
    including the first ``*.SAFE`` folder (band files sit in ``GRANULE/*/IMG_DATA/R10m``).
    """
    path = Path(path)
    start = path if path.is_dir() else path.parent
    chain = [start, *start.parents]
    safe = next((i for i, p in enumerate(chain) if p.name.upper().endswith(".SAFE")), None)
    folders = chain[: safe + 1] if safe is not None else chain[:1]
    for folder in folders:
        candidate = folder / MTD_NAME
        if candidate.is_file():
            return candidate
    return None


def product_info_from_tags(tags: dict[str, str], scales: tuple, offsets: tuple, names: tuple[str, ...],
                           where: str = "GeoTIFF") -> ProductInfo:
    """What a GeoTIFF records: band offset/scale (``reflectance = DN * scale + offset``) or tags.

    Args:
        tags: dataset tags (``PROCESSING_BASELINE``, ``BOA_ADD_OFFSET``, ``DATATAKE_SENSING_START`` ...).
        scales: per-band scale of the file (rasterio ``ds.scales``).
        offsets: per-band offset of the file (rasterio ``ds.offsets``).
        names: band names in file order.
        where: how to name the source in notes.
    """
    info = ProductInfo()
    band_offsets = {}
    for name, scale, offset in zip(names, scales, offsets, strict=False):
        finite = bool(scale) and bool(offset) and math.isfinite(scale) and math.isfinite(offset)
        if finite and abs(scale * QUANTIFICATION - 1) < 1e-6:
            band_offsets[name] = round(offset / scale, 6)
    if band_offsets:
        info.offsets, info.offset_from = band_offsets, f"{where} band offset/scale"
    elif tags.get("BOA_ADD_OFFSET") not in (None, ""):
        try:
            value = float(tags["BOA_ADD_OFFSET"])
        except ValueError:
            raise InputError(f"{where}: tag BOA_ADD_OFFSET={tags['BOA_ADD_OFFSET']!r} is not a number; fix the "
                             "tag or pass --dn-offset") from None
        info.offsets, info.offset_from = {n: value for n in names}, f"{where} tag BOA_ADD_OFFSET"
    baseline = tags.get("PROCESSING_BASELINE") or tags.get("s2:processing_baseline")
    if baseline:
        info.baseline, info.baseline_from = baseline, f"{where} tag PROCESSING_BASELINE"
    sun_from_mapping(tags, info, f"{where} tags")
    for key in ("DATATAKE_SENSING_START", "datetime", "TIFFTAG_DATETIME", "DATE", "date"):
        if tags.get(key):
            info.date = _date(tags[key])
            if info.date:
                break
    return info


def product_info_from_stac(item: dict[str, Any], assets: dict[str, str]) -> ProductInfo:
    """What a STAC item records: ``raster:bands`` offset/scale per asset and ``s2:processing_baseline``.

    Args:
        item: the item as a dict (STAC JSON).
        assets: band name -> asset key of the bands read.

    Earth Search items that say ``earthsearch:boa_offset_applied: true`` were harmonised
    already: their offset is 0 whatever the baseline.
    """
    props = item.get("properties") or {}
    info = ProductInfo(source=str(item.get("id") or ""))
    info.date = _date(str(props.get("datetime") or props.get("start_datetime") or ""))
    baseline = props.get("s2:processing_baseline") or props.get("processing:version")
    if baseline:
        info.baseline, info.baseline_from = str(baseline), "STAC s2:processing_baseline"
    sun_from_mapping(props, info, "STAC", (("view:sun_elevation", "view:sun_azimuth", True),
                                           ("s2:mean_solar_zenith", "s2:mean_solar_azimuth", False)))
    if props.get("earthsearch:boa_offset_applied") is True:
        info.offsets = {b: 0.0 for b in assets}
        info.offset_from = "STAC earthsearch:boa_offset_applied"
        return info
    offsets = {}
    for band, key in assets.items():
        asset = (item.get("assets") or {}).get(key) or {}
        value = _asset_offset(asset)
        if value is not None:
            offsets[band] = value
    if offsets:
        info.offsets, info.offset_from = offsets, "STAC raster:bands"
    return info


def _asset_offset(asset: dict[str, Any]) -> float | None:
    """DN offset of an asset from ``raster:bands`` (STAC 1.0) or ``bands`` (STAC 1.1), or None."""
    for entry in asset.get("raster:bands") or []:
        scale, offset = entry.get("scale"), entry.get("offset")
        if scale and offset is not None:
            return round(float(offset) / float(scale), 6)
    for entry in asset.get("bands") or []:
        scale = entry.get("raster:scale", entry.get("scale"))
        offset = entry.get("raster:offset", entry.get("offset"))
        if scale and offset is not None:
            return round(float(offset) / float(scale), 6)
    return None


def _date(text: str) -> dt.date | None:
    m = re.search(r"((?:19|20)\d{2})[-:]?(0[1-9]|1[0-2])[-:]?(0[1-9]|[12]\d|3[01])", text or "")
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
