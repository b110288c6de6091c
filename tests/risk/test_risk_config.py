"""The criteria YAML: shipped defaults, overrides, and one-line errors with close matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from risk_fixtures import track, utm_box, write_monitor

from glofwatch.errors import ConfigError, InputError
from glofwatch.risk.config import default_criteria_text, load_criteria
from glofwatch.risk.criteria import CRITERIA
from glofwatch.risk.run import assess_risk


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    return path


def test_shipped_criteria_match_the_registry_and_published_values() -> None:
    cfg = load_criteria()
    assert sorted(cfg.criteria) == CRITERIA.names()
    assert cfg.total_weight == pytest.approx(1.0)
    published = {name: (c.op, c.threshold, c.weight) for name, c in cfg.criteria.items() if c.classes is None}
    assert published["lake_area"] == (">", 0.2, 0.15)
    assert published["growth_rate"] == (">", 10.0, 0.06)
    assert published["glacier_distance"] == ("<", 500.0, 0.15)
    assert published["glacier_tongue_slope"] == (">", 7.0, 0.10)
    assert published["lake_glacier_slope"] == (">", 8.0, 0.07)
    assert published["lake_elevation"] == (">", 5000.0, 0.03)
    assert cfg.criteria["dam_type"].classes["M(e)"] == 1.0
    assert cfg.criteria["downstream_exposure"].params["distance_km"] == 10.0
    assert all(c.source and c.unit and c.description for c in cfg.criteria.values())


def test_override_changes_only_what_it_names_and_the_hash(tmp_path: Path) -> None:
    base = load_criteria()
    cfg = load_criteria(write(tmp_path, "criteria:\n  lake_area: {threshold: 0.05, weight: 0.3}\n"
                                        "  lake_elevation: {enabled: false}\n"))
    assert (cfg.criteria["lake_area"].threshold, cfg.criteria["lake_area"].weight) == (0.05, 0.3)
    assert cfg.criteria["lake_area"].source == base.criteria["lake_area"].source
    assert "lake_elevation" not in [c.name for c in cfg.enabled]
    assert cfg.total_weight == pytest.approx(1.0 + 0.15 - 0.03)
    assert cfg.hash != base.hash
    assert cfg.sources[-1].endswith("my.yaml")


def test_override_flips_a_lake_from_not_met_to_met(tmp_path: Path) -> None:
    monitor = write_monitor(tmp_path / "m", [track(1, utm_box(0, 0, 100, 100), area_last_km2=0.1)])
    override = write(tmp_path, "criteria:\n  lake_area: {threshold: 0.05}\n")
    for criteria, expected in ((None, "not met"), (override, "met")):
        assess_risk(monitor, tmp_path / "risk", criteria=criteria)
        lake = json.loads((tmp_path / "risk" / "breakdown.json").read_text())["lakes"]["1"]
        area = next(c for c in lake["criteria"] if c["name"] == "lake_area")
        assert area["status"] == expected


def test_classes_can_replace_a_threshold(tmp_path: Path) -> None:
    cfg = load_criteria(write(tmp_path, "criteria:\n  dam_type:\n    classes: {M(e): 1.0, I: 1.0}\n"))
    assert cfg.criteria["dam_type"].classes == {"M(e)": 1.0, "I": 1.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("criteria:\n  lake_area: {wieght: 0.2}\n", "unknown key 'criteria.lake_area.wieght'; did you mean 'weight'?"),
        ("criteria:\n  lake_aera: {weight: 0.2}\n", "unknown criterion 'lake_aera'; did you mean 'lake_area'"),
        ("critera:\n  lake_area: {weight: 0.2}\n", "unknown key 'critera'; did you mean 'criteria'?"),
        ("settings: {tongue_lenght_m: 5}\n", "did you mean 'tongue_length_m'?"),
        ("criteria:\n  lake_area: {weight: high}\n", "criteria.lake_area.weight must be a number, got 'high'"),
        ("criteria:\n  lake_area: {weight: -1}\n", "criteria.lake_area.weight=-1 must be >= 0"),
        ("criteria:\n  lake_area: {op: '=>'}\n", "op='=>' is not a comparison; use one of >, >=, <, <="),
        ("criteria:\n  lake_area: {enabled: 'no'}\n", "enabled must be true or false"),
        ("criteria:\n  surrounding_slope: {params: {rign_m: 100}}\n", "did you mean 'ring_m'?"),
        ("criteria:\n  dam_type: {classes: {M(e): 2}}\n", "classes scores must be in [0, 1]"),
        ("criteria:\n  lake_area: [1, 2]\n", "criteria.lake_area must be a mapping"),
        ("criteria:\n  lake_area: {weight: 0.2\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_bad_yaml_is_one_line_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_criteria(write(tmp_path, text))
    message = str(err.value)
    assert expected in message
    assert "my.yaml" in message
    assert "\n" not in message


def test_disabling_everything_is_refused(tmp_path: Path) -> None:
    names = yaml.safe_load(default_criteria_text())["criteria"]
    text = "criteria:\n" + "".join(f"  {n}: {{enabled: false}}\n" for n in names)
    with pytest.raises(ConfigError, match="every criterion is disabled"):
        load_criteria(write(tmp_path, text))


def test_missing_override_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="criteria file not found"):
        load_criteria(tmp_path / "nope.yaml")
