"""Audit records as events in an event store (``erp_professional.events``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from ._hooks import AuditRecord

__all__ = ["EVENT_TYPES", "EventRecorder", "audit_to_event_store"]

EVENT_TYPES = {
    "set": "FlagSet",
    "delete": "FlagDeleted",
    "kill": "FlagKilled",
    "unleash-events": "FlagsReplaced",
}


class EventRecorder(Protocol):
    """What an audit sink needs: ``EventStore.record`` fits."""

    def record(
        self,
        *,
        event_type: str,
        aggregate_type: str,
        aggregate_id: object,
        payload: Mapping[str, object] | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> object: ...


def audit_to_event_store(
    store: EventRecorder, aggregate_type: str = "flag"
) -> Callable[[AuditRecord], None]:
    """An audit hook appending each record to the stream ``flag-<name>``."""

    def record(entry: AuditRecord) -> None:
        store.record(
            event_type=EVENT_TYPES.get(entry.action, "FlagChanged"),
            aggregate_type=aggregate_type,
            aggregate_id=entry.flag,
            payload=entry.to_dict(),
            metadata={"actor": entry.actor},
        )

    return record
