"""Aggregates, repositories, snapshots and upcasters on every backend."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from erp_professional.events import (
    NO_STREAM,
    Aggregate,
    AggregateNotFound,
    AsyncEventStore,
    AsyncRepository,
    EventRegistry,
    EventStore,
    NewEvent,
    Repository,
    UnknownEventType,
    WrongExpectedVersion,
    applies,
)
from tests.events.conftest import Target

registry = EventRegistry()


@registry.register("InvoiceCreated")
class InvoiceCreated(BaseModel):
    customer: str


@registry.register("LineAdded", schema_version=2)
class LineAdded(BaseModel):
    sku: str
    amount: Decimal
    quantity: int


@registry.register("InvoicePaid")
@dataclasses.dataclass(frozen=True)
class InvoicePaid:
    reference: str


@registry.upcaster("LineAdded", 1)
def _line_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "quantity": 1}


class Invoice(Aggregate):
    aggregate_type = "invoice"
    snapshot_every = 3

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.customer = ""
        self.total = "0"
        self.paid = False

    @classmethod
    def create(cls, id: str, customer: str) -> Invoice:
        invoice = cls(id)
        invoice.trigger(InvoiceCreated(customer=customer))
        return invoice

    def add_line(self, sku: str, amount: Decimal, quantity: int = 1) -> None:
        if self.paid:
            raise ValueError("invoice already paid")
        self.trigger(LineAdded(sku=sku, amount=amount, quantity=quantity))

    def pay(self, reference: str) -> None:
        self.trigger(InvoicePaid(reference))

    @applies(InvoiceCreated)
    def _created(self, event: InvoiceCreated) -> None:
        self.customer = event.customer

    def apply_LineAdded(self, event: LineAdded) -> None:
        self.total = str(Decimal(self.total) + event.amount * event.quantity)

    @applies(InvoicePaid)
    def _paid(self, event: InvoicePaid) -> None:
        self.paid = True


@pytest.fixture
def repo(store: EventStore) -> Repository[Invoice]:
    return Repository(store, Invoice, registry=registry)


def test_save_and_load_round_trip(repo: Repository[Invoice], store: EventStore) -> None:
    invoice = Invoice.create("1", "acme")
    invoice.add_line("A", Decimal("2.50"), 2)
    result = repo.save(invoice, metadata={"actor": "ann"})
    assert result is not None and result.version == 2
    assert invoice.pending_events == ()
    loaded = repo.load("1")
    assert (loaded.customer, loaded.total, loaded.paid, loaded.version) == (
        "acme",
        "5.00",
        False,
        2,
    )
    loaded.pay("ref-1")
    repo.save(loaded)
    events = store.read_stream("invoice-1")
    assert [e.type for e in events] == ["InvoiceCreated", "LineAdded", "InvoicePaid"]
    assert events[1].metadata.schema_version == 2
    assert events[0].metadata.actor == "ann"
    assert repo.load("1").paid is True
    assert repo.save(repo.load("1")) is None


def test_concurrent_modification_is_refused(repo: Repository[Invoice]) -> None:
    repo.save(Invoice.create("2", "acme"))
    first, second = repo.load("2"), repo.load("2")
    first.add_line("A", Decimal(1))
    repo.save(first)
    second.add_line("B", Decimal(1))
    with pytest.raises(WrongExpectedVersion) as info:
        repo.save(second)
    assert (info.value.expected, info.value.actual) == (1, 2)
    duplicate = Invoice.create("2", "other")
    with pytest.raises(WrongExpectedVersion) as info:
        repo.save(duplicate)
    assert info.value.expected is NO_STREAM


def test_missing_aggregate(repo: Repository[Invoice]) -> None:
    with pytest.raises(AggregateNotFound):
        repo.load("nope")
    assert repo.get("nope") is None


def test_snapshots_are_taken_used_discarded_and_rebuilt(
    repo: Repository[Invoice], store: EventStore
) -> None:
    invoice = Invoice.create("3", "acme")
    invoice.add_line("A", Decimal(1))
    repo.save(invoice)
    assert store.load_snapshot("invoice-3") is None
    invoice.add_line("B", Decimal(2))
    repo.save(invoice)
    snapshot = store.load_snapshot("invoice-3")
    assert snapshot is not None and snapshot.version == 3
    assert snapshot.state["total"] == "3"
    # A snapshot is trusted on load: prove it by planting a different state.
    store.save_snapshot(dataclasses.replace(snapshot, state={**snapshot.state, "customer": "X"}))
    assert repo.load("3").customer == "X"
    assert repo.discard_snapshots() == 1
    assert repo.load("3").customer == "acme"
    rebuilt = repo.take_snapshot("3")
    assert (rebuilt.version, rebuilt.state["customer"]) == (3, "acme")
    loaded = repo.load("3")
    loaded.add_line("C", Decimal(4))
    repo.save(loaded)
    assert repo.load("3").total == "7"


def test_unusable_snapshot_falls_back_to_events(
    repo: Repository[Invoice], store: EventStore
) -> None:
    invoice = Invoice.create("4", "acme")
    invoice.add_line("A", Decimal(1))
    invoice.add_line("A", Decimal(1))
    repo.save(invoice)
    snapshot = store.load_snapshot("invoice-4")
    assert snapshot is not None
    store.save_snapshot(dataclasses.replace(snapshot, schema_version=7))
    assert repo.load("4").total == "2"


def test_upcaster_upgrades_old_events(repo: Repository[Invoice], store: EventStore) -> None:
    store.append(
        "invoice-5",
        [
            NewEvent("InvoiceCreated", {"customer": "old"}),
            NewEvent("LineAdded", {"sku": "A", "amount": "4.5"}, {"schema_version": 1}),
        ],
    )
    loaded = repo.load("5")
    assert loaded.total == "4.5"


def test_unknown_event_types_are_clear(repo: Repository[Invoice], store: EventStore) -> None:
    store.append("invoice-6", [NewEvent("Mystery", {})])
    with pytest.raises(UnknownEventType):
        repo.load("6")

    class NotRegistered(BaseModel):
        x: int

    invoice = Invoice.create("7", "acme")
    invoice._pending.append(NotRegistered(x=1))
    with pytest.raises(UnknownEventType):
        repo.save(invoice)
    assert store.read_stream("invoice-7") == []


def test_registry_rejects_bad_registrations() -> None:
    with pytest.raises(TypeError):
        registry.register("Nope")(int)
    with pytest.raises(ValueError, match="already"):

        @registry.register("InvoiceCreated")
        class Other(BaseModel):
            pass

    with pytest.raises(ValueError, match="exists"):
        registry.upcaster("LineAdded", 1)(lambda d: d)


def test_missing_handler_is_a_clear_error() -> None:
    class Bare(Aggregate):
        pass

    with pytest.raises(TypeError, match="no handler"):
        Bare("1").trigger(InvoicePaid("r"))


@pytest.mark.anyio
async def test_async_repository(target: Target) -> None:
    async with AsyncEventStore(target.url, table_prefix=target.prefix) as store:
        repo = AsyncRepository(store, Invoice, registry=registry)
        invoice = Invoice.create("9", "acme")
        for n in range(4):
            invoice.add_line(f"S{n}", Decimal(1))
        await repo.save(invoice)
        assert (await store.load_snapshot("invoice-9")) is not None
        loaded = await repo.load("9")
        assert (loaded.total, loaded.version) == ("4", 5)
        assert await repo.get("none") is None
        assert await repo.discard_snapshots() == 1
        assert (await repo.take_snapshot("9")).version == 5


class Ledger(Aggregate):
    snapshot_every = 2

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.balance = Decimal(0)
        self.lines: list[str] = []

    def add(self, amount: Decimal) -> None:
        self.trigger(LineAdded(sku="x", amount=amount, quantity=1))

    @applies(LineAdded)
    def _added(self, event: LineAdded) -> None:
        self.balance += event.amount
        self.lines.append(str(event.amount))


def test_default_snapshot_restores_attribute_types(store: EventStore) -> None:
    repo = Repository(store, Ledger, registry=registry)
    ledger = Ledger("1")
    ledger.add(Decimal("1.25"))
    ledger.add(Decimal("2.50"))
    repo.save(ledger)
    snapshot = store.load_snapshot("Ledger-1")
    assert snapshot is not None and snapshot.state == {"balance": "3.75", "lines": ["1.25", "2.50"]}
    loaded = repo.load("1")
    assert loaded.balance == Decimal("3.75") and isinstance(loaded.balance, Decimal)
    loaded.add(Decimal("1"))
    repo.save(loaded)
    assert repo.load("1").balance == Decimal("4.75")
