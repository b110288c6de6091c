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

Pixel values: uint8 scenes are 8-bit renderings (``kind == "rgb8"``); every
other supported dtype is Sentinel-2 L2A digital numbers, reflectance x 10000
(``kind == "dn"``). A pixel is nodata when any band equals the nodata value
or is NaN (L2A reserves DN 0 for nodata; a scene without a nodata value uses
0 for integer dtypes and NaN only for floats).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glofwatch.errors import InputError
from glofwatch.geo import GeoGrid

DEFAULT_ORDER: dict[int, tuple[str, ...]] = {
    1: ("B02",),
    2: ("B02", "B03"),
    3: ("B02", "B03", "B04"),
    4: ("B02", "B03", "B04", "B08"),
}
"""Band names of files without band descriptions, by band count."""

SUPPORTED_DTYPES = ("uint8", "uint16", "int16", "uint32", "int32", "float32", "float64")
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
MIN_SCENE_PX = 32
"""Scenes with a side shorter than this are refused (too little context to map)."""

_BAND_TOKEN = re.compile(r"(?:^|[^A-Za-z0-9])B0?(1[0-2]|[1-9]|8A)(?=$|[^A-Za-z0-9])", re.IGNORECASE)


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


@dataclass(frozen=True)
class BandSource:
    """Where one band lives: a file and its 1-based band index."""

    path: Path
    index: int


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
        date: acquisition date ``YYYY-MM-DD`` when the name or tags carry it, else None.
    """

    path: Path
    name: str
    grid: GeoGrid
    bands: tuple[str, ...]
    dtype: str
    kind: str
    sources: dict[str, BandSource] = field(repr=False)
    date: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.grid.shape

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
        by_file: dict[Path, list[tuple[int, int]]] = {}
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

    def valid_mask(self, data: np.ndarray) -> np.ndarray:
        """(h, w) bool: True where no band of ``data`` (C, h, w) is nodata or NaN."""
        invalid = np.zeros(data.shape[1:], dtype=bool)
        nodata = self.grid.nodata
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            invalid |= np.any(data == np.asarray(nodata).astype(data.dtype), axis=0)
        if data.dtype.kind == "f":
            invalid |= np.any(np.isnan(data), axis=0)
        return ~invalid

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


def _open(path: Path):  # noqa: ANN202 - rasterio dataset
    import rasterio

    try:
        return rasterio.open(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"{path}: cannot open as a raster ({first}); give a GeoTIFF, COG or JP2 file") from None


def _check_dtype(path: Path, dtype: str) -> None:
    if dtype not in SUPPORTED_DTYPES:
        raise InputError(
            f"{path}: pixel type {dtype} is not supported; convert to uint16 L2A digital numbers "
            f"(or uint8 true colour), e.g. `gdal_translate -ot UInt16 IN OUT` (supported: {', '.join(SUPPORTED_DTYPES)})"
        )


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


def _read_file(path: Path, band_order: tuple[str, ...] | list[str] | None) -> Scene:
    with _open(path) as ds:
        dtype = ds.dtypes[0]
        _check_dtype(path, dtype)
        count = ds.count
        if band_order is not None:
            names = tuple(band_name(b) or b for b in band_order)
            if len(names) != count:
                raise InputError(
                    f"{path}: --bands names {len(names)} bands ({', '.join(names)}) but the file has {count}; "
                    "give one name per band in file order"
                )
        else:
            names = _names_from_file(path, ds)
        if len(set(names)) != len(names):
            raise InputError(f"{path}: band names repeat ({', '.join(names)}); fix the band descriptions or pass --bands")
        grid = GeoGrid.from_profile(ds.profile)
        tags = ds.tags()
        date = _scene_date(path.name, tags.get("DATATAKE_SENSING_START"), tags.get("TIFFTAG_DATETIME"),
                           tags.get("date"), tags.get("DATE"))
    sources = {b: BandSource(path, i + 1) for i, b in enumerate(names)}
    return Scene(path, scene_name(path), grid, names, dtype, _kind(dtype), sources, date)


def _names_from_file(path: Path, ds) -> tuple[str, ...]:  # noqa: ANN001 - rasterio dataset
    from rasterio.enums import ColorInterp

    descs = ds.descriptions
    parsed = [band_name(d) for d in descs]
    if any(d for d in descs):
        if all(parsed):
            return tuple(parsed)  # type: ignore[arg-type]
        bad = [d for d, p in zip(descs, parsed) if not p]
        raise InputError(
            f"{path}: band descriptions {list(descs)} do not all name Sentinel-2 bands (e.g. {bad[0]!r}); "
            "set them to B02/B03/B04/B08 or pass --bands B02,B03,B04,B08 in file order"
        )
    if ds.count == 3 and tuple(ds.colorinterp) == (ColorInterp.red, ColorInterp.green, ColorInterp.blue):
        return ("B04", "B03", "B02")
    if ds.count not in DEFAULT_ORDER:
        raise InputError(
            f"{path}: {ds.count} bands without band descriptions; set descriptions (B02, B03, B04, B08) "
            "or pass --bands in file order"
        )
    return DEFAULT_ORDER[ds.count]


def _read_folder(folder: Path) -> Scene:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    found: dict[str, list[Path]] = {}
    for p in files:
        b = band_name(p.stem)
        if b is not None:
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
    names = tuple(sorted(chosen, key=_band_sort_key))
    first = chosen[names[0]]
    with _open(first) as ds:
        grid = GeoGrid.from_profile(ds.profile)
        dtype = ds.dtypes[0]
        _check_dtype(first, dtype)
    for b in names[1:]:
        p = chosen[b]
        with _open(p) as ds:
            other = GeoGrid.from_profile(ds.profile)
            if ds.count != 1:
                raise InputError(f"{p}: band file has {ds.count} bands, expected 1; split it into single-band files")
            if ds.dtypes[0] != dtype:
                raise InputError(f"{p}: pixel type {ds.dtypes[0]} differs from {first.name} ({dtype}); convert all bands to one type")
        if (other.height, other.width) != (grid.height, grid.width) or not other.transform.almost_equals(grid.transform) \
                or other.crs != grid.crs:
            raise InputError(
                f"{p}: band grid ({other.height}x{other.width}, {other.pixel_size[0]:g} m) differs from {first.name} "
                f"({grid.height}x{grid.width}, {grid.pixel_size[0]:g} m); resample all bands to the 10 m grid"
            )
    sources = {b: BandSource(chosen[b], 1) for b in names}
    date = _scene_date(folder.name, *(p.name for p in chosen.values()))
    return Scene(folder, scene_name(folder), grid, names, dtype, _kind(dtype), sources, date)


def _band_sort_key(b: str) -> float:
    return 8.5 if b == "B8A" else float(b[1:])
