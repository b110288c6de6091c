"""Who may write, what the browser may load, and one-line JSON errors.

- Anything that writes or computes (upload and predict, acknowledging an
  alert) needs the server's token as ``Authorization: Bearer T``. Without a
  configured token (``--token`` or ``GLOFWATCH_TOKEN``) these routes answer
  403 and say how to set one; with one, a missing or wrong token is 401.
  Tokens are compared in constant time.
- Every answer carries a Content-Security-Policy that lets the page load
  and fetch from its own origin only, plus ``nosniff``, no framing and no
  referrer.
- Request bodies are limited in bytes for every route (:class:`BodyLimit`, 413).
- Every 4xx/5xx answer is JSON ``{"detail": "one line"}``.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from glofwatch.errors import GlofwatchError

log = logging.getLogger(__name__)

TOKEN_ENV = "GLOFWATCH_TOKEN"
HOW_TO_SET = (f"start the server with `glofwatch serve DIR --token T` or set {TOKEN_ENV}, "
              "then send 'Authorization: Bearer T'")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def resolve_token(given: str | None) -> str | None:
    """The write token: ``given`` (``--token``), else ``$GLOFWATCH_TOKEN``; None when neither is set or blank."""
    token = given if given is not None else os.environ.get(TOKEN_ENV)
    token = (token or "").strip()
    return token or None


class TokenError(Exception):
    """A refused write: HTTP status and one-line reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def check_token(configured: str | None, authorization: str | None) -> None:
    """Accept the request or raise :class:`TokenError` (403: writing disabled; 401: missing or wrong token)."""
    if configured is None:
        raise TokenError(403, f"writing is disabled on this server: {HOW_TO_SET}")
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise TokenError(401, "this needs the server's token: send 'Authorization: Bearer T'")
    if not hmac.compare_digest(value.strip().encode(), configured.encode()):
        raise TokenError(401, "wrong token: send the token the server was started with as 'Authorization: Bearer T'")


class BodyTooLarge(StarletteHTTPException):
    """A request body over the limit (413), raised while the body is read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: at most {limit // 2**20} MiB; send a smaller file")


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with a JSON 413.

    A declared ``Content-Length`` over the limit is refused before anything is
    read; a body that grows past it while being read raises :class:`BodyTooLarge`
    in the route, which the error handlers answer.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await error(413, BodyTooLarge(self.limit).detail)(scope, receive, send)
            return
        total = 0

        async def limited() -> Any:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


def one_line(text: Any) -> str:
    """``text`` as one line (whitespace runs joined), at most 300 characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= 300 else line[:297] + "..."


def error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer."""
    return JSONResponse({"detail": one_line(detail)}, status_code=status, headers=headers)


def _validation_text(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: Any) -> None:
    """Make every error answer ``{"detail": "one line"}`` (validation errors 422, user errors 400, bugs 500)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else f"not found: {request.url.path}"
        return error(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, _validation_text(exc))

    @app.exception_handler(TokenError)
    async def _token(request: Request, exc: TokenError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, exc.detail, headers)

    @app.exception_handler(GlofwatchError)
    async def _user(request: Request, exc: GlofwatchError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error answering %s %s", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); see the server log")
