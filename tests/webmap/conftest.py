"""Fixtures of the web map tests: the tiny served folder, apps and clients on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from webmap_fixtures import TOKEN, write_served


@pytest.fixture(scope="session")
def vendor_ready() -> None:
    """Fail (not skip) when Leaflet's files were not fetched: the map cannot be served without them."""
    from glofwatch.webmap.app import STATIC_DIR, VENDOR_FILES

    missing = [f for f in VENDOR_FILES if not (STATIC_DIR / f).is_file()]
    if missing:
        pytest.fail(f"Leaflet is missing ({missing[0]}); run `bash glofwatch/webmap/fetch_assets.sh`")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full served folder of :mod:`webmap_fixtures` (maps, monitor, risk, alerts), written once."""
    return write_served(tmp_path_factory.mktemp("served"))


@pytest.fixture()
def served_copy(served: Path, tmp_path: Path) -> Path:
    """A private copy of the served folder, for tests that write into it (acknowledgements)."""
    import shutil

    return Path(shutil.copytree(served, tmp_path / "served", symlinks=True))


@pytest.fixture(scope="session")
def app(served: Path, vendor_ready: None):
    """The app on the served folder, with a token, no model."""
    from glofwatch.webmap.app import create_app

    return create_app(served, token=TOKEN)


@pytest.fixture()
def client(app):
    """A TestClient of :func:`app` that answers server errors instead of raising them."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
