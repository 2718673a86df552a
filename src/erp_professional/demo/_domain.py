"""The invoice aggregate of the demo: commands produce events, ``apply`` methods fold them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from ..events import Aggregate, applies, event_type


@event_type("InvoiceCreated")
class InvoiceCreated(BaseModel):
    customer: str
    due: date | None = None
    created_at: datetime


@event_type("InvoiceLineAdded")
class InvoiceLineAdded(BaseModel):
    description: str
    quantity: int
    unit_price: Decimal


@event_type("InvoicePaid")
class InvoicePaid(BaseModel):
    paid_at: datetime


class LineIn(BaseModel):
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0, le=1_000_000)
    unit_price: Decimal = Field(gt=0, max_digits=12, decimal_places=2)


class InvoiceIn(BaseModel):
    customer: str = Field(min_length=1, max_length=200)
    due: date | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=100)


class Invoice(BaseModel):
    id: str
    customer: str
    due: date | None
    lines: list[LineIn]
    total: Decimal
    status: str
    created_at: datetime | None
    paid_at: datetime | None = None
    version: int


class InvoiceError(ValueError):
    """A command that the invoice's current state does not allow."""


class InvoiceAggregate(Aggregate):
    aggregate_type = "invoice"
    snapshot_every = 0  # a few events per invoice: loading from events is cheap

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.customer = ""
        self.due: date | None = None
        self.lines: list[LineIn] = []
        self.status = "new"
        self.created_at: datetime | None = None
        self.paid_at: datetime | None = None

    # -- commands ------------------------------------------------------------------------
    def create(self, data: InvoiceIn, now: datetime) -> None:
        if self.status != "new":
            raise InvoiceError(f"invoice {self.id} already exists")
        self.trigger(InvoiceCreated(customer=data.customer, due=data.due, created_at=now))
        for line in data.lines:
            self.add_line(line)

    def add_line(self, line: LineIn) -> None:
        if self.status == "paid":
            raise InvoiceError(f"invoice {self.id} is paid: no more lines")
        self.trigger(
            InvoiceLineAdded(
                description=line.description, quantity=line.quantity, unit_price=line.unit_price
            )
        )

    def pay(self, now: datetime) -> None:
        if self.status != "paid":
            self.trigger(InvoicePaid(paid_at=now))

    # -- state ---------------------------------------------------------------------------
    @applies(InvoiceCreated)
    def _created(self, event: InvoiceCreated) -> None:
        self.customer = event.customer
        self.due = event.due
        self.created_at = event.created_at
        self.status = "open"

    @applies(InvoiceLineAdded)
    def _line(self, event: InvoiceLineAdded) -> None:
        self.lines.append(
            LineIn(
                description=event.description,
                quantity=event.quantity,
                unit_price=event.unit_price,
            )
        )

    @applies(InvoicePaid)
    def _paid(self, event: InvoicePaid) -> None:
        self.status = "paid"
        self.paid_at = event.paid_at

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))

    def view(self) -> Invoice:
        return Invoice(
            id=self.id,
            customer=self.customer,
            due=self.due,
            lines=list(self.lines),
            total=self.total,
            status=self.status,
            created_at=self.created_at,
            paid_at=self.paid_at,
            version=self.version,
        )
