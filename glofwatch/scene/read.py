"""Lazy access to a Sentinel-2 scene: one multi-band GeoTIFF/COG or a folder of band files.

:func:`read_scene` opens the metadata only and returns a :class:`Scene`;
pixels are read window by window with :meth:`Scene.read_window` (rasterio
windows), so a 10980 x 10980 scene is never held in memory at once.

Band order:

* multi-band file: the band descriptions name the bands (``B02``, ``B03``,
  ``B04``, ``B08``; also ``B4``, ``B04 (red)``, ...). Without descriptions a
  3-band file whose colour interpretation is red/green/blue (e.g. a TCI) is
  (B04, B03, B02); otherwise the default order is :data:`DEFAULT_ORDER`
  (ascending band number: B02, B03, B04[, B08], as the synthetic scenes and
  ``gdal_merge.py B02 B03 B04 B08`` give). ``band_order=`` overrides both.
* folder: one single-band file per band, named ``B02.tif`` ... or any name with
  the band as a token (``T45RUL_20200101T045211_B02_10m.jp2``, as in a SAFE
  folder, which is searched recursively). All files must share one grid.

* STAC item (``.json``): the assets ``blue green red nir`` (Earth Search) or
  ``B02 B03 B04 B08`` (Planetary Computer), local or ``https://`` hrefs.

Pixel values: uint8 scenes are 8-bit renderings (``kind == "rgb8"``); every
other supported dtype is Sentinel-2 L2A digital numbers, reflectance x 10000
plus the product's BOA offset (``kind == "dn"``). A pixel is nodata when any
band equals the nodata value or is NaN. L2A reserves DN 0 for nodata, so an
integer DN scene without a nodata tag (SAFE JP2 files declare none) uses 0;
float scenes without one use NaN only.

Scene Classification Layer: a band described ``SCL`` in a multi-band file, a
file named with an ``SCL`` token in a folder (``T45RUL_..._SCL_20m.jp2``; the
finest one), the ``scl``/``SCL`` asset of an item, or :meth:`Scene.with_scl`.
It may be on another grid (20 m): :meth:`Scene.read_scl` reads it on the
scene's (:mod:`glofwatch.scene.scl`).

Product metadata (:mod:`glofwatch.scene.products`): ``MTD_MSIL2A.xml`` in the
folder or the enclosing ``.SAFE``, the file's band offset/scale and tags, the
item's ``raster:bands`` and ``s2:processing_baseline``, and the ``_N0509_`` of
a product name; :meth:`Scene.dn_offset` picks the offset from them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid
from glofwatch.scene.bands import SCL, BandSource, band_name, is_scl
from glofwatch.scene.layouts import (
    RASTER_SUFFIXES,
    SUPPORTED_DTYPES,
    SceneParts,
    check_dtype,
    file_product,
    folder_parts,
    item_parts,
    open_raster,
)
from glofwatch.scene.products import OffsetChoice, ProductInfo, resolve_offset

DEFAULT_ORDER: dict[int, tuple[str, ...]] = {
    1: ("B02",),
    2: ("B02", "B03"),
    3: ("B02", "B03", "B04"),
    4: ("B02", "B03", "B04", "B08"),
}
"""Band names of files without band descriptions, by band count."""

MIN_SCENE_PX = 32
"""Scenes with a side shorter than this are refused (too little context to map)."""

@dataclass
class Scene:
    """A scene opened lazily.

    Attributes:
        path: the file or folder given by the user.
        name: output name (file stem; folder name without ``.SAFE``).
        grid: the georeference (CRS, transform, shape, nodata).
        bands: band names available, e.g. ("B02", "B03", "B04", "B08").
        dtype: numpy dtype name of the pixels.
        kind: "rgb8" (uint8 rendering) or "dn" (L2A digital numbers).
        sources: band name -> :class:`BandSource`.
        date: acquisition date ``YYYY-MM-DD`` when the name, tags or metadata carry it, else None.
        scl: where the Scene Classification Layer is, or None.
        product: what the product's metadata says (baseline, BOA offsets).
    """

    path: Path
    name: str
    grid: GeoGrid
    bands: tuple[str, ...]
    dtype: str
    kind: str
    sources: dict[str, BandSource] = field(repr=False)
    date: str | None = None
    scl: BandSource | None = None
    product: ProductInfo = field(default_factory=ProductInfo, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.grid.shape

    @property
    def nodata(self) -> float | None:
        """The nodata value in force: the file's, else 0 for integer L2A DN (the format's), else None."""
        if self.grid.nodata is not None:
            return self.grid.nodata
        if self.kind == "dn" and np.dtype(self.dtype).kind in "ui":
            return 0
        return None

    @property
    def nodata_from(self) -> str:
        """Where :attr:`nodata` comes from: ``file``, ``L2A convention (DN 0)`` or ``none``."""
        if self.grid.nodata is not None:
            return "file"
        return "L2A convention (DN 0)" if self.nodata is not None else "none"

    def with_scl(self, path: str | Path, index: int = 1) -> Scene:
        """This scene with its SCL taken from ``path`` (``--scl FILE``).

        Raises:
            InputError: the file is missing, unreadable or has no CRS.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: SCL file not found; give the scene's Scene Classification Layer (e.g. "
                             "T45RUL_..._SCL_20m.jp2) or leave --scl out")
        with open_raster(path) as ds:
            GeoGrid.from_profile(ds.profile).require_crs(str(path))
            if ds.count < index:
                raise InputError(f"{path}: has {ds.count} band(s), no band {index}; give a one-band SCL file")
        self.scl = BandSource(path, index)
        return self

    def read_scl(self, row: int, col: int, height: int, width: int) -> np.ndarray | None:
        """SCL classes (height, width) uint8 of a window on the scene grid, or None without an SCL."""
        if self.scl is None:
            return None
        from glofwatch.scene.scl import read_scl_window

        return read_scl_window(self.scl.path, self.scl.index, self.grid, row, col, height, width)

    def dn_offset(self, bands: tuple[str, ...] | list[str], override: float | None = None) -> OffsetChoice:
        """The DN offset for ``bands`` (see :func:`glofwatch.scene.products.resolve_offset`)."""
        info = self.product
        if info.date is None and self.date:
            import datetime as dt

            info = ProductInfo(**{**info.__dict__, "date": dt.date.fromisoformat(self.date)})
        return resolve_offset(info, bands, override, what=str(self.path))

    def require_bands(self, needed: tuple[str, ...] | list[str], what: str = "the model") -> None:
        """Raise :class:`InputError` when a band in ``needed`` is missing."""
        missing = [b for b in needed if b not in self.sources]
        if missing:
            raise InputError(
                f"{self.path}: {what} needs bands {', '.join(needed)} but the scene has {', '.join(self.bands)} "
                f"(missing {', '.join(missing)}); add the band files or set band descriptions "
                "(e.g. `gdal_edit.py -mo` / rasterio `set_band_description`) or pass --bands"
            )

    def read_window(
        self, row: int, col: int, height: int, width: int, bands: tuple[str, ...] | list[str] | None = None,
        out_shape: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Read a window of some bands.

        Args:
            row: first row (pixels).
            col: first column (pixels).
            height: rows to read.
            width: columns to read.
            bands: band names in the wanted order (default: all, in :attr:`bands` order).
            out_shape: optional (h, w) to read decimated (nearest neighbour; overviews are
                used when the file has them).

        Returns:
            Array (C, h, w) in the scene's dtype.
        """
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        bands = tuple(bands) if bands is not None else self.bands
        self.require_bands(bands)
        win = Window(col, row, width, height)
        shape = out_shape or (height, width)
        out = np.empty((len(bands), *shape), dtype=self.dtype)
        by_file: dict[str | Path, list[tuple[int, int]]] = {}
        for i, b in enumerate(bands):
            src = self.sources[b]
            by_file.setdefault(src.path, []).append((i, src.index))
        for path, pairs in by_file.items():
            with rasterio.open(path) as ds:
                data = ds.read(
                    [idx for _, idx in pairs], window=win, out_shape=(len(pairs), *shape),
                    resampling=Resampling.nearest, boundless=False,
                )
            for k, (i, _) in enumerate(pairs):
                out[i] = data[k]
        return out

    def read_with_scl(
        self, row: int, col: int, height: int, width: int, bands: tuple[str, ...] | list[str]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(bands (C, h, w), SCL classes (h, w) uint8 or None) of one window.

        When the SCL is a band of the one file holding ``bands`` (as in a stacked GeoTIFF),
        both come from one read, so the file's blocks are decompressed once.
        """
        import rasterio
        from rasterio.windows import Window

        bands = tuple(bands)
        self.require_bands(bands)
        paths = {self.sources[b].path for b in bands}
        if self.scl is None or paths != {self.scl.path}:
            return self.read_window(row, col, height, width, bands), self.read_scl(row, col, height, width)
        with rasterio.open(self.scl.path) as ds:
            data = ds.read([*(self.sources[b].index for b in bands), self.scl.index],
                           window=Window(col, row, width, height))
        return data[:-1], data[-1].astype(np.uint8, copy=False)

    def valid_mask(self, data: np.ndarray) -> np.ndarray:
        """(h, w) bool: True where no band of ``data`` (C, h, w) is nodata or NaN."""
        invalid = np.zeros(data.shape[1:], dtype=bool)
        nodata = self.nodata
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            invalid |= np.any(data == np.asarray(nodata).astype(data.dtype), axis=0)
        if data.dtype.kind == "f":
            invalid |= np.any(np.isnan(data), axis=0)
        return ~invalid

    def sample(self, bands: tuple[str, ...] | list[str], side: int = 256, every: int = 4) -> np.ndarray:
        """Windows of ``side`` px on a lattice taking one window in ``every`` along each axis: (N, C, side, side).

        One window in ``every**2`` (6 % by default), spread evenly over the scene: what
        scene-wide statistics need, without decompressing the whole scene a second time.
        """
        import rasterio
        from rasterio.windows import Window

        h, w = self.shape
        side = min(side, h, w)
        rows = list(range(0, h - side + 1, side))[every // 2 :: every] or [0]
        cols = list(range(0, w - side + 1, side))[every // 2 :: every] or [0]
        bands = tuple(bands)
        self.require_bands(bands)
        out = np.empty((len(rows) * len(cols), len(bands), side, side), dtype=self.dtype)
        by_file: dict[str | Path, list[tuple[int, int]]] = {}
        for i, b in enumerate(bands):
            by_file.setdefault(self.sources[b].path, []).append((i, self.sources[b].index))
        for path, pairs in by_file.items():
            with rasterio.open(path) as ds:
                k = 0
                for r in rows:
                    for c in cols:
                        out[k, [i for i, _ in pairs]] = ds.read([j for _, j in pairs], window=Window(c, r, side, side))
                        k += 1
        return out

    def overview(self, max_side: int = 1024, bands: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
        """The whole scene decimated so its longer side is at most ``max_side`` (C, h, w)."""
        h, w = self.shape
        step = max(1, math.ceil(max(h, w) / max_side))
        return self.read_window(0, 0, h, w, bands, out_shape=(max(1, h // step), max(1, w // step)))


def read_scene(path: str | Path, band_order: tuple[str, ...] | list[str] | None = None) -> Scene:
    """Open a scene (metadata only).

    Args:
        path: a multi-band GeoTIFF/COG/JP2, or a folder of single-band files (B02.tif, ...
            or Sentinel-2 SAFE names containing ``_B02``).
        band_order: band names of a multi-band file in file order, overriding descriptions.

    Returns:
        A :class:`Scene`.

    Raises:
        InputError: file missing or unreadable, no CRS, unsupported dtype, band files on
            different grids, unknown band names, or a scene smaller than
            :data:`MIN_SCENE_PX` on a side.
    """
    path = Path(path)
    if path.is_dir():
        scene = _read_folder(path)
    elif path.is_file() and path.suffix.lower() == ".json":
        scene = _read_item(path)
    elif path.is_file():
        scene = _read_file(path, band_order)
    else:
        raise InputError(f"{path}: scene not found; give a GeoTIFF or a folder of band files (B02.tif, B03.tif, ...)")
    scene.grid.require_crs(str(scene.path))
    h, w = scene.shape
    if min(h, w) < MIN_SCENE_PX:
        raise InputError(
            f"{path}: scene is {h}x{w} px; glofwatch maps scenes of at least {MIN_SCENE_PX}x{MIN_SCENE_PX} px, "
            "cut a larger area"
        )
    return scene


def scene_name(path: str | Path) -> str:
    """Output name of a scene: file stem, or folder name without ``.SAFE``."""
    path = Path(path)
    name = path.name if path.is_dir() else path.stem
    return name.removesuffix(".SAFE")


def _scene_date(*texts: str | None) -> str | None:
    for text in texts:
        if not text:
            continue
        m = re.search(r"(?<!\d)(20\d{2}|19\d{2})[-:]?(0[1-9]|1[0-2])[-:]?(0[1-9]|[12]\d|3[01])(?:T|[ _]|$)", text)
        if m:
            return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    return None


def _kind(dtype: str) -> str:
    return "rgb8" if dtype == "uint8" else "dn"


def _from_parts(path: Path, parts: SceneParts) -> Scene:
    date = _scene_date(*parts.date_texts)
    if date is None and parts.product.date is not None:
        date = parts.product.date.isoformat()
    return Scene(path, scene_name(path), parts.grid, parts.names, parts.dtype, _kind(parts.dtype), parts.sources,
                 date, parts.scl, parts.product)


def _read_folder(folder: Path) -> Scene:
    return _from_parts(folder, folder_parts(folder))


def _read_item(path: Path) -> Scene:
    return _from_parts(path, item_parts(path))


def _read_file(path: Path, band_order: tuple[str, ...] | list[str] | None) -> Scene:
    with open_raster(path) as ds:
        dtype = ds.dtypes[0]
        check_dtype(path, dtype)
        count = ds.count
        if band_order is not None:
            names = tuple(SCL if is_scl(b) else (band_name(b) or b) for b in band_order)
            if len(names) != count:
                raise InputError(
                    f"{path}: --bands names {len(names)} bands ({', '.join(names)}) but the file has {count}; "
                    "give one name per band in file order"
                )
        else:
            names = _names_from_file(path, ds)
        if len(set(names)) != len(names):
            raise InputError(f"{path}: band names repeat ({', '.join(names)}); "
                             "fix the band descriptions or pass --bands")
        grid = GeoGrid.from_profile(ds.profile)
        tags = ds.tags()
        scales, offsets = ds.scales, ds.offsets
    spectral = tuple(b for b in names if b != SCL)
    if not spectral:
        raise InputError(f"{path}: the file holds only an SCL band; give the band files too (or pass it as --scl)")
    keep = [i for i, b in enumerate(names) if b != SCL]
    product = file_product(path, tags, tuple(scales[i] for i in keep), tuple(offsets[i] for i in keep), spectral)
    sources = {b: BandSource(path, i + 1) for i, b in enumerate(names) if b != SCL}
    scl = BandSource(path, names.index(SCL) + 1) if SCL in names else None
    texts = [path.name, tags.get("DATATAKE_SENSING_START"), tags.get("TIFFTAG_DATETIME"), tags.get("date"),
             tags.get("DATE")]
    return _from_parts(path, SceneParts(grid, spectral, dtype, sources, scl, product, [t for t in texts if t]))


def _names_from_file(path: Path, ds) -> tuple[str, ...]:  # noqa: ANN001 - rasterio dataset
    from rasterio.enums import ColorInterp

    descs = ds.descriptions
    parsed = [SCL if is_scl(d) else band_name(d) for d in descs]
    if any(d for d in descs):
        if all(parsed):
            return tuple(parsed)  # type: ignore[arg-type]
        bad = [d for d, p in zip(descs, parsed, strict=True) if not p]
        raise InputError(
            f"{path}: band descriptions {list(descs)} do not all name Sentinel-2 bands (e.g. {bad[0]!r}); "
            "set them to B02/B03/B04/B08 (and SCL) or pass --bands B02,B03,B04,B08 in file order"
        )
    if ds.count == 3 and tuple(ds.colorinterp) == (ColorInterp.red, ColorInterp.green, ColorInterp.blue):
        return ("B04", "B03", "B02")
    if ds.count not in DEFAULT_ORDER:
        raise InputError(
            f"{path}: {ds.count} bands without band descriptions; set descriptions (B02, B03, B04, B08) "
            "or pass --bands in file order"
        )
    return DEFAULT_ORDER[ds.count]


__all__ = [
    "DEFAULT_ORDER", "MIN_SCENE_PX", "RASTER_SUFFIXES", "SUPPORTED_DTYPES", "BandSource", "Scene", "band_name",
    "read_scene", "scene_name",
]
