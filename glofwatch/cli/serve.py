"""``glofwatch serve DIR``: the web map of a folder of map, monitor, risk and alerts outputs, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def serve_cmd(
    folder: Path = typer.Argument(..., help="Folder holding the outputs of map, monitor, risk and alerts (any depth)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, help="TCP port."),
    token: Optional[str] = typer.Option(None, "--token", envvar="GLOFWATCH_TOKEN", show_envvar=True,
                                        help="Token for uploads and acknowledgements (Authorization: Bearer T); "
                                             "without one they are refused."),
    model: Optional[Path] = typer.Option(None, "--model", help="Run folder or model file: enables /api/predict "
                                                             "and Grad-CAM thumbnails."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Origin allowed by CORS (repeatable); "
                                                                    "none by default."),
    scenes: list[Path] = typer.Option([], "--scenes", help="Extra folder the scene GeoTIFFs named in summary.json "
                                                           "may be read from (repeatable)."),
    device: str = typer.Option("auto", help="Device of --model: auto, cpu or cuda."),
    log_level: str = typer.Option("info", help="uvicorn log level: critical, error, warning, info, debug."),
) -> None:
    """Serve a single-page Leaflet map of lakes, changes, hazard and alerts, plus a JSON API (/openapi.json)."""
    from glofwatch.errors import ConfigError
    from glofwatch.webmap.app import create_app
    from glofwatch.webmap.server import check_port, is_loopback, serve

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise ConfigError(f"--log-level {log_level!r} is unknown; use critical, error, warning, info or debug")
    check_port(host, port)
    app = create_app(folder, token=token, model=model, cors_origins=tuple(cors_origin), scene_roots=tuple(scenes),
                     device=device)
    ctx = app.state.webmap
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"glofwatch web map of {ctx.layout.root}: {len(ctx.catalog.rows)} lakes, {len(ctx.imagery.views)} "
               f"scenes, {sum(a['active'] for a in ctx.catalog.alerts)} active alerts", err=True)
    for note in ctx.layout.notes:
        typer.echo(f"note: {note}", err=True)
    if ctx.token is None:
        typer.echo("writes disabled (no --token / GLOFWATCH_TOKEN): uploads and acknowledgements answer 403", err=True)
    if not is_loopback(host):
        typer.echo(f"warning: listening on {host}: anyone who can reach this machine can read the map", err=True)
    typer.echo(f"open http://{shown}:{port}/  (API schema: /openapi.json; Ctrl-C stops)", err=True)
    serve(app, host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``serve``."""
    app.command("serve")(serve_cmd)
