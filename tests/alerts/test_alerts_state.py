"""Alert history across runs: Alert, then Update or Cancel with references; an idempotent rerun sends nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema
from alerts_fixtures import cap_xsd, lake, write_risk_dir

from glofwatch.alerts.run import issue_alerts
from glofwatch.errors import ConfigError

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
T1 = dt.datetime(2024, 9, 2, 6, 0, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2024, 9, 14, 6, 0, 0, tzinfo=dt.UTC)
T3 = dt.datetime(2024, 9, 26, 6, 0, 0, tzinfo=dt.UTC)


def xml(out: Path, cap_file: str) -> ET.Element:
    return ET.parse(out / cap_file).getroot()


def cap_files(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "cap").glob("*.xml"))


def test_first_run_alerts_lakes_at_or_above_min_level(tmp_path: Path) -> None:
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.35), lake(2, 0.6), lake(3, 0.1)])
    run = issue_alerts(risk, tmp_path / "alerts", min_level="yellow", sent=T1)
    assert [(m.lake_id, m.msg_type, m.level) for m in run.messages] == [(1, "Alert", "yellow"), (2, "Alert", "orange")]
    assert all(m.references is None for m in run.messages)
    data = json.loads((tmp_path / "alerts" / "alerts.json").read_text())
    assert data["new_messages"] == [m.identifier for m in run.messages]
    assert [a["lake_id"] for a in data["alerts"]] == [1, 2]
    rows = list(csv.DictReader((tmp_path / "alerts" / "alerts.csv").open()))
    assert [(r["lake_id"], r["level"], r["in_force"]) for r in rows] == [
        ("1", "yellow", "True"), ("2", "orange", "True"), ("3", "green", "False")]


def test_rerun_on_the_same_risk_writes_no_new_message(tmp_path: Path) -> None:
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.35), lake(2, 0.6)])
    out = tmp_path / "alerts"
    issue_alerts(risk, out, sent=T1)
    files, state = cap_files(out), (out / "state.json").read_text()
    again = issue_alerts(risk, out, sent=T2)
    assert again.messages == []
    assert cap_files(out) == files
    assert (out / "state.json").read_text() == state
    data = json.loads((out / "alerts.json").read_text())
    assert data["new_messages"] == [] and len(data["alerts"]) == 2 and not any(a["new"] for a in data["alerts"])


def test_update_and_cancel_reference_the_earlier_message(tmp_path: Path) -> None:
    out = tmp_path / "alerts"
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.35), lake(2, 0.6)])
    first = {m.lake_id: m for m in issue_alerts(risk, out, sender="dhm", sent=T1).messages}

    # lake 1 grows beyond its uncertainty (yellow -> orange); lake 2 drops to green (below min-level)
    write_risk_dir(risk, [lake(1, 0.35, change_km2=0.05, change_uncertainty_km2=0.01, status="growing"),
                          lake(2, 0.1)])
    second = {m.lake_id: m for m in issue_alerts(risk, out, sender="dhm", sent=T2).messages}
    assert (second[1].msg_type, second[1].level) == ("Update", "orange")
    assert second[1].references == f"dhm,{first[1].identifier},2024-09-02T06:00:00+00:00"
    assert (second[2].msg_type, second[2].references) == ("Cancel", f"dhm,{first[2].identifier},{first[2].sent}")
    schema = xmlschema.XMLSchema(str(cap_xsd()))
    for msg in second.values():
        schema.validate(str(out / msg.cap_file))
        root = xml(out, msg.cap_file)
        assert root.findtext("cap:msgType", namespaces=NS) == msg.msg_type
        assert root.findtext("cap:references", namespaces=NS) == msg.references
    cancel = xml(out, second[2].cap_file).find("cap:info", NS)
    assert [r.text for r in cancel.findall("cap:responseType", NS)] == ["AllClear"]

    data = json.loads((out / "alerts.json").read_text())
    in_json = [(a["lake_id"], a["msg_type"], a["new"]) for a in data["alerts"]]
    assert in_json == [(1, "Update", True), (2, "Cancel", True)]
    assert not issue_alerts(risk, out, sender="dhm", sent=T3).messages  # nothing changed since
    write_risk_dir(risk, [lake(1, 0.35), lake(2, 0.62)])  # lake 2 back above min-level: a fresh Alert
    third = {m.lake_id: m for m in issue_alerts(risk, out, sender="dhm", sent=T3).messages}
    assert (third[2].msg_type, third[2].references) == ("Alert", None)
    assert (third[1].msg_type, third[1].level) == ("Update", "yellow")  # the growth is no longer the latest change


def test_raising_min_level_cancels_and_a_vanished_track_is_cancelled(tmp_path: Path) -> None:
    out = tmp_path / "alerts"
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.35), lake(2, 0.6)])
    issue_alerts(risk, out, sent=T1)
    run = issue_alerts(risk, out, min_level="orange", sent=T2)
    assert [(m.lake_id, m.msg_type) for m in run.messages] == [(1, "Cancel")]
    write_risk_dir(risk, [lake(1, 0.35)])  # lake 2 is no longer tracked
    run = issue_alerts(risk, out, min_level="orange", sent=T3)
    assert [(m.lake_id, m.msg_type) for m in run.messages] == [(2, "Cancel")]
    assert "no longer tracked" in run.messages[0].description
    assert json.loads((out / "state.json").read_text())["lakes"]["2"]["active"] is False


def test_drained_lake_sends_a_red_immediate_alert(tmp_path: Path) -> None:
    risk = write_risk_dir(tmp_path / "risk", [lake(5, 0.05, status="drained", change_km2=-0.04)])
    run = issue_alerts(risk, tmp_path / "alerts", min_level="orange", sent=T1)
    (msg,) = run.messages
    info = xml(tmp_path / "alerts", msg.cap_file).find("cap:info", NS)
    assert (info.findtext("cap:urgency", namespaces=NS), info.findtext("cap:severity", namespaces=NS)) == (
        "Immediate", "Extreme")
    assert "drained" in info.findtext("cap:headline", namespaces=NS)
    assert "possible outburst flood" in info.findtext("cap:description", namespaces=NS)


def test_a_heatwave_updates_the_urgency(tmp_path: Path) -> None:
    out = tmp_path / "alerts"
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.35)])
    assert issue_alerts(risk, out, sent=T1).messages[0].urgency == "Future"
    temps = tmp_path / "temps.csv"
    temps.write_text("date,area_or_lake,anomaly_c\n2024-09-13,testvalley,6.5\n")
    (msg,) = issue_alerts(risk, out, weather=temps, sent=T2).messages
    assert (msg.msg_type, msg.urgency, msg.level) == ("Update", "Expected", "yellow")
    assert "Heatwave" in msg.description and "urgency Future -> Expected" in msg.note


def test_unknown_min_level_is_a_one_line_error(tmp_path: Path) -> None:
    risk = write_risk_dir(tmp_path / "risk", [lake(1, 0.35)])
    with pytest.raises(ConfigError, match="unknown min-level 'yelow'; did you mean 'yellow'"):
        issue_alerts(risk, tmp_path / "alerts", min_level="yelow")


def test_the_remnants_of_a_drained_lake_share_its_one_outburst_alert(tmp_path: Path) -> None:
    parent = lake(1, 0.2, status="drained", change_km2=-0.6, change_uncertainty_km2=0.04)
    remnant = lake(2, 0.2, status="drained", n_obs=1, change_km2=math.nan, change_uncertainty_km2=math.nan,
                   area_prev_km2=math.nan, parent_id=1)
    orphan = lake(3, 0.2, status="drained", n_obs=1, change_km2=math.nan, change_uncertainty_km2=math.nan,
                  area_prev_km2=math.nan, parent_id=9)  # its parent is not in the table: it alerts on its own
    run = issue_alerts(write_risk_dir(tmp_path / "risk", [parent, remnant, orphan]), tmp_path / "alerts",
                       min_level="orange", sent=T1)
    levels = run.levels
    assert (levels[1].level, levels[1].drained, levels[1].urgency) == ("red", True, "Immediate")
    assert (levels[2].level, levels[2].drained, levels[2].urgency) == ("green", False, "Future")
    assert any("a remnant of lake 1, which drained" in r for r in levels[2].reasons)
    assert (levels[3].level, levels[3].drained) == ("red", True)
    assert sorted(m.lake_id for m in run.messages) == [1, 3]
