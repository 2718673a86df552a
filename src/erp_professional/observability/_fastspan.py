"""A lightweight recording span for the per-request SERVER span.

The SDK's span guards every attribute behind a lock and a bounded mapping; a request's
server span is written by one request at a time and mostly by us, so this span keeps
plain dicts and lists and becomes an SDK ``ReadableSpan`` only when it ends, handed to the
same span processors (and so the same exporters) as every other span. App code sees an
ordinary ``opentelemetry.trace.Span``: attributes, events, links, status and exceptions set
on ``trace.get_current_span()`` during the request are exported with it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from time import time_ns
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.span import DEFAULT_TRACE_STATE
from opentelemetry.util import types

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

    from ._tracing import _Provider

__all__ = ["ServerSpan", "make_span_context", "parent_or_remote", "start_server_span"]

log = logging.getLogger("erp_professional.observability")
SCOPE = InstrumentationScope("erp_professional.observability")
_PRIMITIVES = (str, bool, int, float)
_UNSET = Status(StatusCode.UNSET)  # immutable: one shared instance


_ID_MAX = (1 << 128) - 1
_SPAN_ID_MAX = (1 << 64) - 1
_FLAGS = tuple(TraceFlags(i) for i in range(256))
_new_tuple = tuple.__new__


def _constructed(
    trace_id: int, span_id: int, is_remote: bool, flags: int, state: TraceState | None
) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote, TraceFlags(flags), state)


def _direct(
    trace_id: int, span_id: int, is_remote: bool, flags: int, state: TraceState | None
) -> SpanContext:
    valid = 0 < trace_id <= _ID_MAX and 0 < span_id <= _SPAN_ID_MAX
    if state is None:
        state = DEFAULT_TRACE_STATE
    return _new_tuple(SpanContext, (trace_id, span_id, is_remote, _FLAGS[flags], state, valid))


def _same_layout() -> bool:
    """Does building the tuple directly give what ``SpanContext(...)`` gives?"""
    try:
        for args in ((1, 2, True, 1, None), (0, 5, False, 3, TraceState([("k", "v")]))):
            made, direct = _constructed(*args), _direct(*args)
            if type(direct) is not SpanContext or tuple(made) != tuple(direct):
                return False
            if (made.trace_id, made.span_id, made.is_remote, made.trace_flags) != (
                direct.trace_id,
                direct.span_id,
                direct.is_remote,
                direct.trace_flags,
            ) or (made.is_valid, made.trace_state) != (direct.is_valid, direct.trace_state):
                return False
    except Exception:
        log.debug("span contexts built by the API's constructor", exc_info=True)
        return False
    return True


#: ``SpanContext(trace_id, span_id, is_remote, TraceFlags(flags), state)``. The API's
#: constructor is Python code with keyword defaults, paid twice per request (remote parent
#: and server span); the context is the same tuple built directly, as long as a start-up
#: check finds the installed API lays it out that way.
make_span_context = _direct if _same_layout() else _constructed


def _valid(value: object) -> bool:
    if isinstance(value, _PRIMITIVES):
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, _PRIMITIVES) for v in value)
    return False


class ServerSpan(trace.Span, ReadableSpan):
    """A recording span that is its own ``ReadableSpan`` for the processors once ended."""

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, types.AttributeValue],
        kind: SpanKind,
        processor: SpanProcessor,
        resource: Resource,
    ) -> None:
        self._name = name
        self._span_context = context
        self._context = context
        self._parent = parent
        self._attrs = attributes
        self._attributes = attributes
        self._kind = kind
        self._processor = processor
        self._resource = resource
        # Most server spans never get events or links: share empty tuples until they do.
        self._events: list[Event] | tuple[()] = ()
        self._links: list[Link] | tuple[()] = ()
        self._status = _UNSET
        self._start_time = time_ns()
        self._end_time: int | None = None
        self._instrumentation_info = None
        self._instrumentation_scope = SCOPE

    @property
    def name(self) -> str:
        return self._name

    def get_span_context(self) -> SpanContext:
        return self._span_context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self._end_time is not None:
            return
        if not key or not _valid(value):
            log.warning("invalid span attribute %r=%r dropped", key, value)
            return
        self._attrs[key] = tuple(value) if isinstance(value, list) else value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        if self._end_time is None:
            if not self._events:
                self._events = []
            self._events.append(Event(name, dict(attributes or {}), timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end_time is None and context.is_valid:
            if not self._links:
                self._links = []
            self._links.append(Link(context, dict(attributes or {})))

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            self._status = status
        else:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        cls = type(exception)
        module = cls.__module__
        event_attributes: dict[str, types.AttributeValue] = {
            "exception.type": cls.__qualname__
            if module in ("builtins", "__main__")
            else f"{module}.{cls.__qualname__}",
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = end_time or time_ns()
        self._processor.on_end(self)

    def __repr__(self) -> str:
        return f"ServerSpan({self._name!r}, trace_id={self._span_context.trace_id:032x})"


_TRACE_ID_LIMIT = (1 << 64) - 1


def start_server_span(
    provider: _Provider,
    name: str,
    parent: Context | None,
    attributes: dict[str, types.AttributeValue],
    parent_context: SpanContext | None = None,
) -> trace.Span:
    """Sample and start a SERVER span on ``provider`` (recording or not).

    ``parent_context`` is the remote parent already parsed from ``parent`` (if any);
    ``parent`` may then be ``None``: a context holding it is made only when a sampler or
    an added processor asks for one.
    """
    if parent is not None and parent_context is None:
        parent_context = trace.get_current_span(parent).get_span_context()
    sole = provider.sole_processor
    generator = provider.id_generator
    if parent_context is None or not parent_context.is_valid:
        parent_context = None
        trace_id = generator.generate_trace_id()
    else:
        trace_id = parent_context.trace_id
    sampler = provider.sampler
    bound = getattr(sampler, "bound", None)
    if bound is not None:
        # ParentBased(TraceIdRatioBased): follow the parent, else compare the trace id.
        if parent_context is not None:
            sampled = bool(parent_context.trace_flags & TraceFlags.SAMPLED)
            state = parent_context.trace_state
        else:
            sampled = trace_id & _TRACE_ID_LIMIT < bound
            state = None
    else:
        parent = parent_or_remote(parent, parent_context)
        result = sampler.should_sample(parent, trace_id, name, SpanKind.SERVER, attributes)
        sampled = result.decision is Decision.RECORD_AND_SAMPLE
        state = result.trace_state
        if result.decision is Decision.DROP:
            sampled = False
        elif result.attributes:
            attributes.update(result.attributes)
        if result.decision is Decision.RECORD_ONLY:
            args = (provider, name, parent, parent_context, attributes, trace_id)
            return _start(*args, False, state, 0, sole)
    # W3C level 2: flag trace ids known to be random, as the SDK's tracer does.
    if parent_context is None:
        random = generator.is_trace_id_random()
    else:
        random = bool(parent_context.trace_flags & TraceFlags.RANDOM_TRACE_ID)
    extra = TraceFlags.RANDOM_TRACE_ID if random else 0
    if not sampled:
        context = make_span_context(
            trace_id, generator.generate_span_id(), False, TraceFlags.DEFAULT | extra, state
        )
        return trace.NonRecordingSpan(context)
    return _start(
        provider, name, parent, parent_context, attributes, trace_id, True, state, extra, sole
    )


def parent_or_remote(parent: Context | None, remote: SpanContext | None) -> Context | None:
    """``parent``, or a context holding just the remote parent span when only that is known."""
    if parent is None and remote is not None:
        return trace.set_span_in_context(trace.NonRecordingSpan(remote))
    return parent


def _start(
    provider: _Provider,
    name: str,
    parent: Context | None,
    parent_context: SpanContext | None,
    attributes: dict[str, types.AttributeValue],
    trace_id: int,
    sampled: bool,
    state: TraceState | None,
    extra_flags: int,
    sole: SpanProcessor | None,
) -> ServerSpan:
    flags = (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT) | extra_flags
    context = make_span_context(
        trace_id, provider.id_generator.generate_span_id(), False, flags, state
    )
    if sole is not None:  # only our processor, whose on_start does nothing
        return ServerSpan(
            name, context, parent_context, attributes, SpanKind.SERVER, sole, provider.resource
        )
    processor = provider.processor
    span = ServerSpan(
        name, context, parent_context, attributes, SpanKind.SERVER, processor, provider.resource
    )
    processor.on_start(span, parent_or_remote(parent, parent_context))  # type: ignore[arg-type]
    return span
