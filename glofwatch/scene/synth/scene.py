"""Whole synthetic Sentinel-2 L2A scenes with truth: GeoTIFFs and GeoPackages on a UTM grid.

:func:`write_synthetic_scene` draws one alpine landscape (valley glaciers with
moraine-dammed lakes at their snouts, valley lakes, ponds, rivers, snow) and
writes, on one grid (default EPSG:32645, 10 m pixels, top-left 440000 E
3100000 N, Nepal/Tibet):

- ``scene.tif``: 4 bands uint16, B02 B03 B04 B08 L2A-style reflectance
  ``DN = reflectance * 10000``, nodata 0, band descriptions set, 256x256 tiles,
  deflate. A swath-edge wedge on the west side is nodata (all bands 0).
  Tags ``SUN_ZENITH`` / ``SUN_AZIMUTH`` record the sun the scene was lit with.
  With ``bands_as_files`` the bands go to ``B02.tif`` ... ``B08.tif`` instead.
- ``lakes_mask.tif``: uint8 truth, 1 = lake, 0 = not lake, 255 = nodata.
- ``dem.tif``: float32 elevation in metres (about 3000 to 7000 m).
- ``glaciers.gpkg``: glacier outlines (``glacier_id``, ``area_km2``).
- ``lakes_truth.gpkg``: one (multi)polygon per lake of the truth mask
  (``lake_id``, ``area_km2`` = pixels x pixel area, ``kind``, ``setting``).

The reflectance is composed and written in blocks of rows, so memory stays at
the layers (a few hundred MB for 2048x2048). All files are written atomically.

The real products' traits are options (:mod:`.product`): ``processing_baseline``
(04.00 and later store ``DN = reflectance * 10000 + 1000`` and record the
offset in tags and band offset/scale), ``cloud_cover`` (clouds and their
shadows; the truth mask leaves out pixels under opaque cloud), ``scl`` (a
Scene Classification Layer of what was drawn: band 5 ``SCL`` of ``scene.tif``,
or ``SCL.tif`` beside band files), ``date``, and ``safe`` (a SAFE-like product
folder with ``MTD_MSIL2A.xml``, JPEG 2000 bands and a 20 m SCL instead of
``scene.tif``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine

from glofwatch.errors import ConfigError
from glofwatch.geo import GeoGrid
from glofwatch.io.atomic import atomic_path
from glofwatch.scene.products import baseline_offset
from glofwatch.scene.synth.landscape import (
    LakePlan,
    Landscape,
    LandscapeSpec,
    build_landscape,
)
from glofwatch.scene.synth.materials import BANDS
from glofwatch.scene.synth.product import DEFAULT_BASELINE, DEFAULT_DATE, draw_scl, l2a_dn, product_tags, write_safe

BLOCK_ROWS = 512
"""Rows composed and written at a time."""


@dataclass
class SceneFiles:
    """What :func:`write_synthetic_scene` wrote.

    Attributes:
        out_dir: the scene folder.
        scene: the 4-band GeoTIFF (``None`` when written as band files).
        bands: band name -> single-band GeoTIFF (empty unless written as band files).
        lakes_mask: truth mask GeoTIFF.
        dem: DEM GeoTIFF.
        glaciers: glacier outlines GeoPackage.
        lakes_truth: lake polygons GeoPackage.
        grid: the scene grid.
        lake_count: lakes in ``lakes_truth``.
        lake_area_km2: their total area.
        glacier_count: glaciers in ``glaciers``.
    """

    out_dir: Path
    scene: Path | None
    bands: dict[str, Path]
    lakes_mask: Path
    dem: Path
    glaciers: Path
    lakes_truth: Path
    grid: GeoGrid
    lake_count: int = 0
    lake_area_km2: float = 0.0
    glacier_count: int = 0
    files: list[Path] = field(default_factory=list)
    scl: Path | None = None
    safe: Path | None = None


def scene_grid(
    size: int, epsg: int = 32645, pixel_size_m: float = 10.0, origin: tuple[float, float] = (440000.0, 3100000.0)
) -> GeoGrid:
    """The north-up grid of a ``size`` x ``size`` scene with top-left corner ``origin`` (x, y)."""
    transform = Affine(pixel_size_m, 0.0, origin[0], 0.0, -pixel_size_m, origin[1])
    return GeoGrid(crs=f"EPSG:{epsg}", transform=transform, height=size, width=size, nodata=0)


def swath_edge(shape: tuple[int, int], border_px: int) -> np.ndarray:
    """The nodata wedge beyond a Sentinel-2 swath edge on the west side.

    The edge runs slightly slanted from ``border_px`` columns in at the top to a
    third of that at the bottom, with the small steps of detector boundaries.

    Returns:
        (H, W) bool, True outside the swath.
    """
    h, w = shape
    if border_px <= 0:
        return np.zeros(shape, dtype=bool)
    rows = np.arange(h)
    edge = border_px * (1.0 - 0.67 * rows / max(h - 1, 1))
    steps = max(1, h // 12)
    edge = edge + 3.0 * ((rows // steps) % 2)
    return np.arange(w)[None, :] < edge[:, None]


def draw_scene_spec(rng: np.random.Generator, size: int) -> LandscapeSpec:
    """Draw an alpine landscape of ``size`` x ``size`` pixels (10 m) with lakes where
    lakes form: moraine-dammed at glacier snouts, in valley floors, and small ponds."""
    scale = size / 2048.0
    glaciers = max(1, int(round(rng.uniform(6, 10) * scale)))
    lakes = [
        LakePlan("moraine", float(rng.uniform(800, 15000) * scale), float(rng.uniform(1.8, 4.5)),
                 roughness=float(rng.uniform(0.1, 0.35)), terrain_weight=float(rng.uniform(0.1, 0.4)))
        for _ in range(max(1, int(round(glaciers * 0.7))))
    ]  # fmt: skip
    lakes += [
        LakePlan("valley", float(rng.uniform(500, 25000) * scale), float(rng.uniform(1.2, 3.5)),
                 roughness=float(rng.uniform(0.1, 0.4)), terrain_weight=float(rng.uniform(0.2, 0.7)))
        for _ in range(int(rng.integers(2, 6)))
    ]  # fmt: skip
    lakes += [
        LakePlan("pond", float(math.exp(rng.uniform(math.log(3), math.log(600)))), float(rng.uniform(1.0, 2.5)),
                 roughness=float(rng.uniform(0.1, 0.3)), terrain_weight=float(rng.uniform(0.0, 0.5)))
        for _ in range(int(rng.integers(10, 30) * max(scale, 0.1)) + 1)
    ]  # fmt: skip
    for plan in lakes:
        if rng.random() < 0.12:
            plan.frozen_fraction = float(rng.uniform(0.05, 0.5))
    base = float(rng.uniform(3000.0, 3400.0))
    relief = float(rng.uniform(3200.0, 3600.0))
    return LandscapeSpec(
        plateau=0.1,
        base_m=base,
        relief_m=relief,
        ruggedness=0.85,
        snowline_m=float(rng.uniform(5200.0, 5600.0)),
        snow_noise_m=150.0,
        sun_azimuth_deg=float(rng.uniform(135.0, 160.0)),
        sun_elevation_deg=float(rng.uniform(45.0, 65.0)),
        soils=("red_brown", "grey"),
        vegetation=0.3,
        glaciers=glaciers,
        glacier_width_px=float(rng.uniform(12.0, 22.0)),
        debris=float(rng.uniform(0.35, 0.7)),
        rivers=max(2, int(round(6 * scale))),
        lakes=lakes,
        haze=0.6,
    )


def write_synthetic_scene(
    out_dir: Path,
    size: int = 2048,
    seed: int = 0,
    epsg: int = 32645,
    pixel_size_m: float = 10.0,
    nodata_border_px: int | None = None,
    origin: tuple[float, float] = (440000.0, 3100000.0),
    bands_as_files: bool = False,
    processing_baseline: str | None = None,
    cloud_cover: float = 0.0,
    scl: bool = False,
    date: dt.date | None = None,
    safe: bool = False,
) -> SceneFiles:
    """Draw a synthetic scene and write it with its truth (see the module docs).

    Args:
        out_dir: folder to write into (created).
        size: scene height and width in pixels (at least 64).
        seed: the scene is a pure function of the seed.
        epsg: EPSG code of the projected CRS (default UTM 45N).
        pixel_size_m: pixel size in metres.
        nodata_border_px: width of the nodata wedge at the top of the west edge
            (default ``size // 8``; 0 for none).
        origin: (x, y) map coordinates of the top-left corner.
        bands_as_files: write ``B02.tif`` ... ``B08.tif`` instead of ``scene.tif``.
        processing_baseline: L2A baseline ``NN.NN`` to imitate (04.00 and later: DN offset +1000);
            None: plain ``reflectance * 10000`` and nothing recorded.
        cloud_cover: share of the sky under cloud (0: clear).
        scl: write a Scene Classification Layer.
        date: acquisition date to record (tags; the SAFE name).
        safe: write a SAFE-like product folder (implies ``scl``; baseline default 05.09,
            date default 2023-10-05).

    Returns:
        The :class:`SceneFiles`.
    """
    if size < 64:
        raise ConfigError(f"synthetic scene: size={size} is too small; use at least 64 pixels, e.g. --size 2048")
    if pixel_size_m <= 0:
        raise ConfigError(f"synthetic scene: pixel_size_m={pixel_size_m} must be positive, e.g. 10")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = scene_grid(size, epsg, pixel_size_m, origin)
    border = size // 8 if nodata_border_px is None else int(nodata_border_px)
    if not 0 <= border < size:
        raise ConfigError(f"synthetic scene: nodata_border_px={border} must be in 0..{size - 1}")
    if not 0.0 <= cloud_cover < 1.0:
        raise ConfigError(f"synthetic scene: cloud_cover={cloud_cover} must be in [0, 1), e.g. 0.2")
    rng = np.random.default_rng([seed, 0x5CE4E])
    spec = draw_scene_spec(rng, size)
    if cloud_cover > 0:  # clouds are drawn last: every other layer stays as without them
        spec.cloud_coverage, spec.cloud_opacity = cloud_cover, 0.95
    land = build_landscape(rng, (size, size), spec, pixel_size_m=pixel_size_m, nodata=swath_edge((size, size), border))
    files = SceneFiles(
        out_dir=out_dir,
        scene=None if bands_as_files else out_dir / "scene.tif",
        bands={b: out_dir / f"{b}.tif" for b in BANDS} if bands_as_files else {},
        lakes_mask=out_dir / "lakes_mask.tif",
        dem=out_dir / "dem.tif",
        glaciers=out_dir / "glaciers.gpkg",
        lakes_truth=out_dir / "lakes_truth.gpkg",
        grid=grid,
    )
    if safe:
        files.scene = None
        files.safe, files.bands, files.scl = write_safe(land, grid, out_dir, date or DEFAULT_DATE,
                                                        processing_baseline or DEFAULT_BASELINE)
    elif bands_as_files:
        files.scl = out_dir / "SCL.tif" if scl else None
        _write_band_files(land, grid, files.bands, processing_baseline, files.scl)
    else:
        files.scl = files.scene if scl else None
        _write_reflectance(land, grid, files.scene, date, processing_baseline, scl)  # type: ignore[arg-type]
    mask = land.lake_mask()
    _write_raster(files.lakes_mask, np.where(land.nodata, np.uint8(255), mask), grid, nodata=255)
    _write_raster(files.dem, land.terrain.dem_m.astype(np.float32), grid, nodata=None)
    from glofwatch.scene.synth.vectors import (
        glacier_outlines,
        lake_polygons,
        write_gpkg,
    )

    lakes_gdf = lake_polygons(land, mask, grid)
    glaciers_gdf = glacier_outlines(land, grid)
    write_gpkg(lakes_gdf, files.lakes_truth)
    write_gpkg(glaciers_gdf, files.glaciers)
    files.lake_count = len(lakes_gdf)
    files.lake_area_km2 = float(lakes_gdf["area_km2"].sum()) if len(lakes_gdf) else 0.0
    files.glacier_count = len(glaciers_gdf)
    extra_scl = files.scl if files.scl != files.scene else None
    written = (files.scene, *files.bands.values(), extra_scl, files.lakes_mask, files.dem, files.glaciers,
               files.lakes_truth)
    files.files = [p for p in written if p is not None]
    return files


def write_scene_band_files(scene_path: Path, out_dir: Path) -> dict[str, Path]:
    """Split a multi-band scene GeoTIFF into one single-band GeoTIFF per band.

    Files are named after the band descriptions (``B02.tif`` ...; ``band1.tif`` ...
    where a band has none), keep the grid, dtype and nodata, and are written
    atomically, block by block.

    Args:
        scene_path: the multi-band GeoTIFF (e.g. ``scene.tif``).
        out_dir: folder for the band files (created).

    Returns:
        band name -> written path, in band order.
    """
    import rasterio

    from glofwatch.errors import InputError

    scene_path, out_dir = Path(scene_path), Path(out_dir)
    if not scene_path.is_file():
        raise InputError(f"{scene_path}: file not found; check the path")
    written: dict[str, Path] = {}
    with rasterio.open(scene_path) as src:
        grid = GeoGrid.from_profile(src.profile)
        names = [d or f"band{i}" for i, d in enumerate(src.descriptions, start=1)]
        profile = grid.profile(dtype=src.dtypes[0], count=1, nodata=src.nodata)
        for i, name in enumerate(names, start=1):
            path = out_dir / f"{name}.tif"
            with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
                dst.set_band_description(1, name)
                for r0 in range(0, grid.height, BLOCK_ROWS):
                    window = ((r0, min(grid.height, r0 + BLOCK_ROWS)), (0, grid.width))
                    dst.write(src.read(i, window=window), 1, window=window)
            written[name] = path
    return written


def _record(dst, baseline: str | None, date: str | dt.date | None, n_bands: int) -> None:  # noqa: ANN001
    """Tags (date, baseline, BOA offset) and, from baseline 04.00 on, the offset/scale of the first ``n_bands``
    bands (``reflectance = DN * 1e-4 + offset * 1e-4``, as GDAL and STAC ``raster:bands`` write it)."""
    tags = product_tags(baseline, None)
    if date:
        tags["DATE"] = str(date)  # the acquisition date, read back by scene.read_scene
    if tags:
        dst.update_tags(**tags)
    if baseline and baseline_offset(baseline):
        extra = dst.count - n_bands
        dst.scales = (1e-4,) * n_bands + (1.0,) * extra
        dst.offsets = (baseline_offset(baseline) * 1e-4,) * n_bands + (0.0,) * extra


def _sun_tags(land: Landscape) -> dict[str, str]:
    """The sun the scene was lit with, as the tags :func:`glofwatch.scene.products.product_info_from_tags` reads."""
    spec = land.spec
    return {"SUN_ZENITH": f"{90.0 - spec.sun_elevation_deg:.6f}", "SUN_AZIMUTH": f"{spec.sun_azimuth_deg:.6f}"}


def _write_reflectance(land: Landscape, grid: GeoGrid, path: Path, date: str | dt.date | None = None,
                       baseline: str | None = None, scl: bool = False) -> None:
    import rasterio

    names = (*BANDS, "SCL") if scl else BANDS
    offset = baseline_offset(baseline) if baseline else 0.0
    profile = grid.profile(dtype="uint16", count=len(names), nodata=0)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
        _record(dst, baseline, date, len(BANDS))
        dst.update_tags(**_sun_tags(land))
        for r0 in range(0, grid.height, BLOCK_ROWS):
            r1 = min(grid.height, r0 + BLOCK_ROWS)
            window = ((r0, r1), (0, grid.width))
            dst.write(l2a_dn(land.reflectance(slice(r0, r1)), offset), list(range(1, len(BANDS) + 1)), window=window)
            if scl:
                dst.write(draw_scl(land, slice(r0, r1)).astype(np.uint16), len(names), window=window)


def _write_band_files(land: Landscape, grid: GeoGrid, paths: dict[str, Path], baseline: str | None = None,
                      scl_path: Path | None = None) -> None:
    """One single-band GeoTIFF per band (and ``SCL.tif``), composed block by block."""
    import contextlib

    import rasterio

    offset = baseline_offset(baseline) if baseline else 0.0
    profile = grid.profile(dtype="uint16", count=1, nodata=0)
    with contextlib.ExitStack() as stack:
        dsts = []
        for name in BANDS:
            tmp = stack.enter_context(atomic_path(paths[name]))
            dst = stack.enter_context(rasterio.open(tmp, "w", **profile))
            dst.set_band_description(1, name)
            _record(dst, baseline, None, 1)
            dst.update_tags(**_sun_tags(land))
            dsts.append(dst)
        scl_dst = None
        if scl_path is not None:
            tmp = stack.enter_context(atomic_path(scl_path))
            scl_dst = stack.enter_context(rasterio.open(tmp, "w", **{**profile, "dtype": "uint8"}))
            scl_dst.set_band_description(1, "SCL")
        for r0 in range(0, grid.height, BLOCK_ROWS):
            r1 = min(grid.height, r0 + BLOCK_ROWS)
            window = ((r0, r1), (0, grid.width))
            dn = l2a_dn(land.reflectance(slice(r0, r1)), offset)
            for b, dst in enumerate(dsts):
                dst.write(dn[b], 1, window=window)
            if scl_dst is not None:
                scl_dst.write(draw_scl(land, slice(r0, r1)), 1, window=window)


def _write_raster(path: Path, array: np.ndarray, grid: GeoGrid, nodata: float | None) -> None:
    import rasterio

    profile = grid.profile(dtype=array.dtype.name, count=1, nodata=nodata)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(array, 1)
