"""The JSON API under ``/api`` (its OpenAPI schema is at ``/openapi.json``).

Reads: lakes as GeoJSON (filtered by box, level and date), one lake with its
hazard breakdown, its area series, thumbnails, alerts and their CAP XML,
scenes and their overlays. Writes and computation (``POST /api/predict``,
``POST /api/alerts/{identifier}/ack``) need the token
(:mod:`glofwatch.webmap.security`). Every error is ``{"detail": "one line"}``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from glofwatch.webmap.features import NO_LEVEL
from glofwatch.webmap.predict import run_upload
from glofwatch.webmap.security import check_token
from glofwatch.webmap.tables import LEVELS
from glofwatch.webmap.thumbs import KINDS, NO_MODEL, ThumbUnavailable
from glofwatch.webmap.uploads import UploadRejected, check_upload, too_large

router = APIRouter(prefix="/api")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_FEATURES = 50_000
FORM_SLACK = 64 * 1024
"""Bytes a multipart form may add around the file before the upload limit counts."""
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "PNG image"}}
NO_MODEL_DETAIL = "no model loaded: start the server with `glofwatch serve DIR --model RUN`"


def ctx(request: Request) -> Any:
    """The app's :class:`~glofwatch.webmap.app.WebmapContext`."""
    return request.app.state.webmap


def writer(request: Request, authorization: str | None = Header(None, description="Bearer token")) -> None:
    """Dependency of the routes that write or compute: refuses without the right token."""
    check_token(ctx(request).token, authorization)


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None or not text.strip():
        return None
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise HTTPException(400, f"bbox '{text}' must be four numbers W,S,E,N in degrees, "
                                 "e.g. 86.3,27.9,86.5,28.1") from None
    if not all(np.isfinite([w, s, e, n])) or w > e or s > n or not (-90 <= s <= 90 and -90 <= n <= 90):
        raise HTTPException(400, f"bbox '{text}' must have W <= E, S <= N and latitudes within -90..90")
    return w, s, e, n


def _levels(text: str | None) -> set[str] | None:
    if text is None or not text.strip():
        return None
    wanted = {v.strip() for v in text.split(",") if v.strip()}
    unknown = sorted(wanted - {*LEVELS, NO_LEVEL})
    if unknown:
        raise HTTPException(400, f"level '{unknown[0]}' is unknown; use {', '.join(LEVELS)} or {NO_LEVEL}, "
                                 "comma-separated")
    return wanted


@router.get("/info", summary="What the served folder holds")
def info(request: Request) -> dict[str, Any]:
    """Counts, sources, observation dates, bounds, model and whether writes are enabled."""
    c = ctx(request)
    doc = c.catalog.info()
    doc["model"] = c.model.describe() if c.model is not None else None
    doc["writes_enabled"] = c.token is not None
    doc["limits"] = {"upload_bytes": c.max_upload_bytes, "pixels": c.max_pixels}
    return doc


@router.get("/lakes", summary="Lake outlines as GeoJSON",
            responses={200: {"content": {"application/geo+json": {}}, "description": "FeatureCollection"}})
def lakes(
    request: Request,
    bbox: str | None = Query(None, description="W,S,E,N in degrees; lakes whose box meets it"),
    level: str | None = Query(None, description="alert levels, comma-separated: green,yellow,orange,red,none"),
    date: str | None = Query(None, description="observation date YYYY-MM-DD (default: the current outlines)"),
    limit: int = Query(MAX_FEATURES, ge=1, le=MAX_FEATURES, description="most features returned"),
) -> Response:
    """Current outlines coloured by alert level, or the outlines observed on one date."""
    c = ctx(request)
    box, levels = _bbox(bbox), _levels(level)
    if date is not None and not DATE.match(date):
        raise HTTPException(400, f"date '{date}' must be YYYY-MM-DD")
    try:
        features = c.catalog.features(date)
    except KeyError:
        dates = c.catalog.dates
        known = f"; dates: {dates[0]} .. {dates[-1]} ({len(dates)})" if dates else "; there are no observation dates"
        raise HTTPException(404, f"no observations on {date}{known}") from None
    body = features.collection(features.select(box, levels), limit, {"date": date})
    return Response(body, media_type="application/geo+json")


def _lake_or_404(c: Any, lake_id: int) -> None:
    if lake_id not in c.catalog.rows:
        raise HTTPException(404, f"no lake {lake_id} in the served folder")


@router.get("/lakes/{lake_id}", summary="One lake: attributes, level, alert and hazard breakdown")
def lake(request: Request, lake_id: int) -> dict[str, Any]:
    """The lake's attributes, area and its uncertainty, alert, hazard score with per-criterion breakdown, thumbnails."""
    c = ctx(request)
    _lake_or_404(c, lake_id)
    doc = c.catalog.lake(lake_id)
    doc["thumbs"] = c.thumbs.availability(lake_id)
    return doc


@router.get("/lakes/{lake_id}/series", summary="A lake's area over time with its uncertainty")
def series(request: Request, lake_id: int) -> dict[str, Any]:
    """Area (km2) and its uncertainty per observation date, plus the track's change and growth."""
    c = ctx(request)
    _lake_or_404(c, lake_id)
    return c.catalog.series(lake_id)


@router.get("/lakes/{lake_id}/thumbs/{kind}.png", summary="Thumbnail of a lake", responses=PNG,
            response_class=Response)
def thumb(request: Request, lake_id: int, kind: str) -> Response:
    """``image`` (scene), ``prediction`` (lake pixels over the scene) or ``gradcam`` (needs ``--model``)."""
    c = ctx(request)
    _lake_or_404(c, lake_id)
    if kind not in KINDS:
        raise HTTPException(404, f"unknown thumbnail kind '{kind}'; use one of {', '.join(KINDS)}")
    if kind == "gradcam" and c.model is None:
        raise HTTPException(409, NO_MODEL)
    try:
        data = c.thumbs.png(lake_id, kind)
    except ThumbUnavailable as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@router.get("/alerts", summary="Alerts in force and this run's cancels")
def alerts(request: Request) -> dict[str, Any]:
    """The alerts of ``alerts.json`` with their CAP links and acknowledgements."""
    c = ctx(request)
    acks = c.acks.all()
    doc = {k: c.catalog.alerts_doc.get(k) for k in ("generated", "sender", "status", "min_level")}
    doc["alerts"] = [dict(a, ack=acks.get(a["identifier"])) for a in c.catalog.alerts]
    return doc


@router.get("/alerts/{identifier}.xml", summary="The CAP 1.2 XML of an alert",
            responses={200: {"content": {"application/xml": {}}, "description": "CAP 1.2 message"}},
            response_class=FileResponse)
def cap_xml(request: Request, identifier: str) -> FileResponse:
    """The CAP message file written by ``glofwatch alerts`` (only files inside the alerts folder's ``cap/``)."""
    path = ctx(request).catalog.cap_path(identifier)
    if path is None:
        raise HTTPException(404, f"no CAP message '{identifier}'")
    return FileResponse(path, media_type="application/xml")


class AckBody(BaseModel):
    """Who acknowledges an alert, and an optional note."""

    by: str = Field("", max_length=100, description="name or role")
    note: str = Field("", max_length=500)


@router.post("/alerts/{identifier}/ack", summary="Acknowledge an alert (needs the token)",
             dependencies=[Depends(writer)])
def ack(request: Request, identifier: str, body: AckBody | None = None) -> dict[str, Any]:
    """Record that the alert was seen, in ``DIR/.webmap/acks.json``."""
    c = ctx(request)
    if c.catalog.alert(identifier) is None:
        raise HTTPException(404, f"no alert '{identifier}'")
    body = body or AckBody(by="", note="")
    try:
        return c.acks.acknowledge(identifier, by=" ".join(body.by.split()), note=" ".join(body.note.split()))
    except OSError as exc:
        raise HTTPException(503, f"cannot write {c.acks.path.name} ({exc.strerror or exc}); "
                                 "is the served folder writable?") from None


@router.get("/scenes", summary="Scenes of the map outputs and their overlays")
def scenes(request: Request) -> list[dict[str, Any]]:
    """Metadata of each map output with the EPSG:4326 bounds and URL of its imagery overlay."""
    return ctx(request).imagery.scenes()


@router.get("/scenes/{key}/overlay.png", summary="True-colour overlay of a scene", responses=PNG,
            response_class=Response)
def overlay(request: Request, key: str) -> Response:
    """The scene warped to Web Mercator as an RGBA PNG (rendered once, then cached)."""
    data = ctx(request).imagery.overlay(key)
    if data is None:
        raise HTTPException(404, f"no imagery for scene '{key}'")
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


async def _read_upload(request: Request, limit: int) -> bytes:
    """The uploaded file: the ``file`` field of a multipart form, or the raw body; at most ``limit`` bytes read."""
    from starlette.requests import Request as StarletteRequest

    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + FORM_SLACK:
        raise too_large(int(length), limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit + FORM_SLACK:
            raise too_large(None, limit)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return bytes(body)
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    form = await StarletteRequest(request.scope, replay).form(max_files=1, max_fields=8)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadRejected(400, "no 'file' field: send the image as the 'file' field of a multipart form")
        return await upload.read()
    finally:
        await form.close()


@router.post("/predict", summary="Map lakes in one uploaded image (needs the token and --model)",
             dependencies=[Depends(writer)],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                    "properties": {"file": {"type": "string", "format": "binary"}}}},
                 "image/png": {}, "image/jpeg": {}, "image/tiff": {}}}})
async def predict(request: Request) -> dict[str, Any]:
    """Lake mask, overlay and Grad-CAM of a PNG, JPEG or TIFF image, as base64 PNGs."""
    c = ctx(request)
    if c.model is None:
        raise HTTPException(409, NO_MODEL_DETAIL)
    try:
        data = await _read_upload(request, c.max_upload_bytes)
        kind, _ = check_upload(data, c.max_upload_bytes, c.max_pixels)
        return await run_in_threadpool(run_upload, c.model, data, kind)
    except UploadRejected as exc:
        raise HTTPException(exc.status, exc.detail) from None
