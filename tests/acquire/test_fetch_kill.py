"""A fetch killed with SIGKILL after its first date resumes to the files of an uninterrupted fetch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio

pytestmark = pytest.mark.fault

# fetch with its COG writer wrapped: the process kills itself right after the first date is written
KILL_AFTER_FIRST = textwrap.dedent("""
    import os, signal, sys
    import glofwatch.scene.acquire as acquire
    real = acquire.write_date_cog
    def write(*args, **kwargs):
        result = real(*args, **kwargs)
        if os.environ.get("KILL_AFTER_FIRST") == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    acquire.write_date_cog = write
    w, s, e, n = map(float, sys.argv[3:7])
    acquire.fetch((w, s, e, n), "2023-10-01", "2023-10-31", sys.argv[2], catalog=sys.argv[1], max_cloud=100,
                  timeout_s=10)
""")


def run_fetch(loopback, out: Path, kill: bool) -> subprocess.CompletedProcess:  # noqa: ANN001
    """Fetch in a child process (this process's GDAL HTTP cache stays cold for the other tests)."""
    return subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST, loopback.api, str(out), *map(str, loopback.bbox)],
                          capture_output=True, text=True, env={**os.environ, "KILL_AFTER_FIRST": "1" if kill else "0"})


def test_fetch_killed_after_a_date_resumes_to_the_same_files(loopback, tmp_path: Path) -> None:  # noqa: ANN001
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert run_fetch(loopback, ref, kill=False).returncode == 0
    killed = run_fetch(loopback, out, kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    first = sorted(out.glob("*.tif"))
    assert len(first) == 1 and not (out / "items.json").exists()  # one date written, the run not finished
    resumed = run_fetch(loopback, out, kill=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    names = sorted(p.name for p in ref.glob("*.tif"))
    assert names == sorted(p.name for p in out.glob("*.tif")) and len(names) >= 2
    for name in names:
        with rasterio.open(ref / name) as a, rasterio.open(out / name) as b:
            assert a.crs == b.crs and a.transform == b.transform
            np.testing.assert_array_equal(a.read(), b.read())
    assert not list(out.glob(".*.tmp-*"))
