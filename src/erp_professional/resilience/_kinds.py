"""Detect the four kinds of callables a decorator has to handle."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Literal

__all__ = ["Kind", "kind_of"]

Kind = Literal["sync", "async", "generator", "async_generator"]


def kind_of(fn: Callable[..., object]) -> Kind:
    """Which kind of function ``fn`` is (looking through ``functools.partial`` and wrappers)."""
    target = inspect.unwrap(fn)
    if inspect.isasyncgenfunction(target):
        return "async_generator"
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isgeneratorfunction(target):
        return "generator"
    return "sync"
