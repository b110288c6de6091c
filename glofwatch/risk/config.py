"""The hazard criteria set: the shipped ``criteria.yaml`` merged with a user override.

Every key and type is checked once, here; a mistake is one
:class:`~glofwatch.errors.ConfigError` line naming the file, the key and the
closest known key. The resolved set has a short content hash that the risk
outputs carry, so a score can be traced to the exact criteria that made it.

Example:
    >>> cfg = load_criteria()
    >>> cfg.criteria["lake_area"].threshold, cfg.criteria["lake_area"].weight
    (0.2, 0.15)
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from glofwatch.errors import ConfigError, InputError
from glofwatch.registry import close_matches_hint

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
"""Comparison operators a threshold criterion may use."""

TOP_KEYS = ("name", "version", "settings", "criteria")
SETTINGS_DEFAULTS = {"mother_glacier_max_m": 2000.0, "tongue_length_m": 1000.0, "min_glacier_km2": 0.01}
CRITERION_KEYS = ("enabled", "description", "unit", "op", "threshold", "classes", "weight", "source", "params")


@dataclass(frozen=True)
class CriterionSpec:
    """One criterion as configured.

    Attributes:
        name: registered criterion name.
        enabled: False drops the criterion from the score and from the total weight.
        description: how the value is computed, in words.
        unit: unit of the value.
        op: comparison with ``threshold`` (``>``, ``>=``, ``<``, ``<=``), or None for classes.
        threshold: the threshold value, or None for classes.
        classes: category -> graded score in [0, 1], or None for threshold criteria.
        weight: weight in the score (>= 0).
        source: where the threshold and weight come from.
        params: criterion-specific settings (ring width, distances, column names).
    """

    name: str
    enabled: bool
    description: str
    unit: str
    op: str | None
    threshold: float | None
    classes: dict[str, float] | None
    weight: float
    source: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CriteriaConfig:
    """The resolved criteria set.

    Attributes:
        name: name of the set.
        version: version string of the set.
        settings: shared settings (mother glacier search distance, tongue length, smallest glacier).
        criteria: criterion name -> spec, in file order (disabled ones included).
        sources: the files merged, default first.
    """

    name: str
    version: str
    settings: dict[str, float]
    criteria: dict[str, CriterionSpec]
    sources: tuple[str, ...]

    @property
    def enabled(self) -> list[CriterionSpec]:
        """The enabled criteria, in file order."""
        return [c for c in self.criteria.values() if c.enabled]

    @property
    def total_weight(self) -> float:
        """Sum of the weights of the enabled criteria."""
        return float(sum(c.weight for c in self.enabled))

    def as_dict(self) -> dict[str, Any]:
        """Plain data (name, version, settings, criteria) for JSON outputs and hashing."""
        return {
            "name": self.name,
            "version": self.version,
            "settings": dict(self.settings),
            "criteria": {k: asdict(v) for k, v in self.criteria.items()},
        }

    @property
    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON of :meth:`as_dict`."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def default_criteria_text() -> str:
    """The text of the shipped ``glofwatch/risk/criteria.yaml``."""
    return resources.files("glofwatch.risk").joinpath("criteria.yaml").read_text(encoding="utf-8")


def load_criteria(override: str | Path | None = None, known: list[str] | None = None) -> CriteriaConfig:
    """Load the shipped criteria and merge an optional override file into them.

    Args:
        override: a YAML file with the keys to change (``criteria: {lake_area: {threshold: 0.1}}``).
        known: registered criterion names; every criterion in the files must be one of them
            (default: the criteria of the shipped file, which are the registered ones).

    Returns:
        The checked :class:`CriteriaConfig`.

    Raises:
        ConfigError: unknown keys or criteria (with close matches), wrong types or values.
        InputError: the override file is missing or is not YAML.
    """
    default = _parse(default_criteria_text(), "criteria.yaml (shipped)")
    if known is None:
        known = sorted(default.get("criteria") or {})
    merged = _check_top(default, "criteria.yaml (shipped)")
    sources = ["glofwatch/risk/criteria.yaml"]
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise InputError(f"{path}: criteria file not found; check the path given to --criteria")
        text = path.read_text(encoding="utf-8")
        merged = _merge(merged, _check_top(_parse(text, str(path)), str(path)), str(path))
        sources.append(str(path))
    return _resolve(merged, known, sources[-1], tuple(sources))


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}; check indentation and quoting") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with keys {', '.join(TOP_KEYS)}, got {type(data).__name__}")
    return data


def _unknown(source: str, where: str, key: object, known: list[str]) -> ConfigError:
    hint = close_matches_hint(str(key), known)
    return ConfigError(f"{source}: unknown key '{where}{key}'{hint} (known: {', '.join(known)})")


def _check_top(data: dict[str, Any], source: str) -> dict[str, Any]:
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(source, "", key, list(TOP_KEYS))
    for key in ("settings", "criteria"):
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping, got {type(data[key]).__name__}")
    for key, value in (data.get("criteria") or {}).items():
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: criteria.{key} must be a mapping of {', '.join(CRITERION_KEYS)}")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any], source: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key in ("name", "version"):
        if key in over:
            out[key] = over[key]
    out.setdefault("settings", {}).update(over.get("settings") or {})
    criteria = out.setdefault("criteria", {})
    for name, fields in (over.get("criteria") or {}).items():
        target = criteria.setdefault(name, {})
        for key, value in fields.items():
            if key == "params" and isinstance(value, dict) and isinstance(target.get("params"), dict):
                target["params"] = {**target["params"], **value}
            elif key == "classes" and value is not None:
                target["classes"] = value
                target.pop("op", None)
                target.pop("threshold", None)
            elif key in ("op", "threshold") and value is not None:
                target[key] = value
                target.pop("classes", None)
            else:
                target[key] = value
    return out


def _number(value: Any, where: str, source: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {where} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{source}: {where}={value} must be >= {minimum}")
    return float(value)


def _text(value: Any, where: str, source: str) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ConfigError(f"{source}: {where} must be text, got {value!r}")
    return str(value)


def _resolve(data: dict[str, Any], known: list[str], source: str, sources: tuple[str, ...]) -> CriteriaConfig:
    settings = dict(SETTINGS_DEFAULTS)
    for key, value in (data.get("settings") or {}).items():
        if key not in SETTINGS_DEFAULTS:
            raise _unknown(source, "settings.", key, list(SETTINGS_DEFAULTS))
        settings[key] = _number(value, f"settings.{key}", source, minimum=0.0)
    defaults = _parse(default_criteria_text(), "criteria.yaml (shipped)").get("criteria") or {}
    criteria: dict[str, CriterionSpec] = {}
    for name, fields in (data.get("criteria") or {}).items():
        if name not in known:
            hint = close_matches_hint(str(name), known)
            raise ConfigError(f"{source}: unknown criterion '{name}'{hint} (known: {', '.join(known)})")
        criteria[name] = _spec(name, fields, (defaults.get(name) or {}).get("params") or {}, source)
    if not any(c.enabled for c in criteria.values()):
        raise ConfigError(f"{source}: every criterion is disabled; enable at least one (enabled: true)")
    if sum(c.weight for c in criteria.values() if c.enabled) <= 0:
        raise ConfigError(f"{source}: the enabled criteria have a total weight of 0; give one a weight > 0")
    return CriteriaConfig(
        name=_text(data.get("name", "custom"), "name", source),
        version=_text(data.get("version", "0"), "version", source),
        settings=settings,
        criteria=criteria,
        sources=sources,
    )


def _spec(name: str, fields: dict[str, Any], default_params: dict[str, Any], source: str) -> CriterionSpec:
    where = f"criteria.{name}."
    for key in fields:
        if key not in CRITERION_KEYS:
            raise _unknown(source, where, key, list(CRITERION_KEYS))
    enabled = fields.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{source}: {where}enabled must be true or false, got {enabled!r}")
    classes = fields.get("classes")
    op, threshold = fields.get("op"), fields.get("threshold")
    if classes is not None:
        if not isinstance(classes, dict) or not classes:
            raise ConfigError(f"{source}: {where}classes must be a mapping of category -> score in [0, 1]")
        classes = {str(k): _number(v, f"{where}classes.{k}", source, minimum=0.0) for k, v in classes.items()}
        if any(v > 1.0 for v in classes.values()):
            raise ConfigError(f"{source}: {where}classes scores must be in [0, 1]")
        op, threshold = None, None
    else:
        if op not in OPS:
            raise ConfigError(f"{source}: {where}op={op!r} is not a comparison; use one of {', '.join(OPS)} "
                              "(or give classes)")
        threshold = _number(threshold, f"{where}threshold", source)
    params = fields.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: {where}params must be a mapping")
    for key, value in params.items():
        if key not in default_params:
            raise _unknown(source, f"{where}params.", key, sorted(default_params) or ["(none)"])
        expected = default_params[key]
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            params[key] = _number(value, f"{where}params.{key}", source, minimum=0.0)
        elif isinstance(expected, list) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{source}: {where}params.{key} must be a list of names, got {value!r}")
    return CriterionSpec(
        name=name,
        enabled=enabled,
        description=_text(fields.get("description", ""), f"{where}description", source),
        unit=_text(fields.get("unit", ""), f"{where}unit", source),
        op=op,
        threshold=threshold,
        classes=classes,
        weight=_number(fields.get("weight"), f"{where}weight", source, minimum=0.0),
        source=_text(fields.get("source", ""), f"{where}source", source),
        params={**default_params, **params},
    )
