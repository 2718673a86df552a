"""Switch the event store on for a :class:`~erp_professional.hub.Professional`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._store import EventStore

if TYPE_CHECKING:
    from ..hub import Professional

__all__ = ["install"]


def install(pro: Professional) -> None:
    """Register ``pro.events``: an :class:`EventStore` opened on first use.

    Nothing is opened (no SQLite file is created) until the app uses ``pro.events``; once
    opened, the store is closed at shutdown.
    """
    config = pro.config.events
    opened: list[EventStore] = []

    def build() -> EventStore:
        store = EventStore(config=config)
        opened.append(store)
        return store

    def close() -> None:
        for store in opened:
            store.close()

    pro.register_factory("events", build)
    pro.on_shutdown(close)
