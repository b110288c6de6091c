"""The words of an alert: headline, description and instruction naming the lake and why.

The description cites the hazard score with its coverage and rank, the top
criteria from the risk breakdown (value against threshold), the change against
its uncertainty and any heatwave, so a reader can check the reasoning.
"""

from __future__ import annotations

import math
from typing import Any

from glofwatch.alerts.cap import CapMessage
from glofwatch.alerts.levels import LEVEL_MEANING, LakeLevel

INSTRUCTION = {
    "green": "No action needed.",
    "yellow": "Be aware: follow the bulletins of the flood warning service.",
    "orange": "Be prepared: know the way from the river banks to high ground and follow official instructions.",
    "red": "Keep away from the river channel below the lake and be ready to move to high ground when told.",
}
DRAINED_INSTRUCTION = (
    "Move away from the river channel below the lake to high ground now and follow official instructions."
)


def lake_name(row: dict[str, Any]) -> str:
    """``glacial lake <name or id>``."""
    name = row.get("name") or row.get("lake_name")
    if isinstance(name, str) and name.strip():
        return f"glacial lake {name.strip()} (id {int(row['lake_id'])})"
    return f"glacial lake {int(row['lake_id'])}"


def area_desc(row: dict[str, Any]) -> str:
    """CAP areaDesc: the lake and where it lies."""
    lat, lon = float(row.get("centroid_lat", math.nan)), float(row.get("centroid_lon", math.nan))
    where = ""
    if math.isfinite(lat) and math.isfinite(lon):
        where = f" at {abs(lat):.4f} {'N' if lat >= 0 else 'S'}, {abs(lon):.4f} {'E' if lon >= 0 else 'W'}"
    return f"{lake_name(row).capitalize()}{where}"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def criterion_text(result: dict[str, Any]) -> str:
    """One criterion of the breakdown in words, e.g. ``glacier distance 120 m < 500 m``."""
    name = str(result["name"]).replace("_", " ")
    unit = result.get("unit") or ""
    value = result.get("value")
    if result.get("classes") is not None:
        return f"{name} {value}"
    if value is None:
        return f"{name}: {result.get('note') or 'none'}"
    text = f"{name} {_number(value)} {unit} {result.get('op')} {_number(result.get('threshold'))} {unit}"
    return " ".join(text.split())


def top_criteria(lake: dict[str, Any] | None, n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` criteria of a lake's breakdown with the largest positive contributions."""
    if not lake:
        return []
    scored = [c for c in lake.get("criteria", []) if c.get("status") != "unknown" and (c.get("contribution") or 0) > 0]
    return sorted(scored, key=lambda c: (-c["contribution"], c["name"]))[:n]


def describe(row: dict[str, Any], level: LakeLevel, lake: dict[str, Any] | None, n_lakes: int) -> tuple[str, str, str]:
    """(headline, description, instruction) of an Alert or Update about one lake."""
    name = lake_name(row)
    if level.drained:
        headline = f"RED: {name} has drained, possible outburst flood downstream"
    else:
        headline = f"{level.level.upper()}: {LEVEL_MEANING[level.level]} GLOF hazard at {name}"
    parts = []
    area = row.get("area_last_km2")
    if isinstance(area, (int, float)) and math.isfinite(area):
        parts.append(f"{name.capitalize()} ({area:.3f} km2 on {row.get('last_date')}).")
    if math.isfinite(level.hazard_score):
        rank = f", rank {int(row['rank'])} of {n_lakes} tracked lakes" if row.get("rank") else ""
        parts.append(f"Hazard score {level.hazard_score:.2f} of 1, {level.score_level} ({level.coverage:.0%} of the "
                     f"criterion weight known{rank}).")
    top = top_criteria(lake)
    if top:
        parts.append("Top criteria: " + "; ".join(criterion_text(c) for c in top) + ".")
    reasons = level.reasons[1:] if math.isfinite(level.hazard_score) else level.reasons  # the score is said above
    parts.extend(reason[0].upper() + reason[1:] + "." for reason in reasons)
    instruction = DRAINED_INSTRUCTION if level.drained else INSTRUCTION[level.level]
    return headline[:160], " ".join(parts), instruction


def cancel_texts(previous: dict[str, Any], reason: str) -> tuple[str, str]:
    """(headline, description) of a Cancel of the earlier message ``previous``."""
    lake = f"glacial lake {previous.get('lake_id')}"
    headline = f"CANCELLED: {str(previous.get('level', '')).upper()} GLOF alert for {lake}"
    description = (f"The {previous.get('level')} alert {previous.get('identifier')} of {previous.get('sent')} "
                   f"for {lake} is cancelled: {reason}.")
    return headline[:160], description


def parameters(level: LakeLevel, criteria_hash: str) -> dict[str, str]:
    """CAP parameters: lake_id, hazard_score, level, coverage, criteria_hash."""
    score = f"{level.hazard_score:.3f}" if math.isfinite(level.hazard_score) else "unknown"
    return {"lake_id": str(level.lake_id), "hazard_score": score, "level": level.level,
            "coverage": f"{level.coverage:.2f}", "criteria_hash": criteria_hash}


def cancel_message(previous: dict[str, Any], reason: str, identifier: str, sent: str, sender: str,
                   status: str, level: LakeLevel | None) -> CapMessage:
    """A Cancel of ``previous`` (the last message's dict), in the earlier alert's area."""
    headline, description = cancel_texts(previous, reason)
    params = dict(previous.get("parameters") or {})
    if level is not None:
        params.update(level=level.level, hazard_score=f"{level.hazard_score:.3f}"
                      if math.isfinite(level.hazard_score) else "unknown")
    return CapMessage(
        identifier=identifier, sender=sender, sent=sent, status=status, msg_type="Cancel",
        references=f"{previous['sender']},{previous['identifier']},{previous['sent']}",
        lake_id=int(previous["lake_id"]), level=level.level if level is not None else str(previous.get("level")),
        event=str(previous.get("event")), urgency="Past", severity="Minor", certainty="Observed",
        response_types=["AllClear"], headline=headline, description=description, instruction="No action needed.",
        area_desc=str(previous.get("area_desc")), polygon=str(previous.get("polygon")), parameters=params,
        note=f"Cancel: {reason}",
    )  # fmt: skip
