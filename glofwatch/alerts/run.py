"""``glofwatch alerts``: alert levels and CAP 1.2 messages from a risk folder.

:func:`issue_alerts` reads ``RISK_DIR`` (``risk.gpkg`` layer ``lakes``,
``breakdown.json``, ``risk.json``), assesses every lake
(:mod:`glofwatch.alerts.levels`), compares with the alert history in
``OUT/state.json`` (:mod:`glofwatch.alerts.state`) and writes into ``OUT``:

- ``cap/<identifier>.xml``: one CAP 1.2 message per new or changed alert
  (Alert, Update or Cancel; Update and Cancel reference the earlier message);
- ``alerts.json``: the run settings, the identifiers sent in this run, and every
  alert in force plus this run's cancels, in JSON form (CapMessage fields);
- ``alerts.csv``: one row per tracked lake with its level and latest message;
- ``state.json``: the alert history, written last.

A second run on the same inputs sends no message.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.alerts.cap import STATUSES, CapMessage, cap_polygon, check_sender, format_sent, to_xml
from glofwatch.alerts.levels import LakeLevel, LevelRules, assess_lake, check_level
from glofwatch.alerts.messages import area_desc, cancel_message, describe, parameters
from glofwatch.alerts.state import Decision, LakeState, decide, load_state, save_state
from glofwatch.alerts.weather import area_names, heat_anomalies, read_weather
from glofwatch.errors import ConfigError, InputError
from glofwatch.io.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from glofwatch.registry import close_matches_hint

CSV_COLUMNS = (
    "lake_id", "level", "score_level", "hazard_score", "coverage", "status", "change_km2", "change_uncertainty_km2",
    "change_ratio", "change_significant", "raised_by_change", "mean_prob", "heat_anomaly_c", "urgency", "severity",
    "certainty", "in_force", "msg_type", "identifier", "sent", "cap_file", "new_message",
)  # fmt: skip


@dataclass
class AlertRun:
    """What :func:`issue_alerts` decided and wrote.

    Attributes:
        out_dir: the alerts folder.
        levels: lake_id -> assessment, for every tracked lake.
        messages: the CAP messages sent in this run.
        in_force: lake_id -> last message of every alert in force after this run.
        files: files written in this run.
    """

    out_dir: Path
    levels: dict[int, LakeLevel]
    messages: list[CapMessage] = field(default_factory=list)
    in_force: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def read_risk(risk_dir: str | Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Read ``risk.gpkg`` (layer ``lakes``), ``breakdown.json`` and ``risk.json`` of a risk folder."""
    import geopandas as gpd

    risk_dir = Path(risk_dir)
    gpkg = risk_dir / "risk.gpkg"
    for path in (gpkg, risk_dir / "breakdown.json", risk_dir / "risk.json"):
        if not path.is_file():
            raise InputError(f"{path}: not found; give the folder written by `glofwatch risk`")
    lakes = gpd.read_file(gpkg, layer="lakes", engine="pyogrio")
    if lakes.crs is None:
        raise InputError(f"{gpkg}: layer 'lakes' has no CRS; rerun `glofwatch risk`")
    needed = ("lake_id", "hazard_score", "coverage", "rank", "status", "change_km2", "change_uncertainty_km2",
              "mean_prob", "centroid_lon", "centroid_lat")
    missing = [c for c in needed if c not in lakes.columns]
    if missing:
        raise InputError(f"{gpkg}: layer 'lakes' lacks column(s) {', '.join(missing)}; rerun `glofwatch risk`")
    try:
        breakdown = json.loads((risk_dir / "breakdown.json").read_text(encoding="utf-8"))
        meta = json.loads((risk_dir / "risk.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{risk_dir}: breakdown.json or risk.json is not valid JSON ({exc.msg}); rerun "
                         "`glofwatch risk`") from None
    return lakes, breakdown, meta


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "-", text).strip("-") or "glofwatch"


def issue_alerts(
    risk_dir: str | Path,
    out_dir: str | Path,
    min_level: str = "yellow",
    sender: str = "glofwatch",
    status: str = "Actual",
    weather: str | Path | None = None,
    rules: LevelRules | None = None,
    sent: dt.datetime | None = None,
) -> AlertRun:
    """Assess every lake of a risk folder and send the CAP messages its changes need (see the module docs).

    Args:
        risk_dir: folder written by ``glofwatch risk``.
        out_dir: alerts folder; keeps ``state.json`` between runs.
        min_level: lowest level that is alerted (green, yellow, orange or red).
        sender: CAP sender id (no spaces, commas, ``<`` or ``&``).
        status: CAP status: Actual, Exercise, System, Test or Draft.
        weather: CSV of daily air-temperature anomalies (date, area_or_lake, anomaly_c).
        rules: level thresholds (default :class:`LevelRules`).
        sent: the time of the messages (default now, UTC).

    Returns:
        The :class:`AlertRun`.
    """
    check_level(min_level, "min-level")
    check_sender(sender)
    if status not in STATUSES:
        raise ConfigError(f"unknown CAP status '{status}'{close_matches_hint(status, list(STATUSES))}; use one of "
                          f"{', '.join(STATUSES)}")
    rules = rules or LevelRules()
    sent_text = format_sent(sent or dt.datetime.now(dt.UTC))
    lakes, breakdown, meta = read_risk(risk_dir)
    rows = {int(r["lake_id"]): r for r in lakes.drop(columns="geometry").to_dict("records")}
    geoms = dict(zip((int(v) for v in lakes["lake_id"]), lakes.geometry, strict=True))
    heat = {lake: math.nan for lake in rows}
    if weather is not None:
        heat = heat_anomalies(read_weather(weather), list(rows), area_names(meta.get("monitor") or {}))
    levels = {lake: assess_lake(row, rules, heat[lake], remnant_of(row, rows)) for lake, row in rows.items()}

    out_dir = Path(out_dir)
    state_path = out_dir / "state.json"
    states = load_state(state_path)
    criteria_hash = str(breakdown.get("criteria_hash", ""))
    run = AlertRun(out_dir=out_dir, levels=levels)
    cancels: list[CapMessage] = []
    for decision in decide(levels, states, min_level):
        before = states.get(decision.lake_id)
        seq = (before.seq if before else 0) + 1
        stamp = sent_text[:19].replace("-", "").replace(":", "")
        identifier = f"{_slug(sender)}.glof.lake{decision.lake_id}.{seq}.{stamp}"
        level = levels.get(decision.lake_id)
        if decision.msg_type == "Cancel":
            assert before is not None
            msg = cancel_message(before.message, decision.reason, identifier, sent_text, sender, status, level)
            cancels.append(msg)
        else:
            assert level is not None
            msg = _alert_message(decision, rows[decision.lake_id], geoms[decision.lake_id], lakes.crs, level,
                                 breakdown, identifier, sent_text, sender, status, criteria_hash)
        msg.cap_file = f"cap/{identifier}.xml"
        run.files.append(write_bytes_atomic(out_dir / msg.cap_file, to_xml(msg)))
        run.messages.append(msg)
        states[decision.lake_id] = LakeState(
            lake_id=decision.lake_id, active=decision.msg_type != "Cancel", seq=seq, level=msg.level,
            urgency=msg.urgency if decision.msg_type != "Cancel" else "Past", message=msg.as_dict(),
        )  # fmt: skip
    run.in_force = {k: s.message for k, s in sorted(states.items()) if s.active}
    new_ids = {m.identifier for m in run.messages}
    alerts = [dict(m, new=m["identifier"] in new_ids) for m in run.in_force.values()]
    alerts += [dict(m.as_dict(), new=True) for m in cancels]
    run.files.append(write_json_atomic(out_dir / "alerts.json", {
        "generated": sent_text, "risk_dir": str(risk_dir), "sender": sender, "status": status,
        "min_level": min_level, "rules": asdict(rules), "criteria_hash": criteria_hash,
        "new_messages": [m.identifier for m in run.messages], "alerts": alerts,
    }))  # fmt: skip
    run.files.append(_write_csv(out_dir / "alerts.csv", levels, states, new_ids))
    if run.messages or not state_path.exists():
        run.files.append(save_state(state_path, states))
    return run


def _alert_message(decision: Decision, row: dict[str, Any], geom: Any, crs: Any, level: LakeLevel,
                   breakdown: dict[str, Any], identifier: str, sent: str, sender: str, status: str,
                   criteria_hash: str) -> CapMessage:
    lake = (breakdown.get("lakes") or {}).get(str(decision.lake_id))
    polygon = ""
    if geom is not None and not geom.is_empty:
        polygon = cap_polygon(geom, crs)
    elif math.isfinite(float(row["centroid_lon"])) and math.isfinite(float(row["centroid_lat"])):
        from shapely.geometry import Point  # no outline: a circle around the track's centroid

        polygon = cap_polygon(Point(float(row["centroid_lon"]), float(row["centroid_lat"])), "EPSG:4326")
    headline, description, instruction = describe(row, level, lake, len(breakdown.get("lakes") or {}))
    previous = decision.previous.message if decision.msg_type == "Update" and decision.previous else None
    return CapMessage(
        identifier=identifier, sender=sender, sent=sent, status=status, msg_type=decision.msg_type,
        references=f"{previous['sender']},{previous['identifier']},{previous['sent']}" if previous else None,
        lake_id=level.lake_id, level=level.level, event=level.event, urgency=level.urgency, severity=level.severity,
        certainty=level.certainty, response_types=level.response_types, headline=headline, description=description,
        instruction=instruction, area_desc=area_desc(row), polygon=polygon,
        parameters=parameters(level, criteria_hash),
        note=f"Update: {decision.reason}" if decision.msg_type == "Update" else "",
    )  # fmt: skip


def _write_csv(path: Path, levels: dict[int, LakeLevel], states: dict[int, LakeState], new_ids: set[str]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for lake_id, level in sorted(levels.items()):
        state = states.get(lake_id)
        last = state.message if state else {}
        row = level.as_dict()
        row.update(
            in_force=bool(state and state.active), msg_type=last.get("msg_type", ""),
            identifier=last.get("identifier", ""), sent=last.get("sent", ""), cap_file=last.get("cap_file", ""),
            new_message=last.get("identifier") in new_ids,
        )  # fmt: skip
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return write_text_atomic(path, buffer.getvalue())


def remnant_of(row: dict[str, Any], rows: dict[int, dict[str, Any]]) -> int | None:
    """The drained lake a ``drained`` lake is a remnant of (its ``parent_id``, when that lake drained), else None.

    Example:
        >>> rows = {1: {"status": "drained"}, 2: {"status": "drained", "parent_id": 1},
        ...         3: {"status": "drained", "parent_id": 9}, 4: {"status": "split", "parent_id": 1}}
        >>> [remnant_of(rows[k], rows) for k in (1, 2, 3, 4)]
        [None, 1, None, None]
    """
    parent = row.get("parent_id")
    if row.get("status") != "drained" or parent is None or (isinstance(parent, float) and math.isnan(parent)):
        return None
    try:
        parent = int(parent)
    except (TypeError, ValueError):
        return None
    return parent if rows.get(parent, {}).get("status") == "drained" else None
