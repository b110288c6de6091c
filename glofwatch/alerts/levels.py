"""Alert levels of a lake from its hazard score and its latest change, with CAP urgency, severity and certainty.

Four levels, as in the flood warnings of Nepal's Department of Hydrology and
Meteorology (DHM):

========  ==========  ============  ==================  ==========================
level     meaning     CAP severity  CAP urgency (base)  CAP responseType
========  ==========  ============  ==================  ==========================
green     low         Minor         Future              None
yellow    medium      Moderate      Future              Monitor
orange    high        Severe        Expected            Prepare, Monitor
red       very high   Extreme       Expected            Prepare, Avoid
========  ==========  ============  ==================  ==========================

Rules, in order:

1. The hazard score sets the level: red at or above ``red`` (default 0.7),
   orange at or above ``orange`` (0.5), yellow at or above ``yellow`` (0.3),
   else green. A lake with no known criterion is green.
2. Growth raises the level by one step only when it exceeds its uncertainty:
   ``change_km2 > k * change_uncertainty_km2`` (default k = 2). A change within
   the uncertainty raises nothing.
3. A ``drained`` lake is red at once: urgency Immediate, event "possible
   outburst flood", responseType Evacuate and Avoid, when its loss exceeds
   ``k`` times its uncertainty (or the uncertainty is unknown). A loss within
   that is mapping noise as likely as an outburst: it raises nothing and its
   reason says so (``glofwatch monitor`` calls a loss real beyond one sigma,
   an alert that orders evacuation needs ``k``). The remnants a drained lake
   left (``drained`` lakes whose ``parent_id`` drained) are that one event:
   only the parent alerts.
4. A heatwave (air-temperature anomaly at or above ``heat_c``, default +5 deg C,
   the lower end of the +5 to +8 deg C at which regional met services warn)
   raises the urgency one step: Future -> Expected -> Immediate.

Certainty (CAP): a drained lake is Observed; a level raised by growth is
Observed when the growth exceeds twice the significance bound (``2 k sigma``),
else Likely; a level from the score alone is Likely when at least 75 % of the
criterion weight is known, Possible from 40 %, else Unlikely. A mapping
probability of the latest outline below ``low_prob`` (default 0.7) lowers the
certainty by one step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from glofwatch.errors import ConfigError
from glofwatch.registry import close_matches_hint

LEVELS = ("green", "yellow", "orange", "red")
LEVEL_MEANING = {"green": "low", "yellow": "medium", "orange": "high", "red": "very high"}
SEVERITY = {"green": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
BASE_URGENCY = {"green": "Future", "yellow": "Future", "orange": "Expected", "red": "Expected"}
RESPONSE = {"green": ["None"], "yellow": ["Monitor"], "orange": ["Prepare", "Monitor"], "red": ["Prepare", "Avoid"]}
DRAINED_RESPONSE = ["Evacuate", "Avoid"]
URGENCY_STEPS = ("Future", "Expected", "Immediate")
CERTAINTY_STEPS = ("Unlikely", "Possible", "Likely", "Observed")
EVENT = "Glacial lake outburst flood hazard"
DRAINED_EVENT = "Glacial lake outburst flood"


def check_level(name: str, what: str = "level") -> str:
    """Return ``name`` if it is a level, else raise :class:`ConfigError` with the closest one."""
    if name not in LEVELS:
        raise ConfigError(f"unknown {what} '{name}'{close_matches_hint(name, list(LEVELS))}; use one of "
                          f"{', '.join(LEVELS)}")
    return name


def level_index(name: str) -> int:
    """0 for green ... 3 for red."""
    return LEVELS.index(name)


@dataclass(frozen=True)
class LevelRules:
    """Thresholds of the level rules (see the module docs).

    Attributes:
        yellow: hazard score from which a lake is yellow.
        orange: hazard score from which a lake is orange.
        red: hazard score from which a lake is red.
        k: a change is significant when it exceeds ``k`` times its uncertainty.
        low_prob: mapping probability below which certainty drops one step.
        heat_c: air-temperature anomaly (deg C) from which urgency rises one step.
    """

    yellow: float = 0.3
    orange: float = 0.5
    red: float = 0.7
    k: float = 2.0
    low_prob: float = 0.7
    heat_c: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.yellow < self.orange < self.red <= 1.0:
            raise ConfigError(f"level thresholds yellow={self.yellow}, orange={self.orange}, red={self.red} must "
                              "rise within 0..1, e.g. --thresholds 0.3,0.5,0.7")
        if self.k <= 0:
            raise ConfigError(f"k={self.k} must be > 0 (a change counts when it exceeds k x its uncertainty), e.g. 2")
        if not 0.0 <= self.low_prob <= 1.0:
            raise ConfigError(f"low_prob={self.low_prob} must be in [0, 1], e.g. 0.7")

    @classmethod
    def from_text(cls, thresholds: str | None = None, **other: float) -> LevelRules:
        """Rules from ``"yellow,orange,red"`` thresholds text (e.g. ``"0.3,0.5,0.7"``) and other fields."""
        if thresholds:
            try:
                values = [float(v) for v in thresholds.split(",")]
            except ValueError:
                values = []
            if len(values) != 3:
                raise ConfigError(f"thresholds '{thresholds}' must be three numbers yellow,orange,red, "
                                  "e.g. 0.3,0.5,0.7")
            other.update(yellow=values[0], orange=values[1], red=values[2])
        return cls(**other)

    def score_level(self, score: float) -> str:
        """The level the hazard score alone gives (green when the score is NaN)."""
        if not math.isfinite(score):
            return "green"
        if score >= self.red:
            return "red"
        if score >= self.orange:
            return "orange"
        if score >= self.yellow:
            return "yellow"
        return "green"


@dataclass
class LakeLevel:
    """The alert assessment of one lake.

    Attributes:
        lake_id: the track's id.
        level: the final level.
        score_level: the level from the hazard score alone.
        hazard_score: the risk stage's score (NaN when no criterion was known).
        coverage: known criterion weight / total weight.
        status: the track status (new, growing, drained, ...).
        change_km2: latest change of area.
        change_uncertainty_km2: its uncertainty.
        change_ratio: |change| / uncertainty (NaN when unknown).
        change_significant: |change| > k x uncertainty.
        raised_by_change: the level went up one step because of significant growth.
        drained: the lake drained, by more than ``k`` x its uncertainty (red, Immediate).
        mean_prob: mapping probability of the latest outline (NaN when unknown).
        heat_anomaly_c: air-temperature anomaly (NaN without weather input).
        heatwave: the anomaly is at or above ``heat_c``.
        urgency, severity, certainty: CAP values.
        response_types: CAP responseType values.
        event: CAP event text.
        reasons: one sentence per rule that applied.
    """

    lake_id: int
    level: str
    score_level: str
    hazard_score: float
    coverage: float
    status: str
    change_km2: float
    change_uncertainty_km2: float
    change_ratio: float
    change_significant: bool
    raised_by_change: bool
    drained: bool
    mean_prob: float
    heat_anomaly_c: float
    heatwave: bool
    urgency: str
    severity: str
    certainty: str
    response_types: list[str]
    event: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and CSV outputs."""
        return asdict(self)


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _step(steps: tuple[str, ...], value: str, by: int) -> str:
    return steps[min(max(steps.index(value) + by, 0), len(steps) - 1)]


def assess_lake(row: dict[str, Any], rules: LevelRules, heat_anomaly_c: float = math.nan,
                remnant_of: int | None = None) -> LakeLevel:
    """Level, urgency, severity and certainty of one lake (see the module docs for the rules).

    Args:
        row: one lake of ``risk.gpkg`` (``lake_id``, ``hazard_score``, ``coverage``,
            ``status``, ``change_km2``, ``change_uncertainty_km2``, ``mean_prob``).
        rules: the thresholds.
        heat_anomaly_c: the lake's current air-temperature anomaly, NaN when unknown.
        remnant_of: the drained lake this ``drained`` lake is a remnant of (its ``parent_id``,
            when that lake drained too): the drainage is that lake's alert, not this one's.
    """
    score, coverage = _float(row.get("hazard_score")), _float(row.get("coverage"))
    change, sigma = _float(row.get("change_km2")), _float(row.get("change_uncertainty_km2"))
    prob = _float(row.get("mean_prob"))
    status = str(row.get("status") or "")
    score_level = rules.score_level(score)
    reasons = [f"hazard score {score:.2f} gives {score_level}" if math.isfinite(score)
               else "no hazard criterion could be evaluated: green"]  # fmt: skip
    ratio = abs(change) / sigma if math.isfinite(change) and math.isfinite(sigma) and sigma > 0 else math.nan
    if math.isfinite(change) and sigma == 0:
        ratio = math.inf if change != 0 else 0.0
    significant = math.isfinite(change) and math.isfinite(sigma) and abs(change) > rules.k * sigma
    level, raised = score_level, False
    known = math.isfinite(change) and math.isfinite(sigma)
    remnant = status == "drained" and remnant_of is not None
    # an unknown uncertainty never mutes it, but a remnant's drainage is its parent's one event
    drained = status == "drained" and (significant or not known) and not remnant
    if remnant:
        reasons.append(f"a remnant of lake {remnant_of}, which drained: that lake's alert covers the drainage, "
                       "no second outburst alert")
    elif drained:
        level = "red"
        reasons.append("the lake drained since the previous image: possible outburst flood"
                       + (f" (it lost {-change:.4f} km2, {ratio:.1f} x its uncertainty)" if known else ""))
    elif status == "drained":
        reasons.append(f"it lost {-change:.4f} km2, more than the drain threshold but only {ratio:.1f} x its "
                       f"uncertainty of {sigma:.4f} km2 (an outburst alert needs more than {rules.k:g} x): "
                       "no raise; check the next image")
    elif status == "obscured":
        reasons.append(f"its change of {change:+.4f} km2 is not assessed: an outline it compares lies beside cloud, "
                       "nodata or a scene edge, so it may be cut: no raise")
    elif significant and change > 0:
        level = _step(LEVELS, score_level, +1)
        raised = level != score_level
        reasons.append(f"it grew {change:+.4f} km2, {ratio:.1f} x its uncertainty of {sigma:.4f} km2 "
                       f"(more than {rules.k:g} x): " + (f"raised to {level}" if raised else "already red"))
    elif significant:
        reasons.append(f"it shrank {change:+.4f} km2 ({ratio:.1f} x its uncertainty): no raise")
    elif math.isfinite(change) and math.isfinite(sigma) and change != 0:
        reasons.append(f"its change of {change:+.4f} km2 is within {rules.k:g} x its uncertainty "
                       f"of {sigma:.4f} km2: no raise")
    if drained:
        certainty = "Observed"
    elif raised:
        certainty = "Observed" if ratio > 2 * rules.k else "Likely"
    else:
        certainty = "Likely" if coverage >= 0.75 else "Possible" if coverage >= 0.4 else "Unlikely"
    if math.isfinite(prob) and prob < rules.low_prob:
        certainty = _step(CERTAINTY_STEPS, certainty, -1)
        reasons.append(f"mapping probability {prob:.2f} < {rules.low_prob:g}: certainty lowered to {certainty}")
    urgency = "Immediate" if drained else BASE_URGENCY[level]
    heatwave = math.isfinite(heat_anomaly_c) and heat_anomaly_c >= rules.heat_c
    if heatwave:
        before = urgency
        urgency = _step(URGENCY_STEPS, urgency, +1)
        reasons.append(f"heatwave: air temperature {heat_anomaly_c:+.1f} deg C above normal (>= {rules.heat_c:+g}): "
                       f"urgency {before} -> {urgency}")
    return LakeLevel(
        lake_id=int(row["lake_id"]), level=level, score_level=score_level, hazard_score=score, coverage=coverage,
        status=status, change_km2=change, change_uncertainty_km2=sigma, change_ratio=ratio,
        change_significant=bool(significant), raised_by_change=raised, drained=drained, mean_prob=prob,
        heat_anomaly_c=heat_anomaly_c, heatwave=bool(heatwave), urgency=urgency, severity=SEVERITY[level],
        certainty=certainty, response_types=list(DRAINED_RESPONSE if drained else RESPONSE[level]),
        event=DRAINED_EVENT if drained else EVENT, reasons=reasons,
    )  # fmt: skip
