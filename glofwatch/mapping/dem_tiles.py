"""A folder of DEM tiles as one DEM: the tiles a scene overlaps, mosaicked in a GDAL VRT.

DEMs come in tiles: Copernicus GLO-30 and SRTM in 1 x 1 degree files. A monitoring agency
keeps the tiles of its whole region in one folder, and each Sentinel-2 scene (about 1 x 1.1
degrees) overlaps two to four of them. :func:`open_dem_folder` picks the tiles whose bounds
overlap the scene's, checks that they share one CRS, pixel size and grid, and opens them as
one raster through a VRT (nothing is copied; GDAL reads each tile's blocks as they are
needed), so ``glofwatch map REGION --dem FOLDER`` maps every scene with its own DEM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from glofwatch.errors import InputError

DEM_SUFFIXES = (".tif", ".tiff", ".vrt", ".hgt", ".dt2")
"""Files of a DEM folder taken as tiles (GeoTIFF, VRT, SRTM .hgt, DTED level 2)."""

GRID_TOLERANCE = 0.01
"""How far (in pixels) a tile's corner may sit off the common grid."""


@dataclass(frozen=True)
class DemTile:
    """One tile of a DEM folder: its file, grid and nodata."""

    path: Path
    crs: Any
    transform: Any
    width: int
    height: int
    nodata: float | None
    dtype: str


def _tiles(folder: Path) -> list[DemTile]:
    import rasterio

    tiles = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in DEM_SUFFIXES and p.is_file()):
        try:
            with rasterio.open(path) as src:
                if src.crs is None:
                    raise InputError(f"{path}: a DEM tile without CRS; set it (gdal_edit.py -a_srs EPSG:4326 "
                                     f"{path}) or move it out of {folder}")
                tiles.append(DemTile(path, src.crs, src.transform, src.width, src.height, src.nodata,
                                     src.dtypes[0]))
        except rasterio.errors.RasterioError as exc:
            raise InputError(f"{path}: cannot read this DEM tile ({str(exc).splitlines()[0]}); repair it or move "
                             f"it out of {folder}") from None
    return tiles


def overlapping(tiles: list[DemTile], crs: Any, bounds: tuple[float, float, float, float]) -> list[DemTile]:
    """The tiles whose footprint overlaps ``bounds`` (left, bottom, right, top in ``crs``)."""
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    out = []
    for t in tiles:
        left, bottom, right, top = array_bounds(t.height, t.width, t.transform)
        tl, tb, tr, tt = transform_bounds(t.crs, crs, left, bottom, right, top, densify_pts=21)
        if tl < bounds[2] and tr > bounds[0] and tb < bounds[3] and tt > bounds[1]:
            out.append(t)
    return out


def mosaic_vrt(tiles: list[DemTile], folder: Path) -> str:
    """The XML of a VRT that places ``tiles`` (one CRS, pixel size and grid) side by side.

    Cells a tile marks as nodata do not hide the tile under them (each is a ComplexSource with
    its NODATA). Raises :class:`InputError` for tiles in different CRSs, pixel sizes, rotated
    grids or corners off the common grid.
    """
    first = tiles[0]
    a, e = first.transform.a, first.transform.e
    for t in tiles:
        if t.crs != first.crs:
            raise InputError(f"{t.path}: CRS {t.crs} differs from {first.path}'s {first.crs}; give DEM tiles in one "
                             f"CRS (reproject with gdalwarp) or a single mosaic with --dem")
        if t.transform.b or t.transform.d or not (math.isclose(t.transform.a, a, rel_tol=1e-6)
                                                  and math.isclose(t.transform.e, e, rel_tol=1e-6)):
            raise InputError(f"{t.path}: pixel size {t.transform.a:g} x {-t.transform.e:g} differs from "
                             f"{first.path.name}'s {a:g} x {-e:g} (or the grid is rotated); give tiles of one "
                             "resolution, or a single mosaic with --dem")
    left = min(t.transform.c for t in tiles)
    top = max(t.transform.f for t in tiles)
    offsets = []
    for t in tiles:
        x, y = (t.transform.c - left) / a, (t.transform.f - top) / e
        if abs(x - round(x)) > GRID_TOLERANCE or abs(y - round(y)) > GRID_TOLERANCE:
            raise InputError(f"{t.path}: its corner lies off the grid of the other tiles in {folder} by "
                             f"({x - round(x):.3f}, {y - round(y):.3f}) px; give tiles of one grid, or a single "
                             "mosaic with --dem")
        offsets.append((round(x), round(y)))
    width = max(x + t.width for (x, _), t in zip(offsets, tiles, strict=True))
    height = max(y + t.height for (_, y), t in zip(offsets, tiles, strict=True))
    nodata = next((t.nodata for t in tiles if t.nodata is not None), None)
    dtype = {"float64": "Float64", "int16": "Int16", "uint16": "UInt16", "int32": "Int32"}.get(first.dtype, "Float32")
    band = [f'  <VRTRasterBand dataType="{dtype}" band="1">']
    if nodata is not None:
        band.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
    for (x, y), t in zip(offsets, tiles, strict=True):
        band += ["    <ComplexSource>",
                 f'      <SourceFilename relativeToVRT="0">{escape(str(t.path.resolve()))}</SourceFilename>',
                 "      <SourceBand>1</SourceBand>",
                 f'      <SrcRect xOff="0" yOff="0" xSize="{t.width}" ySize="{t.height}"/>',
                 f'      <DstRect xOff="{x}" yOff="{y}" xSize="{t.width}" ySize="{t.height}"/>']
        if t.nodata is not None:
            band.append(f"      <NODATA>{t.nodata!r}</NODATA>")
        band.append("    </ComplexSource>")
    band.append("  </VRTRasterBand>")
    return "\n".join([f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
                      f"  <SRS>{escape(first.crs.to_wkt())}</SRS>",
                      f"  <GeoTransform>{left!r}, {a!r}, 0.0, {top!r}, 0.0, {e!r}</GeoTransform>",
                      *band, "</VRTDataset>"])


def open_dem_folder(folder: str | Path, crs: Any, bounds: tuple[float, float, float, float],
                    scene: str = "scene") -> tuple[Any, Any, list[Path]]:
    """Open the tiles of ``folder`` that overlap ``bounds`` (in ``crs``) as one dataset.

    Returns:
        (the open dataset, the memory file holding its VRT: close both, the tiles used).

    Raises:
        InputError: no DEM tiles in the folder, none overlapping the scene, or tiles that do not fit together.
    """
    from rasterio.io import MemoryFile

    folder = Path(folder)
    tiles = _tiles(folder)
    if not tiles:
        raise InputError(f"{folder}: no DEM tiles ({', '.join(DEM_SUFFIXES)}) in this folder; give a folder of "
                         "GLO-30 or SRTM tiles, or one DEM file, with --dem")
    used = overlapping(tiles, crs, bounds)
    if not used:
        raise InputError(f"{folder}: none of its {len(tiles)} DEM tiles overlaps the scene {scene}; add the tiles "
                         "that cover it, or map without --dem")
    memfile = MemoryFile(mosaic_vrt(used, folder).encode(), ext=".vrt")
    return memfile.open(), memfile, [t.path for t in used]


__all__ = ["DEM_SUFFIXES", "DemTile", "mosaic_vrt", "open_dem_folder", "overlapping"]
