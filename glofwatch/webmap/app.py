"""Build the web map's FastAPI app: :func:`create_app`.

The app serves ``/`` (the single page), ``/static`` (its JavaScript, CSS and
the vendored Leaflet) and the API of :mod:`glofwatch.webmap.api`. Security:
see :mod:`glofwatch.webmap.security`; CORS headers are sent only for the
origins given with ``cors_origins``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError, InputError
from glofwatch.webmap.uploads import MAX_PIXELS, MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_FILES = ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/leaflet/images/layers.png")
FETCH_COMMAND = "bash glofwatch/webmap/fetch_assets.sh"


def check_vendor(static_dir: Path = STATIC_DIR) -> None:
    """Raise a one-line :class:`ConfigError` naming the fetch command when Leaflet's files are missing."""
    missing = [f for f in VENDOR_FILES if not (static_dir / f).is_file()]
    if missing:
        raise ConfigError(f"the web map's Leaflet files are missing ({static_dir / missing[0]}); "
                          f"fetch them once with `{FETCH_COMMAND}` (needs npm)")


@dataclass
class WebmapContext:
    """What the routes share (``app.state.webmap``).

    Attributes:
        layout: the discovered outputs.
        catalog: lakes, observations, breakdowns and alerts in memory.
        imagery: scene overlays.
        thumbs: per-lake thumbnails.
        acks: alert acknowledgements.
        model: the ``--model`` run, or None.
        token: the write token, or None (writes refused).
        max_upload_bytes: upload size limit.
        max_pixels: upload pixel limit.
    """

    layout: Any
    catalog: Any
    imagery: Any
    thumbs: Any
    acks: Any
    model: Any = None
    token: str | None = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_pixels: int = MAX_PIXELS
    extra: dict[str, Any] = field(default_factory=dict)


class SecurityHeaders:
    """ASGI middleware adding :data:`~glofwatch.webmap.security.SECURITY_HEADERS` to every answer."""

    def __init__(self, app: Any) -> None:
        from glofwatch.webmap.security import SECURITY_HEADERS

        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), *self.headers])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    root: str | Path,
    token: str | None = None,
    model: str | Path | None = None,
    cors_origins: tuple[str, ...] | list[str] = (),
    scene_roots: tuple[str | Path, ...] | list[str | Path] = (),
    device: str = "auto",
    static_dir: Path = STATIC_DIR,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Any:
    """The web map app for the served folder ``root``.

    Args:
        root: folder holding map, monitor, risk and alerts outputs (any depth).
        token: write token (None: ``$GLOFWATCH_TOKEN``; none at all: writes answer 403).
        model: run folder or model file for ``/api/predict`` and Grad-CAM thumbnails.
        cors_origins: origins allowed by CORS (none by default: no CORS headers).
        scene_roots: extra folders the scenes named in ``summary.json`` may be read from.
        device: torch device of the model.
        static_dir: the page's files (tests point it elsewhere).
        max_upload_bytes: upload size limit.
        max_pixels: upload pixel-count limit.

    Returns:
        The FastAPI app.

    Raises:
        ConfigError: Leaflet's files are missing, or a bad CORS origin.
        InputError: ``root`` is not a folder or holds no stage output; the model cannot be loaded.
    """
    from fastapi import FastAPI
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    from glofwatch import __version__
    from glofwatch.webmap.acks import AckStore
    from glofwatch.webmap.api import FORM_SLACK, router
    from glofwatch.webmap.cache import RenderCache
    from glofwatch.webmap.catalog import Catalog
    from glofwatch.webmap.imagery import Imagery
    from glofwatch.webmap.layout import discover
    from glofwatch.webmap.security import BodyLimit, install_error_handlers, resolve_token
    from glofwatch.webmap.thumbs import Thumbnails

    check_vendor(static_dir)
    for origin in cors_origins:
        if not origin.startswith(("http://", "https://")) or origin.rstrip("/") != origin or origin.count("/") != 2:
            raise ConfigError(f"--cors-origin '{origin}' must be an origin like http://localhost:3000 (no path)")
    layout = discover(root, tuple(scene_roots))
    if layout.empty:
        raise InputError(f"{root}: no map, monitor, risk or alerts output found (looked for summary.json, "
                         "monitor.gpkg, risk.gpkg, alerts.json at any depth); give the folder the stages wrote into")
    cache = RenderCache(layout.cache())
    catalog = Catalog(layout)
    imagery = Imagery(layout, cache)
    service = None
    if model is not None:
        from glofwatch.webmap.model import ModelService

        service = ModelService(model, device=device)
    context = WebmapContext(
        layout=layout, catalog=catalog, imagery=imagery, thumbs=Thumbnails(catalog, imagery, cache, service),
        acks=AckStore(layout.cache() / "acks.json"), model=service, token=resolve_token(token),
        max_upload_bytes=max_upload_bytes, max_pixels=max_pixels,
    )  # fmt: skip

    app = FastAPI(
        title="glofwatch web map", version=__version__,
        description="Glacial lakes, their changes, GLOF hazard and alerts, served offline from one folder.",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; the schema stays at /openapi.json
    )  # fmt: skip
    app.state.webmap = context
    threading.Thread(target=catalog.warm, name="glofwatch-webmap-warm", daemon=True).start()
    install_error_handlers(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, limit=max_upload_bytes + FORM_SLACK)  # /api/predict also counts the file itself
    app.add_middleware(SecurityHeaders)
    log.info("serving %s: %d lakes, %d scenes, %d alerts", layout.root, len(catalog.rows), len(imagery.views),
             len(catalog.alerts))
    return app
