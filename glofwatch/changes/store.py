"""Monitor outputs on disk: ``monitor.gpkg`` (layers ``tracks`` and ``observations``) and the same tables as CSV.

Both tables are stored in :data:`OUTPUT_CRS` (EPSG:4326) with every outline
as a MultiPolygon, so GeoPackage, CSV and PostGIS (:mod:`~glofwatch.changes.postgis`)
hold one geometry type. Every file is written to a temporary file and renamed
into place. :func:`read_geopackage` returns the tables with the dtypes of
:func:`conform`, the same as the PostGIS reader, so round trips compare equal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glofwatch.changes.tracks import OBSERVATION_COLUMNS, TRACK_COLUMNS
from glofwatch.errors import InputError
from glofwatch.io.atomic import atomic_path

OUTPUT_CRS = "EPSG:4326"
"""CRS of every stored table."""

TRACKS_LAYER = "tracks"
OBSERVATIONS_LAYER = "observations"
WKT_DECIMALS = 9
"""Decimals of the WKT coordinates in the CSV files (1e-9 degree is about 0.1 mm)."""

_INTS = ("lake_id", "n_obs", "source_row")
_NULLABLE_INTS = ("parent_id", "merged_into")
_TEXT = ("first_date", "last_date", "status", "date", "source")


def to_output(frame):  # noqa: ANN001, ANN201 - GeoDataFrame
    """A table in :data:`OUTPUT_CRS` with MultiPolygon geometries and :func:`conform` dtypes."""
    import geopandas as gpd
    import shapely

    out = frame.to_crs(OUTPUT_CRS) if frame.crs is not None and frame.crs != OUTPUT_CRS else frame.copy()
    geoms = out.geometry.to_numpy()
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=OUTPUT_CRS))
    return conform(out)


def conform(frame):  # noqa: ANN001, ANN201 - GeoDataFrame
    """A tracks or observations table with its stored dtypes: ids int64, nullable ids Int64, text string, rest float."""
    import pandas as pd

    frame = frame.copy()
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        if col in _INTS:
            frame[col] = frame[col].astype(np.int64)
        elif col in _NULLABLE_INTS:
            frame[col] = pd.array(pd.to_numeric(frame[col]), dtype="Int64")
        elif col in _TEXT:
            frame[col] = frame[col].astype("string")
        else:
            frame[col] = pd.to_numeric(frame[col]).astype(float)
    return frame


def write_geopackage(tracks, observations, path: str | Path) -> Path:  # noqa: ANN001 - GeoDataFrames
    """Write both tables to one GeoPackage atomically (layers ``tracks`` and ``observations``).

    Args:
        tracks: the tracks table (any CRS; stored in :data:`OUTPUT_CRS`).
        observations: the observations table.
        path: target ``.gpkg``.

    Returns:
        The target path.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.unlink()  # the GeoPackage driver will not write into the empty placeholder
        to_output(tracks).to_file(tmp, layer=TRACKS_LAYER, driver="GPKG", engine="pyogrio")
        to_output(observations).to_file(tmp, layer=OBSERVATIONS_LAYER, driver="GPKG", engine="pyogrio", append=True)
    return path


def read_geopackage(path: str | Path):  # noqa: ANN201 - (GeoDataFrame, GeoDataFrame)
    """The ``(tracks, observations)`` tables of a ``monitor.gpkg``.

    Raises:
        InputError: the file is missing or has not both layers.
    """
    import geopandas as gpd
    import pyogrio

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; write it with `glofwatch monitor INVENTORY... --out DIR`")
    layers = {str(n) for n in pyogrio.list_layers(path)[:, 0]}
    if not {TRACKS_LAYER, OBSERVATIONS_LAYER} <= layers:
        raise InputError(f"{path}: needs layers 'tracks' and 'observations' (has {sorted(layers)}); "
                         "is it a monitor.gpkg from `glofwatch monitor`?")
    tracks = gpd.read_file(path, layer=TRACKS_LAYER, engine="pyogrio")
    observations = gpd.read_file(path, layer=OBSERVATIONS_LAYER, engine="pyogrio")
    return (conform(tracks[[*TRACK_COLUMNS, "geometry"]]),
            conform(observations[[*OBSERVATION_COLUMNS, "geometry"]]))


def write_csv(frame, path: str | Path) -> Path:  # noqa: ANN001 - GeoDataFrame
    """Write a table as CSV with the geometry as WKT (in :data:`OUTPUT_CRS`), atomically."""
    out = to_output(frame)
    table = out.drop(columns=out.geometry.name).assign(
        geometry=out.geometry.to_wkt(rounding_precision=WKT_DECIMALS, trim=True))
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def read_csv(path: str | Path):  # noqa: ANN201 - GeoDataFrame
    """Read a table written by :func:`write_csv` back into a GeoDataFrame."""
    import geopandas as gpd
    import pandas as pd

    table = pd.read_csv(path, keep_default_na=True)
    geoms = gpd.GeoSeries.from_wkt(table.pop("geometry"), crs=OUTPUT_CRS)
    return conform(gpd.GeoDataFrame(table, geometry=geoms, crs=OUTPUT_CRS))
