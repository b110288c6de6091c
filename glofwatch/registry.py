"""A small name -> object registry with close-match errors.

Every extension point (models, losses, presets, hazard criteria, backends)
owns one :class:`Registry`; items are added with :meth:`Registry.register`
and built by name.

Example:
    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("dice")
    ... def dice(): ...
    >>> LOSSES.get("dise")  # doctest: +SKIP
    ConfigError: unknown loss 'dise'; did you mean 'dice'? (known: dice)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from glofwatch.errors import ConfigError

T = TypeVar("T")


def close_matches_hint(name: str, known: list[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest known names, or ``""``."""
    matches = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


class Registry(Generic[T]):
    """Map names to objects of one kind.

    Args:
        kind: what the items are, used in error messages ("model", "loss", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str, item: None = None) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: T | None = None) -> Callable[[T], T] | T:
        """Register ``item`` under ``name``; without ``item`` act as a decorator."""
        if item is not None:
            self._add(name, item)
            return item

        def decorator(obj: T) -> T:
            self._add(name, obj)
            return obj

        return decorator

    def _add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ConfigError(f"{self.kind} '{name}' is registered twice; pick another name")
        self._items[name] = item

    def get(self, name: str) -> T:
        """Return the item called ``name`` or raise :class:`ConfigError` with close matches."""
        try:
            return self._items[name]
        except KeyError:
            known = sorted(self._items)
            hint = close_matches_hint(name, known)
            raise ConfigError(
                f"unknown {self.kind} '{name}'{hint} (known: {', '.join(known)})"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, item) pairs in registration order."""
        return iter(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
