"""From criterion values to an explained hazard score per lake, and a rank.

For each lake::

    hazard_score = sum(weight_i * score_i) / sum(weight_i)   over the known criteria i
    coverage     = sum(weight_i, known i) / sum(weight_i, all enabled i)

where ``score_i`` is 1 (threshold met), 0 (not met) or the graded class score.
A criterion is unknown for a lake when its input is missing (no DEM, no
glaciers, no dam-type column) or its value could not be had for that lake.
Each criterion's ``contribution`` is its share of the hazard score
(``weight * score / known weight``), so the contributions add up to the score.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from glofwatch.risk.config import OPS, CriteriaConfig, CriterionSpec
from glofwatch.risk.context import Measure, MissingInput, RiskContext
from glofwatch.risk.criteria import CRITERIA


@dataclass
class CriterionResult:
    """One criterion evaluated for one lake (one entry of ``breakdown.json``).

    Attributes:
        name: criterion name.
        value: the measured value or category (None when unknown).
        unit: unit of the value.
        op: comparison with the threshold (None for classes).
        threshold: the threshold (None for classes).
        classes: category -> score (None for threshold criteria).
        status: "met", "not met", "graded" or "unknown".
        score: 1, 0 or the graded score; None when unknown.
        weight: the configured weight.
        contribution: ``weight * score / known weight`` (0 when unknown).
        source: reference of the threshold and weight.
        note: why unknown, or what the value refers to.
        detail: extra facts (glacier id, settlements on the flow path, ...).
    """

    name: str
    value: float | str | None
    unit: str
    op: str | None
    threshold: float | None
    classes: dict[str, float] | None
    status: str
    score: float | None
    weight: float
    contribution: float
    source: str
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        """True unless the status is "unknown"."""
        return self.status != "unknown"


@dataclass
class LakeScore:
    """The hazard score of one lake with its breakdown.

    Attributes:
        lake_id: the track's id.
        hazard_score: 0..1 over the known criteria (NaN when none is known).
        coverage: known weight / total weight, 0..1.
        n_unknown: criteria without a value.
        results: one :class:`CriterionResult` per enabled criterion, in config order.
        rank: 1 = most hazardous among the tracked lakes (set by :func:`rank_scores`).
    """

    lake_id: int
    hazard_score: float
    coverage: float
    n_unknown: int
    results: list[CriterionResult]
    rank: int = 0

    def top(self, n: int = 3) -> list[CriterionResult]:
        """The ``n`` criteria with the largest positive contribution, largest first."""
        scored = [r for r in self.results if r.known and r.contribution > 0]
        return sorted(scored, key=lambda r: (-r.contribution, r.name))[:n]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``breakdown.json``."""
        return {
            "hazard_score": self.hazard_score,
            "coverage": self.coverage,
            "rank": self.rank,
            "n_unknown": self.n_unknown,
            "criteria": [asdict(r) for r in self.results],
        }


def grade(spec: CriterionSpec, measure: Measure) -> tuple[str, float | None, str]:
    """Status, score and note of one measured value under ``spec``.

    Args:
        spec: the criterion's threshold or classes.
        measure: the measured value.

    Returns:
        (status, score, note): status is "met", "not met", "graded" or "unknown".
    """
    if measure.value is None:
        if measure.absent:
            return "not met", 0.0, measure.note
        return "unknown", None, measure.note or "no value"
    if spec.classes is not None:
        score = spec.classes.get(str(measure.value))
        if score is None:
            return "unknown", None, f"category '{measure.value}' is not one of {', '.join(spec.classes)}"
    else:
        assert spec.op is not None and spec.threshold is not None
        score = 1.0 if OPS[spec.op](float(measure.value), spec.threshold) else 0.0
    status = "met" if score == 1.0 else "not met" if score == 0.0 else "graded"
    return status, float(score), measure.note


def measure_all(ctx: RiskContext, config: CriteriaConfig) -> dict[str, list[Measure]]:
    """Run every enabled criterion over all lakes: name -> one :class:`Measure` per lake."""
    n = len(ctx.lakes)
    measures: dict[str, list[Measure]] = {}
    for spec in config.enabled:
        try:
            values = CRITERIA.get(spec.name)(ctx, spec)
        except MissingInput as missing:
            values = [Measure(None, str(missing)) for _ in range(n)]
        if len(values) != n:
            raise RuntimeError(f"criterion {spec.name} returned {len(values)} values for {n} lakes")
        measures[spec.name] = values
    return measures


def score_lake(lake_id: int, specs: list[CriterionSpec], measures: list[Measure]) -> LakeScore:
    """Combine one lake's measures into its :class:`LakeScore` (see the module docs)."""
    graded = [(spec, m, *grade(spec, m)) for spec, m in zip(specs, measures, strict=True)]
    total = sum(spec.weight for spec in specs)
    known = [(spec.weight, score) for spec, _, _, score, _ in graded if score is not None]
    known_weight = sum(w for w, _ in known)
    weighted = sum(w * score for w, score in known)
    hazard = weighted / known_weight if known_weight > 0 else math.nan
    results = []
    for spec, m, status, score, note in graded:
        share = spec.weight * score / known_weight if score is not None and known_weight > 0 else 0.0
        results.append(CriterionResult(
            name=spec.name, value=m.value, unit=spec.unit, op=spec.op, threshold=spec.threshold,
            classes=dict(spec.classes) if spec.classes is not None else None, status=status, score=score,
            weight=spec.weight, contribution=round(share, 10), source=spec.source, note=note, detail=m.detail,
        ))  # fmt: skip
    return LakeScore(
        lake_id=int(lake_id),
        hazard_score=round(hazard, 10) if math.isfinite(hazard) else math.nan,
        coverage=round(known_weight / total, 10) if total > 0 else 0.0,
        n_unknown=sum(1 for r in results if not r.known),
        results=results,
    )


def rank_scores(scores: list[LakeScore]) -> list[LakeScore]:
    """Set ``rank``: 1 for the highest hazard score, ties share the best rank, NaN scores last."""
    order = sorted(scores, key=lambda s: -s.hazard_score if math.isfinite(s.hazard_score) else math.inf)
    rank = 0
    previous: float | None = None
    for i, s in enumerate(order, start=1):
        value = s.hazard_score if math.isfinite(s.hazard_score) else math.inf
        if previous is None or value != previous:
            rank = i
            previous = value
        s.rank = rank
    return scores


def score_lakes(ctx: RiskContext, config: CriteriaConfig) -> list[LakeScore]:
    """Score and rank every lake of ``ctx`` with the enabled criteria of ``config``."""
    specs = config.enabled
    measures = measure_all(ctx, config)
    scores = [
        score_lake(lake_id, specs, [measures[s.name][i] for s in specs])
        for i, lake_id in enumerate(ctx.lakes["lake_id"])
    ]
    return rank_scores(scores)
