from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from erp_professional.resilience import CircuitBreaker, CircuitOpenError, fallback


def test_value_and_handler() -> None:
    @fallback(0)
    def price() -> int:
        raise ConnectionError

    assert price() == 0

    @fallback(lambda exc: f"cached after {type(exc).__name__}")
    def quote() -> str:
        raise TimeoutError

    assert quote() == "cached after TimeoutError"


def test_only_listed_errors_fall_back() -> None:
    @fallback("x", on=ConnectionError)
    def call(exc: Exception) -> str:
        raise exc

    assert call(ConnectionError()) == "x"
    with pytest.raises(ValueError):
        call(ValueError())


def test_open_circuit_falls_back() -> None:
    breaker = CircuitBreaker("fb", register=False)
    breaker.force_open()

    @fallback(lambda exc: isinstance(exc, CircuitOpenError))
    @breaker
    def call() -> bool:
        return False

    assert call() is True


@pytest.mark.anyio
async def test_async_with_async_handler() -> None:
    async def handler(exc: BaseException) -> str:
        return "async fallback"

    @fallback(handler)
    async def call() -> str:
        raise ConnectionError

    assert await call() == "async fallback"


def test_generator_yields_fallback_items_for_the_rest() -> None:
    @fallback([9, 9])
    def items() -> Iterator[int]:
        yield 1
        raise ConnectionError

    assert list(items()) == [1, 9, 9]


@pytest.mark.anyio
async def test_async_generator_fallback() -> None:
    async def more(exc: BaseException) -> AsyncIterator[int]:
        yield 7

    @fallback(lambda exc: more(exc))
    async def items() -> AsyncIterator[int]:
        yield 1
        raise ConnectionError

    assert [item async for item in items()] == [1, 7]

    @fallback([5])
    async def plain() -> AsyncIterator[int]:
        raise ConnectionError
        yield 0

    assert [item async for item in plain()] == [5]


def test_bad_on() -> None:
    with pytest.raises(TypeError):
        fallback(1, on=("nope",))  # type: ignore[arg-type]


def test_async_handler_on_a_sync_function_is_refused_at_decoration() -> None:
    async def handler(exc: BaseException) -> int:
        return 1

    def call() -> int:
        return 0

    with pytest.raises(TypeError, match="cannot await"):
        fallback(handler)(call)
