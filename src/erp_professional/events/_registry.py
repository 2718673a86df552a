"""Typed events: registered type names, JSON encoding and upcasters by (type, schema_version)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

T = TypeVar("T", bound=type[Any])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    """An event type name (or class) that was never registered."""


class EventRegistry:
    """Maps event classes (pydantic models or dataclasses) to stored type names.

    Each class has a current ``schema_version``; stored data of an older version is brought
    up to date by the upcasters registered for ``(type, version)``, one step at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, tuple[type[Any], int]] = {}
        self._by_class: dict[type[Any], tuple[str, int]] = {}
        self._adapters: dict[type[Any], TypeAdapter[Any]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._snapshot_upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, name: str | None = None, *, schema_version: int = 1) -> Callable[[T], T]:
        """Class decorator: store instances under ``name`` (default: the class name)."""
        if schema_version < 1:
            raise ValueError("schema_version must be >= 1")

        def decorate(cls: T) -> T:
            if not (isinstance(cls, type) and issubclass(cls, BaseModel)) and not (
                dataclasses.is_dataclass(cls)
            ):
                raise TypeError(f"{cls!r} must be a pydantic model or a dataclass")
            type_name = name or cls.__name__
            with self._lock:
                known = self._by_name.get(type_name)
                if known is not None and known[0] is not cls:
                    raise ValueError(f"event type {type_name!r} is already {known[0]!r}")
                self._by_name[type_name] = (cls, schema_version)
                self._by_class[cls] = (type_name, schema_version)
                self._adapters[cls] = TypeAdapter(cls)
            return cls

        return decorate

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: a function turning ``type_name`` data of ``from_version`` into the next."""
        return self._add(self._upcasters, type_name, from_version)

    def snapshot_upcaster(
        self, aggregate_type: str, from_version: int
    ) -> Callable[[Upcaster], Upcaster]:
        """Decorator: upgrade a snapshot state of ``aggregate_type`` from ``from_version``."""
        return self._add(self._snapshot_upcasters, aggregate_type, from_version)

    def _add(
        self, table: dict[tuple[str, int], Upcaster], type_name: str, version: int
    ) -> Callable[[Upcaster], Upcaster]:
        def decorate(fn: Upcaster) -> Upcaster:
            with self._lock:
                if (type_name, version) in table:
                    raise ValueError(f"an upcaster for {type_name!r} v{version} exists")
                table[(type_name, version)] = fn
            return fn

        return decorate

    def name_of(self, event: object) -> tuple[str, int]:
        """The registered type name and current schema version of an event instance."""
        try:
            return self._by_class[type(event)]
        except KeyError:
            raise UnknownEventType(f"{type(event).__name__} is not a registered event") from None

    def encode(self, event: object) -> tuple[str, int, dict[str, Any]]:
        """(type name, schema version, JSON data) of an event instance."""
        name, version = self.name_of(event)
        data = self._adapters[type(event)].dump_python(event, mode="json")
        return name, version, data

    def decode(self, type_name: str, schema_version: int, data: Mapping[str, Any]) -> object:
        """An event instance from stored data, upcast to the class's current version."""
        try:
            cls, current = self._by_name[type_name]
        except KeyError:
            raise UnknownEventType(f"event type {type_name!r} is not registered") from None
        upgraded = upcast(self._upcasters, type_name, schema_version, current, dict(data))
        return self._adapters[cls].validate_python(upgraded)

    def upcast_snapshot(
        self, aggregate_type: str, version: int, target: int, state: dict[str, Any]
    ) -> dict[str, Any]:
        return upcast(self._snapshot_upcasters, aggregate_type, version, target, state)

    def known(self, type_name: str) -> bool:
        return type_name in self._by_name


def upcast(
    table: Mapping[tuple[str, int], Upcaster],
    type_name: str,
    version: int,
    target: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    if version > target:
        raise ValueError(
            f"{type_name!r} data has schema version {version}, newer than this code ({target})"
        )
    while version < target:
        step = table.get((type_name, version))
        if step is None:
            raise LookupError(f"no upcaster for {type_name!r} from schema version {version}")
        data = step(data)
        version += 1
    return data


default_registry = EventRegistry()
event_type = default_registry.register
upcaster = default_registry.upcaster
snapshot_upcaster = default_registry.snapshot_upcaster
