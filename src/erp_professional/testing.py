"""Helpers for testing services that use erp_professional.

* ``set_testing(True)`` switches the toolkit into test mode: retries, backoffs and slow-downs
  skip their real waits. It returns a context manager that restores the previous state::

      with testing.set_testing(True):
          ...

* ``capture_spans()`` and ``capture_sentry_events()`` record what telemetry would export,
  without any network;
* ``override_flag(flags, name, value)`` forces a feature flag inside a block, and
  ``FlagsBuilder`` builds in-memory flags step by step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from .flags import FeatureFlags, FlagsBuilder, Variant

__all__ = [
    "FlagsBuilder",
    "capture_sentry_events",
    "capture_spans",
    "is_testing",
    "override_flag",
    "set_testing",
]


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


class CapturedSpans:
    """The spans finished while :func:`capture_spans` is active."""

    def __init__(self) -> None:
        from .observability import memory_exporter

        exporter = memory_exporter()
        if exporter is None:  # pragma: no cover - setup_tracing(memory) always makes one
            raise RuntimeError("tracing is not set up with the in-memory exporter")
        self._exporter = exporter

    def finished(self) -> list[ReadableSpan]:
        return list(self._exporter.get_finished_spans())

    def names(self) -> list[str]:
        return [span.name for span in self.finished()]

    def clear(self) -> None:
        self._exporter.clear()


@contextmanager
def capture_spans() -> Iterator[CapturedSpans]:
    """Trace into memory inside the block (the process's tracer provider is switched to an
    in-memory exporter, and back to no export afterwards)."""
    from ._sections.observability import TracingConfig
    from .observability import setup_tracing

    setup_tracing(TracingConfig(exporter="memory"))
    try:
        yield CapturedSpans()
    finally:
        setup_tracing(TracingConfig(exporter="none"))


@contextmanager
def capture_sentry_events() -> Iterator[list[dict[str, Any]]]:
    """A real, scrubbing Sentry client whose events land in the yielded list, not on the
    network. Sentry is switched off again after the block."""
    import sentry_sdk
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.transport import Transport

    from .observability import setup_sentry

    events: list[dict[str, Any]] = []

    class _Capture(Transport):
        def capture_envelope(self, envelope: Envelope) -> None:
            for item in envelope.items:
                if item.type == "event" and item.payload.json is not None:
                    events.append(item.payload.json)

    setup_sentry("https://public@127.0.0.1/1", transport=_Capture)
    try:
        yield events
    finally:
        client = sentry_sdk.get_client()
        client.flush(timeout=2)
        client.close()
        sentry_sdk.init()


def override_flag(flags: FeatureFlags, name: str, value: bool | str | Variant = True) -> Any:
    """Force ``name`` to ``value`` (on/off, or a variant name) inside a ``with`` block."""
    return flags.override(name, value)


def __getattr__(name: str) -> Any:
    if name == "FlagsBuilder":
        from .flags import FlagsBuilder

        return FlagsBuilder
    raise AttributeError(f"module 'erp_professional.testing' has no attribute {name!r}")
