"""What was sent before, kept in ``DIR/state.json``, and which message each lake needs now.

Per lake the state holds whether an alert is in force, the level and urgency
it was sent with, the message count and the last message itself. Comparing it
with the new assessment gives one decision per lake:

- no alert in force and the level at or above ``min_level``: **Alert**;
- an alert in force and the level or urgency changed, still at or above
  ``min_level``: **Update**, referencing the last message;
- an alert in force and the level now below ``min_level``, or the lake no
  longer tracked: **Cancel**, referencing the last message;
- otherwise nothing, so a second run on the same risk sends no message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glofwatch.alerts.levels import LakeLevel, level_index
from glofwatch.errors import InputError
from glofwatch.io.atomic import write_json_atomic

STATE_VERSION = 1


@dataclass
class LakeState:
    """The alert history of one lake.

    Attributes:
        lake_id: the lake.
        active: an alert is in force (sent and not cancelled).
        seq: messages sent about this lake so far.
        level: level of the last message.
        urgency: urgency of the last message.
        message: the last message as in ``alerts.json`` (CapMessage fields).
    """

    lake_id: int
    active: bool
    seq: int
    level: str
    urgency: str
    message: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """``sender,identifier,sent`` of the last message."""
        m = self.message
        return f"{m['sender']},{m['identifier']},{m['sent']}"


@dataclass
class Decision:
    """The message a lake needs now.

    Attributes:
        lake_id: the lake.
        msg_type: "Alert", "Update" or "Cancel".
        previous: its state before this run (None for a first Alert).
        reason: why, in words (goes to the CAP note).
    """

    lake_id: int
    msg_type: str
    previous: LakeState | None
    reason: str


def load_state(path: str | Path) -> dict[int, LakeState]:
    """Read ``state.json`` (an empty state when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lakes = data["lakes"]
        return {int(k): LakeState(lake_id=int(k), active=bool(v["active"]), seq=int(v["seq"]), level=str(v["level"]),
                                  urgency=str(v["urgency"]), message=dict(v.get("message") or {}))
                for k, v in lakes.items()}  # fmt: skip
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise InputError(f"{path}: alert state is unreadable; move it away to start a fresh alert history") from None


def save_state(path: str | Path, states: dict[int, LakeState]) -> Path:
    """Write ``state.json`` atomically."""
    lakes = {
        str(k): {"active": s.active, "seq": s.seq, "level": s.level, "urgency": s.urgency, "message": s.message}
        for k, s in sorted(states.items())
    }
    return write_json_atomic(path, {"version": STATE_VERSION, "lakes": lakes})


def decide(levels: dict[int, LakeLevel], states: dict[int, LakeState], min_level: str) -> list[Decision]:
    """One :class:`Decision` per lake that needs a message (see the module docs), in lake order."""
    floor = level_index(min_level)
    decisions = []
    for lake_id in sorted(set(levels) | {k for k, s in states.items() if s.active}):
        now, before = levels.get(lake_id), states.get(lake_id)
        if now is None:
            decisions.append(Decision(lake_id, "Cancel", before, "the lake is no longer tracked"))
            continue
        in_force = level_index(now.level) >= floor
        if before is None or not before.active:
            if in_force:
                decisions.append(Decision(lake_id, "Alert", before, f"level {now.level}"))
            continue
        if not in_force:
            decisions.append(Decision(lake_id, "Cancel", before,
                                      f"level {now.level} is below the alerting level {min_level}"))
            continue
        what = [f"level {before.level} -> {now.level}"] if before.level != now.level else []
        if before.urgency != now.urgency:
            what.append(f"urgency {before.urgency} -> {now.urgency}")
        if what:
            decisions.append(Decision(lake_id, "Update", before, "; ".join(what)))
    return decisions
