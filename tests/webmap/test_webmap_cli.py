"""``glofwatch serve`` as a command (one-line errors, a real server process) and ``glofwatch bench serve``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from typer.testing import CliRunner

from glofwatch.bench.serve import MIX
from glofwatch.cli.app import app
from glofwatch.webmap.server import free_port


def test_serve_errors_are_one_line(tmp_path: Path, served: Path, vendor_ready) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["serve", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and res.output.strip().startswith("error:") and "not a folder" in res.output
    res = runner.invoke(app, ["serve", str(served), "--port", "70000"])
    assert res.exit_code == 2 and "1..65535" in res.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = runner.invoke(app, ["serve", str(served), "--port", str(port)])
    assert res.exit_code == 2 and "cannot listen" in res.output and "--port" in res.output


def test_serve_runs_a_loopback_server(served: Path, vendor_ready) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GLOFWATCH_TOKEN"}
    cmd = [sys.executable, "-m", "glofwatch.cli.app", "serve", str(served), "--port", str(port),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        info = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                info = httpx2.get(f"http://127.0.0.1:{port}/api/info", timeout=2, trust_env=False).json()
                break
            except httpx2.HTTPError:
                time.sleep(0.1)
        assert info is not None and info["n_lakes"] == 5 and info["writes_enabled"] is False
        page = httpx2.get(f"http://127.0.0.1:{port}/", trust_env=False)
        assert page.status_code == 200 and "leaflet.js" in page.text
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
    assert f"open http://127.0.0.1:{port}/" in out and "5 lakes" in out and "writes disabled" in out


def test_bench_serve_small(tmp_path: Path, vendor_ready) -> None:
    out = tmp_path / "bench"
    res = CliRunner().invoke(app, ["bench", "serve", "--out", str(out), "--requests", "60", "--connections", "3",
                                   "--lakes", "80", "--dates", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "serve.json").read_text())
    overall = doc["overall"]
    assert overall["requests"] == 60 and overall["errors"] == 0
    assert 0 < overall["p50_ms"] <= overall["p95_ms"] <= overall["max_ms"] and overall["requests_per_s"] > 0
    assert doc["server"]["lakes"] == 80 and doc["server"]["dates"] == 2 and doc["load"]["connections"] == 3
    assert set(doc["by_call"]) <= {name for name, _ in MIX}
    assert sum(v["requests"] for v in doc["by_call"].values()) == 60
    md = (out / "serve.md").read_text()
    assert "requests/s" in md and "| lakes_bbox |" in md
    assert json.loads((out / "data" / "bench.json").read_text()) == {"lakes": 80, "dates": 2, "seed": 0}
