"""Run the web map with uvicorn: in the foreground (``glofwatch serve``) or in a thread (tests, benchmarks).

The default host is the loopback address. A host that is not a loopback
address makes the map readable from the network; without a token nothing can
be written, but say so in the log.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from typing import Any

from glofwatch.errors import ConfigError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """Raise a one-line :class:`ConfigError` when ``host:port`` cannot be listened on."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} must be within 1..65535, e.g. --port 8000")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port "
                              "or --host") from None


def _config(app: Any, host: str, port: int, log_level: str, access_log: bool) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log,
                          proxy_headers=False, server_header=False, timeout_keep_alive=30)


def serve(app: Any, host: str = LOOPBACK, port: int = 8000, log_level: str = "info", access_log: bool = True) -> None:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    import uvicorn

    check_port(host, port)
    if not is_loopback(host):
        log.warning("listening on %s: anyone who can reach this machine can read the map", host)
    uvicorn.Server(_config(app, host, port, log_level, access_log)).run()


class ThreadedServer:
    """uvicorn in a background thread, on loopback and a free port; a context manager.

    Example:
        >>> with ThreadedServer(app) as server:        # doctest: +SKIP
        ...     httpx2.get(server.url + "/api/info")

    Args:
        app: the ASGI app.
        host: address to listen on.
        port: port (default: a free one).
        start_timeout_s: how long to wait for the server to accept connections.
    """

    def __init__(self, app: Any, host: str = LOOPBACK, port: int | None = None, start_timeout_s: float = 30.0) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(_config(app, self.host, self.port, "warning", False))
        self.thread = threading.Thread(target=self.server.run, name="glofwatch-webmap", daemon=True)
        self.start_timeout_s = start_timeout_s

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53211``."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise RuntimeError(f"the web map server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
