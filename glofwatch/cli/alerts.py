"""``glofwatch alerts``: alert levels and CAP 1.2 messages from a risk folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer


def alerts_cmd(
    risk_dir: Path = typer.Argument(...,
        help="Folder written by `glofwatch risk` (risk.gpkg, breakdown.json, risk.json)."),
    out: Path = typer.Option(..., "--out", "-o",
        help="Alerts folder: cap/*.xml, alerts.json, alerts.csv, state.json (kept between runs)."),
    min_level: str = typer.Option("yellow", "--min-level", help="Lowest level alerted: green, yellow, orange or red."),
    sender: str = typer.Option("glofwatch", "--sender",
        help="CAP sender id, e.g. glofwatch@dhm.gov.np (no spaces or commas)."),
    weather: Optional[Path] = typer.Option(None, "--weather",
        help="CSV of daily air-temperature anomalies: date, area_or_lake, anomaly_c."),
    status: str = typer.Option("Actual", "--status", help="CAP status: Actual, Exercise or Test (also System, Draft)."),
    thresholds: str = typer.Option("0.3,0.5,0.7", "--thresholds",
        help="Hazard scores from which a lake is yellow,orange,red."),
    k: float = typer.Option(2.0, "--k", help="A change raises the level only when it exceeds k x its uncertainty."),
    low_prob: float = typer.Option(0.7, "--low-prob", help="Mapping probability below which certainty drops one step."),
    heat_c: float = typer.Option(5.0, "--heat-c",
        help="Air-temperature anomaly (deg C) from which urgency rises one step."),
    sent: Optional[str] = typer.Option(None, "--sent",
        help="Time of the messages, ISO 8601 (default: now, UTC); for replays."),
) -> None:
    """Turn hazard scores and lake changes into green/yellow/orange/red levels and CAP 1.2 alerts."""
    import datetime as dt

    from rich.console import Console

    from glofwatch.alerts.levels import LevelRules
    from glofwatch.alerts.run import issue_alerts
    from glofwatch.errors import ConfigError

    when = None
    if sent is not None:
        try:
            when = dt.datetime.fromisoformat(sent.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"--sent '{sent}' is not an ISO 8601 time, e.g. 2024-09-01T06:00:00+00:00") from None
    rules = LevelRules.from_text(thresholds, k=k, low_prob=low_prob, heat_c=heat_c)
    run = issue_alerts(risk_dir, out, min_level=min_level, sender=sender, status=status, weather=weather,
                       rules=rules, sent=when)
    Console().print(alert_table(run))
    Console(stderr=True).print(f"wrote {len(run.messages)} CAP message(s) to {out / 'cap'}")


def alert_table(run: Any) -> Any:
    """A rich table of the alerts in force and of this run's messages, most severe first."""
    import math

    from rich.table import Table

    from glofwatch.alerts.levels import LEVELS

    table = Table(title=f"GLOF alerts: {len(run.in_force)} in force, {len(run.messages)} new message(s)")
    for col in ("lake", "level", "score", "status", "urgency", "certainty", "message"):
        table.add_column(col, justify="right" if col in ("lake", "score") else "left")
    sent_now = {m.lake_id: m.msg_type for m in run.messages}
    for lake_id, level in sorted(run.levels.items(), key=lambda kv: (-LEVELS.index(kv[1].level), kv[0])):
        if lake_id not in run.in_force and lake_id not in sent_now:
            continue
        score = "n/a" if math.isnan(level.hazard_score) else f"{level.hazard_score:.2f}"
        table.add_row(str(lake_id), level.level, score, level.status, level.urgency, level.certainty,
                      sent_now.get(lake_id, "-"))
    return table


def register(app: typer.Typer) -> None:
    """Add ``alerts`` to the root app."""
    app.command("alerts")(alerts_cmd)
