"""Monitor tables in PostgreSQL/PostGIS: the same ``tracks`` and ``observations`` as ``monitor.gpkg``.

:func:`write_postgis` replaces both tables in one transaction (a reader sees
the old pair or the new pair, never a mix); geometry columns are
``geometry(MULTIPOLYGON, 4326)``. :func:`read_postgis` returns them with the
dtypes of :func:`~glofwatch.changes.store.conform`, equal to what
:func:`~glofwatch.changes.store.read_geopackage` returns for the same run.

URLs are ``postgresql://user:password@host:port/database``; the driver is psycopg 3.
"""

from __future__ import annotations

import re

from glofwatch.changes.store import OBSERVATIONS_LAYER, TRACKS_LAYER, conform, to_output
from glofwatch.changes.tracks import OBSERVATION_COLUMNS, TRACK_COLUMNS
from glofwatch.errors import ConfigError, InputError

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def redact(url: str) -> str:
    """A database URL with its password replaced by ``***`` (for messages).

    Example:
        >>> redact("postgresql://me:secret@db:5432/lakes")
        'postgresql://me:***@db:5432/lakes'
    """
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def engine_for(url: str):  # noqa: ANN201 - sqlalchemy Engine
    """A SQLAlchemy engine for a ``postgresql://`` URL (psycopg 3 driver).

    Raises:
        InputError: not a PostgreSQL URL.
        ConfigError: the database libraries are not installed.
    """
    if not re.match(r"^postgres(ql)?(\+\w+)?://", url):
        raise InputError(f"--db {redact(url)}: not a PostgreSQL URL; write postgresql://user:password@host:5432/database")
    try:
        import geoalchemy2  # noqa: F401 - registers the geometry type with SQLAlchemy
        import sqlalchemy
    except ImportError as exc:
        raise ConfigError(f"--db needs {exc.name}; install it with "
                          "`pip install sqlalchemy geoalchemy2 psycopg[binary]`") from None
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)
    return sqlalchemy.create_engine(url)


def _connect_error(url: str, exc: Exception) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return InputError(f"--db {redact(url)}: cannot use the database ({first[:160]}); check the URL and that PostGIS "
                      "is installed (a local test database: `.ci/postgis.sh`)")


def _check_schema(schema: str | None) -> None:
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise InputError(f"schema '{schema}' is not a plain SQL name; use letters, digits and _")


def write_postgis(url: str, tracks, observations, schema: str | None = None) -> None:  # noqa: ANN001 - GeoDataFrames
    """Replace the ``tracks`` and ``observations`` tables in a PostGIS database, in one transaction.

    Args:
        url: ``postgresql://user:password@host:port/database``.
        tracks: the tracks table (stored in EPSG:4326).
        observations: the observations table.
        schema: database schema (default: the connection's search path, usually ``public``).

    Raises:
        InputError: the database cannot be reached or has no PostGIS.
    """
    import sqlalchemy

    _check_schema(schema)
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("SELECT postgis_version()"))
            to_output(tracks).to_postgis(TRACKS_LAYER, conn, schema=schema, if_exists="replace", index=False)
            to_output(observations).to_postgis(OBSERVATIONS_LAYER, conn, schema=schema, if_exists="replace",
                                               index=False)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise _connect_error(url, getattr(exc, "orig", None) or exc) from None
    finally:
        engine.dispose()


def read_postgis(url: str, schema: str | None = None):  # noqa: ANN201 - (GeoDataFrame, GeoDataFrame)
    """The ``(tracks, observations)`` tables written by :func:`write_postgis`.

    Tracks come ordered by ``lake_id``, observations by ``date`` then ``lake_id``
    (the order of :func:`~glofwatch.changes.tracks.track_observations`).
    """
    import geopandas as gpd
    import sqlalchemy

    _check_schema(schema)
    prefix = f'"{schema}".' if schema else ""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            tracks = gpd.read_postgis(
                sqlalchemy.text(f'SELECT * FROM {prefix}"{TRACKS_LAYER}" ORDER BY lake_id'), conn, geom_col="geometry")
            observations = gpd.read_postgis(
                sqlalchemy.text(f'SELECT * FROM {prefix}"{OBSERVATIONS_LAYER}" ORDER BY date, lake_id'), conn,
                geom_col="geometry")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise _connect_error(url, getattr(exc, "orig", None) or exc) from None
    finally:
        engine.dispose()
    return (conform(tracks[[*TRACK_COLUMNS, "geometry"]]),
            conform(observations[[*OBSERVATION_COLUMNS, "geometry"]]))
