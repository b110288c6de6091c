"""``glofwatch risk`` then ``glofwatch alerts`` end to end through the root Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import xmlschema
from alerts_fixtures import cap_xsd, lake, write_monitor
from typer.testing import CliRunner

from glofwatch.cli.app import app


def test_monitor_to_risk_to_cap_alerts_and_an_idempotent_rerun(tmp_path: Path) -> None:
    monitor = write_monitor(tmp_path / "monitor", [
        lake(1, 0.0, area_last_km2=0.3, growth_pct_per_year=2.0, dam_type="M(e)"),  # every known criterion met
        lake(2, 0.0, area_last_km2=0.01, dam_type="B"),  # none met
        lake(3, 0.0, area_last_km2=0.01, status="drained", change_km2=-0.02),
    ])  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, ["risk", str(monitor), "--out", str(tmp_path / "risk")])
    assert result.exit_code == 0, result.output
    args = ["alerts", str(tmp_path / "risk"), "--out", str(tmp_path / "alerts"), "--min-level", "yellow",
            "--sender", "dhm@example.org", "--status", "Test", "--sent", "2024-09-02T06:00:00+00:00"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "alerts" / "alerts.json").read_text())
    assert [(a["lake_id"], a["level"], a["msg_type"], a["urgency"]) for a in data["alerts"]] == [
        (1, "red", "Alert", "Expected"), (3, "red", "Alert", "Immediate")]
    schema = xmlschema.XMLSchema(str(cap_xsd()))
    files = sorted((tmp_path / "alerts" / "cap").glob("*.xml"))
    assert len(files) == 2
    for path in files:
        schema.validate(str(path))
        assert "<status>Test</status>" in path.read_text()

    result = runner.invoke(app, args[:-1] + ["2024-09-03T06:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert "wrote 0 CAP message(s)" in result.output
    assert sorted((tmp_path / "alerts" / "cap").glob("*.xml")) == files


def test_alerts_command_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["alerts", str(tmp_path), "--out", str(tmp_path / "a"), "--min-level", "yelow"])
    assert result.exit_code == 2
    assert "error: unknown min-level 'yelow'; did you mean 'yellow'?" in result.output
    result = CliRunner().invoke(app, ["alerts", str(tmp_path), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "risk.gpkg: not found" in result.output
