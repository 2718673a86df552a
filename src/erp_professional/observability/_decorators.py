"""``@traced`` and ``span()``: spans for functions and blocks, sync and async alike."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

__all__ = ["SpanContextManager", "span", "traced"]

F = TypeVar("F", bound=Callable[..., Any])

_tracer: trace.Tracer | None = None


def _get_tracer() -> trace.Tracer:
    """The real erp_professional tracer once a provider is installed (cached), else a proxy."""
    global _tracer
    if _tracer is not None:
        return _tracer
    provider = trace.get_tracer_provider()
    tracer = provider.get_tracer("erp_professional")
    if not isinstance(provider, ProxyTracerProvider):
        _tracer = tracer
    return tracer


def _record_error(span: Span, exc: BaseException) -> None:
    if span.is_recording():
        span.record_exception(exc)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@overload
def traced(func: F, /) -> F: ...


@overload
def traced(
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Callable[[F], F]: ...


def traced(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> F | Callable[[F], F]:
    """Run each call of the function in a span named after its qualified name.

    Works on sync, async, generator and async-generator functions (a generator's span
    covers its whole iteration, and is current only while the generator runs). An
    exception is recorded on the span with error status and ``error.type``, then
    re-raised. Signature and type are kept::

        @traced
        def price(order: Order) -> Decimal: ...

        @traced(name="pricing.quote", attributes={"pricing.engine": "v2"})
        async def quote(order: Order) -> Quote: ...
    """
    if func is not None:
        return _decorate(func, None, None, SpanKind.INTERNAL)
    return lambda f: _decorate(f, name, attributes, kind)


def _decorate(
    func: F, name: str | None, attributes: Mapping[str, AttributeValue] | None, kind: SpanKind
) -> F:
    if not callable(func):
        raise TypeError(f"@traced needs a function, got {type(func).__name__}")
    span_name = name or getattr(func, "__qualname__", None) or repr(func)
    attrs = dict(attributes) if attributes else None
    attach, detach, set_in = otel_context.attach, otel_context.detach, trace.set_span_in_context

    if inspect.isasyncgenfunction(func):
        agen_func = cast(Callable[..., AsyncGenerator[Any, Any]], func)

        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            span = (_tracer or _get_tracer()).start_span(span_name, kind=kind, attributes=attrs)
            ctx = set_in(span)
            token = attach(ctx)
            try:
                gen = agen_func(*args, **kwargs)
            finally:
                detach(token)
            try:
                sent: Any = None
                while True:
                    token = attach(ctx)
                    try:
                        value = await gen.asend(sent)
                    except StopAsyncIteration:
                        return
                    finally:
                        detach(token)
                    try:
                        sent = yield value
                    except GeneratorExit:
                        token = attach(ctx)
                        try:
                            await gen.aclose()
                        finally:
                            detach(token)
                        raise
                    except BaseException as exc:
                        token = attach(ctx)
                        try:
                            value = await gen.athrow(exc)
                        except StopAsyncIteration:
                            return
                        finally:
                            detach(token)
                        sent = yield value
            except GeneratorExit:
                raise
            except BaseException as exc:
                _record_error(span, exc)
                raise
            finally:
                span.end()

        return cast(F, agen_wrapper)

    if inspect.isgeneratorfunction(func):
        gen_func = cast(Callable[..., Generator[Any, Any, Any]], func)

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            span = (_tracer or _get_tracer()).start_span(span_name, kind=kind, attributes=attrs)
            ctx = set_in(span)
            token = attach(ctx)
            try:
                gen = gen_func(*args, **kwargs)
            finally:
                detach(token)
            try:
                method: Callable[[Any], Any] = gen.send
                arg: Any = None
                while True:
                    token = attach(ctx)
                    try:
                        value = method(arg)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        detach(token)
                    try:
                        arg = yield value
                        method = gen.send
                    except GeneratorExit:
                        token = attach(ctx)
                        try:
                            gen.close()
                        finally:
                            detach(token)
                        raise
                    except BaseException as exc:
                        method, arg = gen.throw, exc
            except GeneratorExit:
                raise
            except BaseException as exc:
                _record_error(span, exc)
                raise
            finally:
                span.end()

        return cast(F, gen_wrapper)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = (_tracer or _get_tracer()).start_span(span_name, kind=kind, attributes=attrs)
            token = attach(set_in(span))
            try:
                return await func(*args, **kwargs)
            except BaseException as exc:
                _record_error(span, exc)
                raise
            finally:
                span.end()
                detach(token)

        return cast(F, async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = (_tracer or _get_tracer()).start_span(span_name, kind=kind, attributes=attrs)
        token = attach(set_in(span))
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            _record_error(span, exc)
            raise
        finally:
            span.end()
            detach(token)

    return cast(F, wrapper)


class SpanContextManager:
    """A span as a sync or async context manager; ``as`` gives the :class:`Span`."""

    __slots__ = ("_attributes", "_kind", "_name", "_span", "_token")

    def __init__(
        self, name: str, attributes: dict[str, AttributeValue] | None, kind: SpanKind
    ) -> None:
        self._name = name
        self._attributes = attributes
        self._kind = kind
        self._span: Span | None = None
        self._token: object = None

    def __enter__(self) -> Span:
        if self._span is not None:
            raise RuntimeError(f"span {self._name!r} is already entered")
        span = (_tracer or _get_tracer()).start_span(
            self._name, kind=self._kind, attributes=self._attributes
        )
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        assert span is not None
        if exc is not None:
            _record_error(span, exc)
        span.end()
        otel_context.detach(self._token)  # type: ignore[arg-type]

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    /,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    **attrs: AttributeValue,
) -> SpanContextManager:
    """A span around a block, for ``with`` and ``async with``::

        with span("invoice.render", invoice_id=42) as s:
            s.set_attribute("pages", 3)

    Attribute names with dots go in the mapping: ``span("q", {"db.system": "postgresql"})``.
    An exception leaving the block is recorded and sets error status.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a span needs a non-empty name")
    merged: dict[str, AttributeValue] | None = None
    if attributes or attrs:
        merged = {**(attributes or {}), **attrs}
    return SpanContextManager(name, merged, kind)
