"""Required parts of the install: their tests fail (never skip) when a part is missing."""

from __future__ import annotations

import pytest


def require(available: bool, what: str, fix: str) -> None:
    """Fail (never skip) a test whose required part is missing: a broken install must not pass CI."""
    if not available:
        pytest.fail(f"{what} is missing: {fix}", pytrace=False)


def requires(available: bool, what: str, fix: str):  # noqa: ANN201 - decorator
    """Decorator form of :func:`require`, checked when the test runs."""
    import functools

    def wrap(fn):  # noqa: ANN001, ANN202
        @functools.wraps(fn)
        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            require(available, what, fix)
            return fn(*args, **kwargs)

        return run

    return wrap
