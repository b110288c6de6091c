"""Errors that users read.

Every message is one line: what is wrong, which file or value, and the fix.
The CLI prints ``error: <message>`` and exits with status 2 for any
:class:`GlofwatchError`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GlofwatchError(Exception):
    """Base class of every error glofwatch raises on purpose."""


class InputError(GlofwatchError, ValueError):
    """A file or value given by the user cannot be used as it is."""


class ConfigError(GlofwatchError, ValueError):
    """A preset, option or registry name is unknown or inconsistent."""


class WeightsError(GlofwatchError, RuntimeError):
    """Pretrained weights were asked for but cannot be had (for example offline)."""


class TrainingError(GlofwatchError, RuntimeError):
    """Training cannot go on (NaN loss, unusable checkpoint, ...)."""
