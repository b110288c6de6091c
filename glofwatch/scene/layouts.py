"""Scene layouts on disk: a folder of band files (a SAFE product among them) and a STAC item.

:func:`folder_parts` and :func:`item_parts` find where each band, the SCL and
the product metadata are; :func:`glofwatch.scene.read.read_scene` builds the
:class:`~glofwatch.scene.read.Scene` from the :class:`SceneParts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.scene.bands import BandSource, band_name, band_sort_key, is_scl
from glofwatch.scene.products import (
    ProductInfo,
    baseline_from_name,
    find_mtd,
    product_info_from_mtd,
    product_info_from_stac,
    product_info_from_tags,
)

SUPPORTED_DTYPES = ("uint8", "uint16", "int16", "uint32", "int32", "float32", "float64")
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
ITEM_BANDS = ("B02", "B03", "B04", "B08")
"""Bands taken from a STAC item: the four 10 m bands (the others are 20 m and 60 m)."""


@dataclass
class SceneParts:
    """Where a scene's pieces are.

    Attributes:
        grid: the bands' grid.
        names: band names in order.
        dtype: pixel type of the bands.
        sources: band name -> where it is.
        scl: where the SCL is, or None.
        product: product metadata found.
        date_texts: texts that may carry the acquisition date, most trusted first.
    """

    grid: GeoGrid
    names: tuple[str, ...]
    dtype: str
    sources: dict[str, BandSource]
    scl: BandSource | None = None
    product: ProductInfo = field(default_factory=ProductInfo)
    date_texts: list[str] = field(default_factory=list)


def open_raster(path: str | Path):  # noqa: ANN201 - rasterio dataset
    """``rasterio.open`` with unreadable files as one-line :class:`InputError`."""
    import rasterio

    try:
        ds = rasterio.open(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"{path}: cannot open as a raster ({first}); give a GeoTIFF, COG or JP2 file") from None
    try:  # a truncated file opens (its header is there) but its last block cannot be read
        from rasterio.windows import Window

        ds.read(1, window=Window(ds.width - 1, ds.height - 1, 1, 1))
    except Exception as exc:  # noqa: BLE001 - a block that cannot be decoded is a damaged file
        ds.close()
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"{path}: the raster is truncated or damaged ({first}); copy or download it again") from None
    return ds


def check_dtype(path: str | Path, dtype: str) -> None:
    """Raise :class:`InputError` for pixel types glofwatch does not read."""
    if dtype not in SUPPORTED_DTYPES:
        raise InputError(
            f"{path}: pixel type {dtype} is not supported; convert to uint16 L2A digital numbers "
            "(or uint8 true colour), e.g. `gdal_translate -ot UInt16 IN OUT` "
            f"(supported: {', '.join(SUPPORTED_DTYPES)})"
        )


def file_product(path: Path, tags: dict[str, str], scales: tuple, offsets: tuple,
                 names: tuple[str, ...]) -> ProductInfo:
    """Product metadata of a band file: an ``MTD_MSIL2A.xml`` it belongs to, its tags, the name's ``_N0509_``."""
    info = product_info_from_tags(tags, scales, offsets, names, where=path.name)
    mtd = find_mtd(path)
    if mtd is not None:
        info = product_info_from_mtd(mtd).merge(info)
    baseline = baseline_from_name(path.name)
    if baseline:
        info = info.merge(ProductInfo(baseline=baseline, baseline_from="product name"))
    return info


def _same_grid(a: GeoGrid, b: GeoGrid) -> bool:
    return (a.height, a.width) == (b.height, b.width) and a.transform.almost_equals(b.transform) and a.crs == b.crs


def _finest(paths: list[Path]) -> Path:
    """The file with the smallest pixel size (the 20 m SCL of a SAFE rather than the 60 m one)."""
    sizes = []
    for p in paths:
        with open_raster(p) as ds:
            sizes.append((abs(ds.transform.a), str(p)))
    return Path(min(sizes)[1])


def folder_parts(folder: Path) -> SceneParts:
    """The band files, SCL and metadata of a folder (searched recursively, as a SAFE is laid out)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    found: dict[str, list[Path]] = {}
    scl_files = [p for p in files if is_scl(p.stem)]
    for p in files:
        b = band_name(p.stem)
        if b is not None and p not in scl_files:
            found.setdefault(b, []).append(p)
    if not found:
        raise InputError(
            f"{folder}: no band files found; name single-band files B02.tif, B03.tif, B04.tif[, B08.tif] "
            "(or Sentinel-2 names containing _B02)"
        )
    chosen: dict[str, Path] = {}
    for b, paths in found.items():
        if len(paths) > 1:
            ten = [p for p in paths if "10m" in p.stem.lower()]
            if len(ten) != 1:
                raise InputError(
                    f"{folder}: several files for band {b} ({', '.join(p.name for p in paths[:3])}); "
                    "keep one per band (the 10 m one)"
                )
            paths = ten
        chosen[b] = paths[0]
    names = tuple(sorted(chosen, key=band_sort_key))
    first = chosen[names[0]]
    with open_raster(first) as ds:
        grid = GeoGrid.from_profile(ds.profile)
        dtype = ds.dtypes[0]
        check_dtype(first, dtype)
        tags = ds.tags()
        scale, offset = ds.scales[0], ds.offsets[0]
    for b in names[1:]:
        p = chosen[b]
        with open_raster(p) as ds:
            other = GeoGrid.from_profile(ds.profile)
            if ds.count != 1:
                raise InputError(f"{p}: band file has {ds.count} bands, expected 1; split it into single-band files")
            if ds.dtypes[0] != dtype:
                raise InputError(f"{p}: pixel type {ds.dtypes[0]} differs from {first.name} ({dtype}); "
                                 "convert all bands to one type")
        if not _same_grid(other, grid):
            raise InputError(
                f"{p}: band grid ({other.height}x{other.width}, {other.pixel_size[0]:g} m) differs from {first.name} "
                f"({grid.height}x{grid.width}, {grid.pixel_size[0]:g} m); resample all bands to the 10 m grid"
            )
    product = product_info_from_tags(tags, (scale,) * len(names), (offset,) * len(names), names, where=first.name)
    mtd = find_mtd(folder)
    if mtd is not None:
        product = product_info_from_mtd(mtd).merge(product)
    baseline = baseline_from_name(folder.name) or baseline_from_name(first.name)
    if baseline:
        product = product.merge(ProductInfo(baseline=baseline, baseline_from="product name"))
    scl = BandSource(_finest(scl_files), 1) if scl_files else None
    sources = {b: BandSource(chosen[b], 1) for b in names}
    return SceneParts(grid, names, dtype, sources, scl, product, [folder.name, *(p.name for p in chosen.values())])


def item_parts(path: Path) -> SceneParts:
    """The 10 m bands, SCL and radiometry of a STAC item JSON file (local or ``https://`` hrefs)."""
    from glofwatch.scene.stacitem import item_band_hrefs, read_item

    item = read_item(path)
    hrefs, keys = item_band_hrefs(item, base=path.parent)
    names = tuple(b for b in ITEM_BANDS if b in hrefs)
    if not names:
        raise InputError(
            f"{path}: item {item.get('id')!r} has no asset for B02, B03, B04 or B08 (assets: "
            f"{', '.join(sorted(item['assets']))}); give a Sentinel-2 L2A item (assets blue green red nir, or B02 ...)"
        )
    grid = dtype = None
    for b in names:
        with open_raster(hrefs[b]) as ds:
            this = GeoGrid.from_profile(ds.profile)
            if grid is None:
                grid, dtype = this, ds.dtypes[0]
                check_dtype(hrefs[b], dtype)
            elif not _same_grid(this, grid) or ds.dtypes[0] != dtype:
                raise InputError(f"{path}: asset {keys[b]} ({hrefs[b]}) is not on the grid or pixel type of "
                                 f"{keys[names[0]]}; give an item whose 10 m bands share one grid")
    assert grid is not None and dtype is not None
    product = product_info_from_stac(item, {b: keys[b] for b in names})
    scl = BandSource(hrefs["SCL"], 1) if "SCL" in hrefs else None
    sources = {b: BandSource(hrefs[b], 1) for b in names}
    when = str((item.get("properties") or {}).get("datetime") or "")
    return SceneParts(grid, names, dtype, sources, scl, product, [when, str(item.get("id") or "")])
