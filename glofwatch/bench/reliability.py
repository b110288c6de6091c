"""``glofwatch bench reliability``: the reliability figures, measured by running the reliability tests.

The proof of reliability is the test suite: bad inputs fed to the real CLI, runs killed with
SIGKILL and resumed, the web API fuzzed and loaded. This benchmark runs those tests from a
source checkout (they are not installed with the package) and counts, from pytest's own
report, what was tried and what failed:

* ``inputs tried``: cases marked ``bad_input`` (each one bad file or setting);
* ``faults injected``: cases marked ``fault`` (each one kill or dead worker);
* ``requests served``: requests of the loopback load test (``bench serve``) when the web map
  is installed, plus the cases marked ``server``;
* ``failures``: failed or erroring cases, by kind;
* ``data lost``: fault cases whose resumed run did not reproduce the uninterrupted one
  (every fault test compares them), which must be zero.
"""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from glofwatch.errors import ConfigError

KINDS = ("bad_input", "fault", "server")


def tests_root() -> Path:
    """The ``tests/`` folder of the source checkout this package runs from."""
    root = Path(__file__).resolve().parents[2] / "tests"
    if not (root / "conftest.py").is_file():
        raise ConfigError(f"{root}: no test suite here; run `glofwatch bench reliability` from a source checkout "
                          "(git clone, then make install)")
    return root


def _collect(root: Path, marker: str) -> list[str]:
    """Node ids of the tests carrying ``marker``."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-m", marker, str(root)], capture_output=True, text=True, cwd=root.parent)
    return [ln.strip() for ln in proc.stdout.splitlines() if "::" in ln]


def _junit_outcomes(path: Path) -> dict[str, str]:
    """pytest node id (``tests/x/test_y.py::test_z[param]``) -> passed / failed / skipped, from JUnit XML."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        cls = case.get("classname", "").replace(".", "/")
        nodeid = f"{cls}.py::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        out[nodeid] = outcome
    return out


def run_reliability(out_dir: str | Path, serve_requests: int = 2000) -> dict[str, Any]:
    """Run the reliability tests (and the web load test when available); write reliability.json/.md.

    Args:
        out_dir: output folder.
        serve_requests: requests of the loopback load test (0: skip it).

    Returns:
        The report.
    """
    from glofwatch.bench import machine_info, markdown_table, write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = tests_root()
    by_kind = {k: _collect(root, k) for k in KINDS}
    every = sorted({n for ids in by_kind.values() for n in ids})
    junit = out / "junit.xml"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
                           " or ".join(KINDS), f"--junitxml={junit}", str(root)], capture_output=True, text=True,
                          cwd=root.parent)
    seconds = time.perf_counter() - t0
    outcomes = _junit_outcomes(junit) if junit.is_file() else {}

    counts = {}
    for kind, ids in by_kind.items():
        results = [outcomes.get(n, "failed") for n in ids]  # a case missing from the report did not pass
        counts[kind] = {"cases": len(ids), "failed": results.count("failed"), "skipped": results.count("skipped")}
    requests = {"served": 0, "errors": 0}
    if serve_requests:
        from glofwatch.bench.serve import bench_serve

        overall = bench_serve(out / "serve", requests=serve_requests)["overall"]
        requests = {"served": int(overall["requests"]), "errors": int(overall["errors"])}
    doc = {
        "machine": machine_info(),
        "seconds": round(seconds, 1),
        "pytest_exit_status": proc.returncode,
        "inputs_tried": counts["bad_input"]["cases"],
        "faults_injected": counts["fault"]["cases"],
        "server_cases": counts["server"]["cases"],
        "requests_served": requests["served"] + counts["server"]["cases"],
        "request_errors": requests["errors"],
        "failures": sum(c["failed"] for c in counts.values()) + requests["errors"],
        "data_lost": counts["fault"]["failed"],
        "by_kind": counts,
        "cases": every,
    }
    rows = [["inputs tried (bad files and settings)", doc["inputs_tried"], counts["bad_input"]["failed"]],
            ["faults injected (SIGKILL, dead workers)", doc["faults_injected"], counts["fault"]["failed"]],
            ["requests served (load test + API cases)", doc["requests_served"],
             requests["errors"] + counts["server"]["failed"]]]
    md = (markdown_table(["what", "count", "failed"], rows)
          + f"\n\ndata lost: {doc['data_lost']} (fault runs whose resumed result differed from an uninterrupted run)"
          + f"\n\n{len(every)} test cases in {seconds:.0f} s; pytest exit status {proc.returncode}")
    write_report(out, "reliability", doc, md)
    return doc
