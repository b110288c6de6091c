"""STAC APIs that serve Sentinel-2 L2A, searched with pystac-client, and GDAL's HTTP settings for reading them.

Named catalogs (``--catalog NAME``; any other ``https://`` STAC API URL works too):

* ``earth-search`` (default): Element 84 Earth Search v1, collection
  ``sentinel-2-l2a``, public COG assets ``blue green red nir scl``, no key;
* ``planetary-computer``: Microsoft Planetary Computer, collection
  ``sentinel-2-l2a``, assets ``B02 B03 B04 B08 SCL``, hrefs signed with
  ``planetary_computer.sign_inplace`` (package ``planetary-computer``).

Proxies: pystac-client (requests) honours ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``;
:func:`gdal_http_options` gives GDAL the same proxy for each href (libcurl alone
ignores the upper-case ``HTTP_PROXY``).
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from glofwatch.errors import ConfigError, InputError
from glofwatch.registry import close_matches_hint

DEFAULT_COLLECTION = "sentinel-2-l2a"
SEARCH_RETRIES = 2
"""Retries of a failed API request (with requests' back-off) before the API counts as unreachable."""
DEFAULT_TIMEOUT_S = 30.0
"""Seconds to wait for the STAC API or a file server before saying it cannot be reached."""


@dataclass(frozen=True)
class Catalog:
    """A STAC API to search.

    Attributes:
        name: registry name, or the URL for unnamed APIs.
        url: the API's root URL.
        collection: default collection.
        assets: band name -> asset key it uses (for messages; items are read by
            :func:`glofwatch.scene.stacitem.item_band_hrefs`, which knows both conventions).
        signer: ``planetary-computer`` when hrefs must be signed, else None.
    """

    name: str
    url: str
    collection: str = DEFAULT_COLLECTION
    assets: tuple[tuple[str, str], ...] = ()
    signer: str | None = None


CATALOGS: dict[str, Catalog] = {
    "earth-search": Catalog(
        "earth-search", "https://earth-search.aws.element84.com/v1", DEFAULT_COLLECTION,
        (("B02", "blue"), ("B03", "green"), ("B04", "red"), ("B08", "nir"), ("SCL", "scl"))),
    "planetary-computer": Catalog(
        "planetary-computer", "https://planetarycomputer.microsoft.com/api/stac/v1", DEFAULT_COLLECTION,
        (("B02", "B02"), ("B03", "B03"), ("B04", "B04"), ("B08", "B08"), ("SCL", "SCL")), "planetary-computer"),
}  # fmt: skip
DEFAULT_CATALOG = "earth-search"


def resolve_catalog(catalog: str | None = None, collection: str | None = None) -> Catalog:
    """A named catalog, or a catalog for a STAC API URL; ``collection`` overrides its collection.

    Raises:
        ConfigError: an unknown name that is not an http(s) URL.
    """
    catalog = catalog or DEFAULT_CATALOG
    if catalog in CATALOGS:
        found = CATALOGS[catalog]
    elif urllib.parse.urlparse(catalog).scheme in ("http", "https"):
        found = Catalog(catalog, catalog.rstrip("/"))
    else:
        raise ConfigError(f"--catalog {catalog!r} is not a known catalog ({', '.join(CATALOGS)}) nor an http(s) "
                          f"STAC API URL{close_matches_hint(catalog, list(CATALOGS))}")
    if collection:
        found = Catalog(found.name, found.url, collection, found.assets, found.signer)
    return found


def _modifier(catalog: Catalog):  # noqa: ANN202 - callable or None
    if catalog.signer != "planetary-computer":
        return None
    try:
        import planetary_computer
    except ImportError:
        raise ConfigError("the Planetary Computer signs its hrefs with the package planetary-computer; "
                          "install it (pip install planetary-computer) or use --catalog earth-search") from None
    return planetary_computer.sign_inplace


def _unreachable(catalog: Catalog, exc: BaseException, timeout_s: float) -> InputError:
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text.lower() or "Timeout" in text:
        why = f"no answer within {timeout_s:g} s"
    elif isinstance(exc, requests.exceptions.ConnectionError) or any(
            k in text for k in ("NewConnectionError", "Connection refused", "Max retries exceeded", "Name or service")):
        why = "connection failed"
    else:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        why = first[:160]
    return InputError(f"cannot reach the STAC API {catalog.url} ({why}); check --catalog, the network and the "
                      "proxy variables (HTTPS_PROXY, NO_PROXY)")


def search_items(
    catalog: Catalog, bbox: list[float], start: str, end: str, limit: int = 200,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[list[dict[str, Any]], str | None]:
    """Items of ``catalog.collection`` intersecting ``bbox`` between ``start`` and ``end`` (inclusive days).

    Args:
        catalog: the API.
        bbox: ``[west, south, east, north]`` degrees.
        start: first day ``YYYY-MM-DD``.
        end: last day ``YYYY-MM-DD``.
        limit: most items returned.
        timeout_s: request timeout.

    Returns:
        (item dicts, signed when the catalog needs it; the collection's licence or None).

    Raises:
        InputError: the API cannot be reached, answers with an error, or lacks the collection.
    """
    import requests
    from pystac_client import Client
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO

    modifier = _modifier(catalog)
    try:
        io = StacApiIO(timeout=timeout_s, max_retries=SEARCH_RETRIES)
        client = Client.open(catalog.url, modifier=modifier, stac_io=io, timeout=timeout_s)  # open resets io.timeout
        licence = None
        try:
            found = client.get_collection(catalog.collection)
            licence = found.license if found is not None else None
        except (APIError, KeyError, ValueError) as exc:
            if "404" in str(exc) or "not found" in str(exc).lower():
                raise InputError(f"{catalog.url}: no collection {catalog.collection!r}; pass --collection "
                                 f"{DEFAULT_COLLECTION} or another collection of that API") from None
        search = client.search(collections=[catalog.collection], bbox=bbox,
                               datetime=f"{start}T00:00:00Z/{end}T23:59:59Z",
                               max_items=limit, limit=min(limit, 100))
        items = [item.to_dict() for item in search.items()]
    except InputError:
        raise
    except (requests.exceptions.RequestException, APIError, OSError) as exc:
        raise _unreachable(catalog, exc, timeout_s) from None
    return items, licence


def gdal_http_options(href: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """GDAL configuration for reading ``href`` over HTTP with only the bytes needed.

    Directory listings are off, only raster extensions are probed, consecutive ranges
    are merged, and the proxy of ``href``'s scheme from the standard variables is used
    unless ``NO_PROXY`` names its host.
    """
    options: dict[str, Any] = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.jp2",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_TIMEOUT": int(max(1, timeout_s)),
        "GDAL_HTTP_CONNECTTIMEOUT": int(max(1, min(timeout_s, 10))),
        "GDAL_HTTP_MAX_RETRY": 2,
        "GDAL_HTTP_RETRY_DELAY": 1,
    }
    parts = urllib.parse.urlparse(href)
    if parts.scheme in ("http", "https") and parts.hostname:
        proxies = urllib.request.getproxies()
        proxy = proxies.get(parts.scheme) or proxies.get("all")
        if proxy and not urllib.request.proxy_bypass(parts.hostname):
            options["GDAL_HTTP_PROXY"] = proxy
    return options
