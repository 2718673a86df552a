"""``Aggregate``: commands record events, ``apply`` methods fold them into state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

F = TypeVar("F", bound=Callable[..., None])


def applies(event_cls: type[Any]) -> Callable[[F], F]:
    """Method decorator: this method folds events of ``event_cls`` into the aggregate."""

    def decorate(fn: F) -> F:
        fn.__dict__["_erp_applies"] = event_cls
        return fn

    return decorate


class Aggregate:
    """Base of event-sourced aggregates.

    Subclasses set ``aggregate_type`` (default: the class name), write commands that call
    :meth:`trigger` with event instances, and fold events in methods decorated with
    :func:`applies` or named ``apply_<EventClassName>``. State must change only there, so
    that loading from events rebuilds it. ``snapshot_every`` overrides the repository's
    snapshot policy (0 = never). Override :meth:`snapshot_state` / :meth:`restore_state`
    when the default (public attributes as JSON) does not fit, and bump
    ``snapshot_version`` when the snapshot shape changes.
    """

    aggregate_type: ClassVar[str] = ""
    snapshot_every: ClassVar[int | None] = None
    snapshot_version: ClassVar[int] = 1
    _handlers: ClassVar[dict[type[Any], str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "aggregate_type" not in cls.__dict__ or not cls.__dict__["aggregate_type"]:
            cls.aggregate_type = cls.__name__
        handlers = dict(getattr(cls, "_handlers", {}))
        for attr, value in cls.__dict__.items():
            target = getattr(value, "_erp_applies", None)
            if target is not None:
                handlers[target] = attr
        cls._handlers = handlers

    def __init__(self, id: str) -> None:
        self.id = str(id)
        self.version = 0
        self._pending: list[object] = []

    @property
    def stream_id(self) -> str:
        return f"{self.aggregate_type}-{self.id}"

    @property
    def pending_events(self) -> tuple[object, ...]:
        """Events triggered since the last save."""
        return tuple(self._pending)

    def trigger(self, event: object) -> None:
        """Record a new event: fold it into the state now, store it on the next save."""
        self.apply(event)
        self._pending.append(event)

    def apply(self, event: object) -> None:
        """Fold one event into the state (dispatches to the matching method)."""
        for cls in type(event).__mro__:
            name = self._handlers.get(cls)
            if name is not None:
                break
        else:
            name = f"apply_{type(event).__name__}"
        method = getattr(self, name, None)
        if method is None:
            raise TypeError(
                f"{type(self).__name__} has no handler for {type(event).__name__}: "
                f"add @applies({type(event).__name__}) or an apply_{type(event).__name__} method"
            )
        method(event)
        self.version += 1

    def mark_saved(self) -> list[object]:
        """Hand over the pending events (called by the repository after a save)."""
        pending, self._pending = self._pending, []
        return pending

    def snapshot_state(self) -> dict[str, Any]:
        """The JSON state stored in a snapshot (default: public attributes)."""
        state = {
            k: v
            for k, v in vars(self).items()
            if not k.startswith("_") and k not in ("id", "version")
        }
        result: dict[str, Any] = to_jsonable_python(state)
        return result

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`snapshot_state` output (default: set the attributes).

        A value is converted back to the type of the attribute's initial value (set by
        ``__init__``), so ``Decimal``, ``datetime``, ``UUID`` and pydantic models survive
        the JSON round trip.
        """
        for key, value in state.items():
            current = getattr(self, key, None)
            if current is not None and value is not None and not isinstance(value, type(current)):
                value = _adapter(type(current)).validate_python(value)
            setattr(self, key, value)


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter
