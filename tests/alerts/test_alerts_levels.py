"""Alert levels: score thresholds, growth beyond its uncertainty, drainage, certainty and heatwaves."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from alerts_fixtures import lake

from glofwatch.alerts.levels import LevelRules, assess_lake
from glofwatch.alerts.weather import heat_anomalies, read_weather
from glofwatch.errors import ConfigError, InputError

RULES = LevelRules()  # yellow 0.3, orange 0.5, red 0.7, k = 2, low_prob 0.7, heat +5 deg C


@pytest.mark.parametrize(("score", "level"), [(0.29, "green"), (0.3, "yellow"), (0.55, "orange"), (0.7, "red"),
                                              (math.nan, "green")])
def test_the_score_sets_the_level(score: float, level: str) -> None:
    result = assess_lake(lake(1, score), RULES)
    assert (result.level, result.score_level, result.raised_by_change) == (level, level, False)


def test_growth_beyond_its_uncertainty_raises_one_level() -> None:
    result = assess_lake(lake(1, 0.4, change_km2=0.05, change_uncertainty_km2=0.01, status="growing"), RULES)
    assert (result.score_level, result.level) == ("yellow", "orange")
    assert result.raised_by_change and result.change_significant
    assert result.change_ratio == pytest.approx(5.0)
    assert result.certainty == "Observed"  # 5 sigma > 2 k = 4
    assert (result.severity, result.urgency) == ("Severe", "Expected")
    assert any("raised to orange" in r for r in result.reasons)


def test_growth_within_its_uncertainty_does_not_raise() -> None:
    result = assess_lake(lake(1, 0.4, change_km2=0.015, change_uncertainty_km2=0.01, status="growing"), RULES)
    assert (result.level, result.raised_by_change, result.change_significant) == ("yellow", False, False)
    assert any("within 2 x its uncertainty" in r for r in result.reasons)


def test_exactly_k_sigma_is_not_enough_and_shrinking_never_raises() -> None:
    at_bound = assess_lake(lake(1, 0.4, change_km2=0.02, change_uncertainty_km2=0.01), RULES)
    shrank = assess_lake(lake(2, 0.4, change_km2=-0.05, change_uncertainty_km2=0.01, status="shrinking"), RULES)
    assert (at_bound.level, at_bound.change_significant) == ("yellow", False)
    assert (shrank.level, shrank.change_significant, shrank.raised_by_change) == ("yellow", True, False)


def test_certainty_of_a_raise_from_the_change_and_the_mapping_probability() -> None:
    likely = assess_lake(lake(1, 0.4, change_km2=0.03, change_uncertainty_km2=0.01), RULES)  # 3 sigma: in (k, 2k]
    doubtful = assess_lake(lake(1, 0.4, change_km2=0.05, change_uncertainty_km2=0.01, mean_prob=0.55), RULES)
    assert (likely.level, likely.certainty) == ("orange", "Likely")
    assert (doubtful.level, doubtful.certainty) == ("orange", "Likely")  # Observed lowered one step
    assert any("mapping probability 0.55" in r for r in doubtful.reasons)


@pytest.mark.parametrize(("coverage", "certainty"), [(0.9, "Likely"), (0.5, "Possible"), (0.21, "Unlikely")])
def test_certainty_of_a_score_level_follows_the_coverage(coverage: float, certainty: str) -> None:
    assert assess_lake(lake(1, 0.6, coverage=coverage), RULES).certainty == certainty


def test_a_drained_lake_is_red_and_immediate() -> None:
    result = assess_lake(lake(1, 0.1, status="drained", change_km2=-0.03, change_uncertainty_km2=0.002), RULES)
    assert (result.level, result.urgency, result.severity, result.certainty) == ("red", "Immediate", "Extreme",
                                                                                  "Observed")
    assert result.response_types == ["Evacuate", "Avoid"]
    assert "outburst flood" in result.event.lower()


def test_a_drained_loss_within_k_sigma_is_not_an_outburst_alert() -> None:
    # the demo's small pond: lost 0.0095 km2, 1.54 x its uncertainty of 0.0062 km2, below k = 2
    noise = assess_lake(lake(8, 0.14, status="drained", change_km2=-0.0095, change_uncertainty_km2=0.0062), RULES)
    assert (noise.level, noise.drained, noise.urgency, noise.certainty) == ("green", False, "Future", "Likely")
    assert (noise.response_types, noise.event) == (["None"], "Glacial lake outburst flood hazard")
    assert any("lost 0.0095 km2, more than the drain threshold but only 1.5 x its uncertainty of 0.0062 km2 "
               "(an outburst alert needs more than 2 x)" in r for r in noise.reasons)
    # just beyond 2 sigma (0.0125 > 2 x 0.0062) it is the outburst alert again
    real = assess_lake(lake(8, 0.14, status="drained", change_km2=-0.0125, change_uncertainty_km2=0.0062), RULES)
    assert (real.level, real.drained, real.urgency) == ("red", True, "Immediate")
    assert any("it lost 0.0125 km2, 2.0 x its uncertainty" in r for r in real.reasons)


def test_a_drained_lake_of_unknown_change_still_alerts() -> None:
    # a remnant first seen on the later date has no change of its own: no uncertainty may mute the alert
    result = assess_lake(lake(3, 0.2, status="drained", change_km2=math.nan, change_uncertainty_km2=math.nan), RULES)
    assert (result.level, result.drained, result.urgency) == ("red", True, "Immediate")


def test_a_heatwave_raises_urgency_one_step() -> None:
    calm = assess_lake(lake(1, 0.4), RULES, heat_anomaly_c=4.9)
    hot = assess_lake(lake(1, 0.4), RULES, heat_anomaly_c=6.0)
    red_hot = assess_lake(lake(1, 0.8), RULES, heat_anomaly_c=8.0)
    assert (calm.urgency, calm.heatwave) == ("Future", False)
    assert (hot.urgency, hot.heatwave, hot.level) == ("Expected", True, "yellow")
    assert red_hot.urgency == "Immediate"


def test_weather_rows_apply_by_lake_area_or_wildcard_over_the_last_days(tmp_path: Path) -> None:
    csv = tmp_path / "temps.csv"
    csv.write_text("date,area_or_lake,anomaly_c\n"
                   "2024-08-20,testvalley,9.0\n"  # too old: the window is the last 3 days of the file
                   "2024-08-30,TestValley,5.5\n"
                   "2024-09-01,2,7.0\n"
                   "2024-09-01,otherarea,12.0\n")
    rows = read_weather(csv)
    assert rows[0] == (dt.date(2024, 8, 20), "testvalley", 9.0)
    assert heat_anomalies(rows, [1, 2], ["testvalley"]) == {1: 5.5, 2: 7.0}
    assert math.isnan(heat_anomalies(rows, [3], ["elsewhere"])[3])


def test_weather_file_errors_are_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "temps.csv"
    csv.write_text("date,area,anomaly_c\n2024-09-01,x,1\n")
    with pytest.raises(InputError, match="needs column 'area_or_lake'"):
        read_weather(csv)
    csv.write_text("date,area_or_lake,anomaly_c\n01/09/2024,x,1\n")
    with pytest.raises(InputError, match="line 2: date must be YYYY-MM-DD"):
        read_weather(csv)


def test_level_rules_are_checked() -> None:
    assert LevelRules.from_text("0.2,0.4,0.6").orange == 0.4
    with pytest.raises(ConfigError, match="must rise within 0..1"):
        LevelRules.from_text("0.5,0.4,0.6")
    with pytest.raises(ConfigError, match="three numbers"):
        LevelRules.from_text("0.5,high")


def test_an_obscured_change_never_raises_nor_drains() -> None:
    result = assess_lake(lake(1, 0.4, change_km2=0.05, change_uncertainty_km2=0.01, status="obscured"), RULES)
    # the same numbers as "growing" raise to orange (test_growth_beyond_its_uncertainty_raises_one_level)
    assert (result.level, result.raised_by_change, result.drained, result.urgency) == ("yellow", False, False,
                                                                                        "Future")
    assert any("+0.0500 km2 is not assessed: an outline it compares lies beside cloud" in r for r in result.reasons)
