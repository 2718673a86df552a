"""``Policy``: several resilience policies applied in one fixed, documented order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import ParamSpec, TypeVar

from ._breaker import CircuitBreaker
from ._bulkhead import Bulkhead
from ._fallback import Fallback
from ._retry import Retry
from ._timeout import Timeout

__all__ = ["Policy"]

P = ParamSpec("P")
R = TypeVar("R")

Component = Fallback | Timeout | Retry | CircuitBreaker | Bulkhead

SLOTS = ("fallback", "overall timeout", "retry", "circuit breaker", "attempt timeout", "bulkhead")
"""From the outside in: the first wraps all the others, the bulkhead wraps the call."""


def _slot(component: object) -> str:
    if isinstance(component, Fallback):
        return "fallback"
    if isinstance(component, Timeout):
        return f"{component.scope} timeout"
    if isinstance(component, Retry):
        return "retry"
    if isinstance(component, CircuitBreaker):
        return "circuit breaker"
    if isinstance(component, Bulkhead):
        return "bulkhead"
    raise TypeError(
        "Policy takes configured policies such as retry(...), circuit_breaker(...), "
        f"bulkhead(...), timeout(...), fallback(...); got {component!r}"
    )


class Policy:
    """Compose policies; the order of the arguments does not matter. From the outside in:

    ``fallback`` > ``timeout(scope="overall")`` > ``retry`` > ``circuit_breaker`` >
    ``timeout`` (per attempt, the default scope) > ``bulkhead`` > the call.

    So the fallback answers for everything (open circuit, timeout, full bulkhead, the last
    error after retries); every retry attempt passes the breaker and has its own time limit;
    the bulkhead bounds the calls actually running.
    """

    def __init__(self, *components: Component) -> None:
        slots: dict[str, Component] = {}
        for component in components:
            slot = _slot(component)
            if slot in slots:
                raise ValueError(f"Policy got two {slot} components")
            slots[slot] = component
        self._slots = slots
        self.components: tuple[Component, ...] = tuple(
            slots[name] for name in SLOTS if name in slots
        )
        """The components from the outside in."""
        self._sync: ContextVar[tuple[contextlib.ExitStack, ...]] = ContextVar(
            f"erp_policy_{id(self)}"
        )
        self._async: ContextVar[tuple[contextlib.AsyncExitStack, ...]] = ContextVar(
            f"erp_apolicy_{id(self)}"
        )

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        wrapped = fn
        for component in reversed(self.components):
            wrapped = component(wrapped)
        return wrapped

    def __repr__(self) -> str:
        return "Policy(" + ", ".join(_slot(c) for c in self.components) + ")"

    # -- context managers: only what can guard a block of code ------------------------------
    def _block_components(self, asynchronous: bool) -> list[Component]:
        blocked: list[str] = [name for name in ("fallback", "retry") if name in self._slots]
        if not asynchronous:
            blocked += [name for name in self._slots if name.endswith("timeout")]
        if blocked:
            form = "async with" if asynchronous else "with"
            raise TypeError(
                f"{', '.join(blocked)} cannot guard a '{form}' block (a block cannot be "
                "re-run, replaced or interrupted); decorate a function with the Policy instead"
            )
        return list(self.components)

    def __enter__(self) -> Policy:
        with contextlib.ExitStack() as stack:
            for component in self._block_components(asynchronous=False):
                stack.enter_context(component)  # type: ignore[arg-type]
            self._sync.set((*self._sync.get(()), stack.pop_all()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        stacks = self._sync.get()
        self._sync.set(stacks[:-1])
        return bool(stacks[-1].__exit__(exc_type, exc, tb))

    async def __aenter__(self) -> Policy:
        async with contextlib.AsyncExitStack() as stack:
            for component in self._block_components(asynchronous=True):
                await stack.enter_async_context(component)  # type: ignore[arg-type]
            self._async.set((*self._async.get(()), stack.pop_all()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        stacks = self._async.get()
        self._async.set(stacks[:-1])
        return bool(await stacks[-1].__aexit__(exc_type, exc, tb))
