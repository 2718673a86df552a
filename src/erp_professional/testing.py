"""Helpers for testing code that uses erp_professional.

``set_testing(True)`` switches the toolkit into test mode (no real waits in retries and
backoffs, deterministic behaviour where a capability offers it) and returns a context
manager that restores the previous state::

    with testing.set_testing(True):
        ...
"""

from __future__ import annotations

from typing import Final

__all__ = ["is_testing", "set_testing"]


class _State:
    __slots__ = ("testing",)

    def __init__(self) -> None:
        self.testing = False


_STATE: Final = _State()


def is_testing() -> bool:
    """True while test mode is on: capabilities skip real waits."""
    return _STATE.testing


class _Restore:
    def __init__(self, previous: bool) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _STATE.testing = self._previous


def set_testing(on: bool = True) -> _Restore:
    """Turn test mode on or off now; use the result as a context manager to restore it."""
    previous = _STATE.testing
    _STATE.testing = on
    return _Restore(previous)
