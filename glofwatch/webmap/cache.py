"""Rendered files (overlays, thumbnails) cached under ``DIR/.webmap``, made once per key.

:meth:`RenderCache.get` returns the cached bytes when the file exists and is
newer than its sources, else calls the maker once (concurrent requests for
the same key wait for it) and writes the result atomically. A served folder
that cannot be written to still works: results are then kept in memory (the
most recent :data:`MEMORY_ITEMS`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from glofwatch.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

MEMORY_ITEMS = 512


class RenderCache:
    """Bytes by relative name under ``folder`` (see the module docs).

    Args:
        folder: the cache folder (created on the first write).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._writable = True

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _fresh(self, path: Path, sources: Iterable[Path]) -> bool:
        try:
            made = path.stat().st_mtime
        except OSError:
            return False
        return all(not s.exists() or s.stat().st_mtime <= made for s in sources)

    def get(self, name: str, make: Callable[[], bytes], sources: Iterable[Path] = ()) -> bytes:
        """The bytes cached as ``name``, made with ``make()`` when missing or older than a source.

        Args:
            name: relative path under the cache folder, e.g. ``overlays/KEY.png``.
            make: renders the bytes.
            sources: files the result depends on.
        """
        sources = list(sources)
        path = self.folder / name
        with self._lock(name):
            if name in self._memory:
                self._memory.move_to_end(name)
                return self._memory[name]
            if self._fresh(path, sources):
                try:
                    return path.read_bytes()
                except OSError:
                    pass
            data = make()
            if self._writable:
                try:
                    write_bytes_atomic(path, data)
                    return data
                except OSError as exc:
                    self._writable = False
                    log.warning("cannot write the web map cache %s (%s); keeping renders in memory", self.folder, exc)
            self._memory[name] = data
            while len(self._memory) > MEMORY_ITEMS:
                self._memory.popitem(last=False)
            return data
