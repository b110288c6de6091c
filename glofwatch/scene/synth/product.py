"""The traits of real L2A products in synthetic scenes: BOA offset, an SCL, and a SAFE-like layout.

* :func:`l2a_dn`: digital numbers of processing baseline 04.00 and later,
  ``DN = reflectance * 10000 + 1000`` (``BOA_ADD_OFFSET = -1000``), 0 kept for nodata.
* :func:`draw_scl`: a Scene Classification Layer of what the generator drew:
  0 outside the swath, 9/8 opaque cloud (opacity >= 0.7 / >= the hidden limit),
  10 thin cloud, 3 cloud shadow, 11 snow and bare glacier ice, 6 lakes and
  rivers, 2 terrain shadow, 4 vegetation, 5 the rest.
* :func:`write_safe`: a folder laid out like a SAFE product,
  ``S2B_MSIL2A_<date>T045709_N<baseline>_R119_T45RUL_<date>T073545.SAFE/`` with
  ``MTD_MSIL2A.xml`` and ``GRANULE/L2A_.../IMG_DATA/R10m/T45RUL_<date>T045709_B02_10m.jp2``
  (lossless JPEG 2000 without a nodata tag, as ESA writes them) and the 20 m SCL
  in ``R20m/..._SCL_20m.jp2``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from glofwatch.geo import GeoGrid
from glofwatch.io.atomic import atomic_path, write_text_atomic
from glofwatch.scene.products import BAND_IDS, baseline_offset
from glofwatch.scene.render import to_dn
from glofwatch.scene.synth.clouds import OPAQUE_ALPHA
from glofwatch.scene.synth.landscape import Landscape
from glofwatch.scene.synth.materials import BANDS

THICK_ALPHA = 0.7
"""Cloud opacity from which the SCL says "cloud high probability" (9) instead of 8."""
THIN_ALPHA = 0.05
"""Cloud opacity from which the SCL says "thin cirrus" (10)."""
SHADOW_MIN = 0.25
"""Cloud-shadow strength from which the SCL says "cloud shadow" (3)."""
DEFAULT_DATE = dt.date(2023, 10, 5)
DEFAULT_BASELINE = "05.09"


def l2a_dn(reflectance: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """L2A digital numbers ``reflectance * 10000 - offset`` (uint16), 0 kept for nodata.

    Example:
        >>> l2a_dn(np.array([0.0, 0.05]), -1000.0).tolist()
        [0, 1500]
    """
    dn = to_dn(reflectance)
    if offset:
        valid = dn > 0
        dn[valid] = np.clip(dn[valid].astype(np.int64) - int(round(offset)), 1, 65535).astype(np.uint16)
    return dn


def draw_scl(land: Landscape, rows: slice) -> np.ndarray:
    """SCL classes (h, W) uint8 for a block of rows of ``land`` (see the module docstring)."""
    h = len(range(*rows.indices(land.shape[0])))
    scl = np.full((h, land.shape[1]), 5, dtype=np.uint8)
    scl[land.vegetation_cover[rows] > 0.3] = 4
    scl[land.shadow[rows]] = 2
    scl[(land.lake_id[rows] > 0) | land.river[rows]] = 6
    scl[(land.snow[rows] > 0.5) | ((land.glacier[rows] > 0) & ~land.debris[rows])] = 11
    scl[land.clouds.shadow[rows] >= SHADOW_MIN] = 3
    alpha = land.clouds.alpha[rows]
    scl[alpha >= THIN_ALPHA] = 10
    scl[alpha >= OPAQUE_ALPHA] = 8
    scl[alpha >= THICK_ALPHA] = 9
    scl[land.nodata[rows]] = 0
    return scl


def product_tags(baseline: str | None, date: dt.date | None) -> dict[str, str]:
    """GeoTIFF tags recording the baseline, its BOA offset and the date."""
    tags: dict[str, str] = {}
    if baseline:
        tags["PROCESSING_BASELINE"] = baseline
        tags["BOA_ADD_OFFSET"] = f"{baseline_offset(baseline):g}"
    if date:
        tags["DATATAKE_SENSING_START"] = f"{date.isoformat()}T04:57:09.024Z"
    return tags


def safe_name(date: dt.date, baseline: str) -> str:
    """A SAFE product name for the date and baseline (tile T45RUL, relative orbit 119)."""
    d = date.strftime("%Y%m%d")
    return f"S2B_MSIL2A_{d}T045709_N{baseline.replace('.', '')}_R119_T45RUL_{d}T073545.SAFE"


def mtd_xml(date: dt.date, baseline: str) -> str:
    """An ``MTD_MSIL2A.xml`` with the elements of a real one that glofwatch reads."""
    offset = baseline_offset(baseline)
    offsets = "".join(f'\n        <BOA_ADD_OFFSET band_id="{i}">{offset:g}</BOA_ADD_OFFSET>'
                      for i in range(len(BAND_IDS)))
    offset_list = (f"\n      <BOA_ADD_OFFSET_VALUES_LIST>{offsets}\n      </BOA_ADD_OFFSET_VALUES_LIST>"
                   if offset else "")
    start = f"{date.isoformat()}T04:57:09.024Z"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{start}</PRODUCT_START_TIME>
      <PRODUCT_URI>{safe_name(date, baseline)}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="GS2B_{date.strftime('%Y%m%d')}T045709_000000_N{baseline.replace('.', '')}">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
        <DATATAKE_SENSING_START>{start}</DATATAKE_SENSING_START>
      </Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>{offset_list}
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""


def grid_20m(grid: GeoGrid) -> GeoGrid:
    """The 20 m grid of a 10 m ``grid``: same corner, half the pixels (rounded up)."""
    from affine import Affine

    t = grid.transform
    return GeoGrid(grid.crs, Affine(t.a * 2, t.b, t.c, t.d, t.e * 2, t.f), -(-grid.height // 2), -(-grid.width // 2),
                   grid.nodata)


def write_safe(land: Landscape, grid: GeoGrid, out_dir: Path, date: dt.date, baseline: str,
               block_rows: int = 512) -> tuple[Path, dict[str, Path], Path]:
    """Write ``land`` as a SAFE-like product folder in ``out_dir``.

    Returns:
        (the ``.SAFE`` folder, band name -> 10 m JP2 file, the 20 m SCL JP2 file).
    """
    import rasterio

    safe = out_dir / safe_name(date, baseline)
    stamp = date.strftime("%Y%m%d")
    img = safe / "GRANULE" / f"L2A_T45RUL_A000000_{stamp}T045709" / "IMG_DATA"
    offset = baseline_offset(baseline)
    jp2 = {"driver": "JP2OpenJPEG", "QUALITY": 100, "REVERSIBLE": "YES", "YCBCR420": "NO"}
    paths = {b: img / "R10m" / f"T45RUL_{stamp}T045709_{b}_10m.jp2" for b in BANDS}
    dn = np.empty((len(BANDS), *grid.shape), dtype=np.uint16)
    scl = np.empty(grid.shape, dtype=np.uint8)
    for r0 in range(0, grid.height, block_rows):
        rows = slice(r0, min(grid.height, r0 + block_rows))
        dn[:, rows] = l2a_dn(land.reflectance(rows), offset)
        scl[rows] = draw_scl(land, rows)
    profile = {"height": grid.height, "width": grid.width, "crs": grid.crs, "transform": grid.transform, "count": 1}
    for i, b in enumerate(BANDS):
        with atomic_path(paths[b]) as tmp, rasterio.open(tmp, "w", dtype="uint16", **profile, **jp2) as dst:
            dst.write(dn[i], 1)
    g20 = grid_20m(grid)
    scl20 = scl[::2, ::2][: g20.height, : g20.width]  # the class at each 20 m pixel's top-left 10 m pixel
    scl_path = img / "R20m" / f"T45RUL_{stamp}T045709_SCL_20m.jp2"
    profile20 = {**profile, "height": g20.height, "width": g20.width, "transform": g20.transform}
    with atomic_path(scl_path) as tmp, rasterio.open(tmp, "w", dtype="uint8", **profile20, **jp2) as dst:
        dst.write(scl20, 1)
    write_text_atomic(safe / "MTD_MSIL2A.xml", mtd_xml(date, baseline))
    return safe, paths, scl_path
