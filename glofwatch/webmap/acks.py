"""Acknowledgements of alerts, kept in ``DIR/.webmap/acks.json`` and written atomically.

The file maps each acknowledged CAP identifier to who acknowledged it, when
(UTC) and an optional note. A second acknowledgement of the same alert
replaces the first. Writes are serialised with a lock and go through
:func:`glofwatch.io.atomic.write_json_atomic`, so readers never see half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from glofwatch.io.atomic import write_json_atomic


class AckStore:
    """Alert acknowledgements in one JSON file.

    Args:
        path: the ``acks.json`` file (created on the first acknowledgement).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def all(self) -> dict[str, dict[str, Any]]:
        """identifier -> acknowledgement ({} when none or the file is unreadable)."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        acks = doc.get("acks") if isinstance(doc, dict) else None
        return acks if isinstance(acks, dict) else {}

    def acknowledge(self, identifier: str, by: str = "", note: str = "",
                    when: dt.datetime | None = None) -> dict[str, Any]:
        """Record an acknowledgement and return it.

        Raises:
            OSError: the file cannot be written.
        """
        stamp = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0).isoformat()
        record = {"identifier": identifier, "acknowledged": stamp, "by": by, "note": note}
        with self._lock:
            acks = self.all()
            acks[identifier] = record
            write_json_atomic(self.path, {"acks": acks})
        return record
