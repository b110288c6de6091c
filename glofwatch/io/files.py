"""Reading the small JSON files that run and output folders keep (``run.json``, ``summary.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from glofwatch.errors import InputError


def read_json(path: str | os.PathLike[str], missing_ok: bool = True) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when the file is missing and ``missing_ok``.

    Raises:
        InputError: the file is missing (and not ``missing_ok``), unreadable, not JSON or not an object;
            one line naming the file and the fix.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: cannot be read ({exc.__class__.__name__}); check its permissions or restore it"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); restore it from a backup "
                         "or delete it to start that step again") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: holds a JSON {type(value).__name__}, not an object; restore it or delete it")
    return value


def cache_root() -> Path:
    """glofwatch's cache folder (``$GLOFWATCH_CACHE``, default ``~/.cache/glofwatch``)."""
    env = os.environ.get("GLOFWATCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "glofwatch"
