"""Request-scoped defaults for the metadata envelope: actor, correlation id, trace id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from opentelemetry import trace

_actor: ContextVar[str | None] = ContextVar("erp_professional_events_actor", default=None)
_request_id_getter: list[Callable[[], str | None] | None] = []


def set_actor(actor: str | None) -> Token[str | None]:
    """Set the default actor (user id) of events appended in this context.

    Returns a token for :func:`reset_actor`; prefer the :func:`acting_as` context manager.
    """
    return _actor.set(actor)


def reset_actor(token: Token[str | None]) -> None:
    """Restore the actor that was current before :func:`set_actor` returned ``token``."""
    _actor.reset(token)


def current_actor() -> str | None:
    """The default actor of this context, or ``None``."""
    return _actor.get()


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Context manager: events appended inside default to ``actor``."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def _request_id() -> str | None:
    if not _request_id_getter:
        # Imported on first use: the web layer is not needed to store events.
        from erp_professional.web import current_request_id

        _request_id_getter.append(current_request_id)
    getter = _request_id_getter[0]
    return None if getter is None else getter()


@dataclass(frozen=True, slots=True)
class Ambient:
    """Defaults captured once per append: correlation id, actor and trace id."""

    correlation_id: str | None
    actor: str | None
    trace_id: str | None


def capture() -> Ambient:
    """Capture the ambient defaults of the calling context."""
    ctx = trace.get_current_span().get_span_context()
    trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
    request_id = _request_id()
    return Ambient(
        correlation_id=request_id if request_id is not None else trace_id,
        actor=_actor.get(),
        trace_id=trace_id,
    )
