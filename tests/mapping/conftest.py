"""Fixtures shared by the mapping tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cloudy_scene(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A 256 px synthetic L2A scene with 30 % cloud, its SCL, DEM and truth (seed 5)."""
    from glofwatch.scene.synth import write_synthetic_scene

    return write_synthetic_scene(tmp_path_factory.mktemp("cloudy"), size=256, seed=5, cloud_cover=0.3, scl=True)
