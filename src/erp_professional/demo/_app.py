from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..connections import MissingDependencyError
from ..hub import Professional, integrate

try:
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel, Field
except ImportError:  # pragma: no cover - the demo extra installs FastAPI
    raise MissingDependencyError("fastapi", "demo", "the demo service") from None


class LineIn(BaseModel):
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0, le=1_000_000)
    unit_price: Decimal = Field(gt=0, max_digits=12, decimal_places=2)


class InvoiceIn(BaseModel):
    customer: str = Field(min_length=1, max_length=200)
    due: date | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=100)


class Invoice(BaseModel):
    id: int
    customer: str
    due: date | None
    lines: list[LineIn]
    total: Decimal
    status: str
    created_at: datetime
    paid_at: datetime | None = None


class InvoiceBook:
    """The invoices of the demo, kept in memory (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._invoices: dict[int, Invoice] = {}
        self._next = 1

    def create(self, data: InvoiceIn) -> Invoice:
        total = sum((line.unit_price * line.quantity for line in data.lines), Decimal("0"))
        with self._lock:
            invoice = Invoice(
                id=self._next,
                customer=data.customer,
                due=data.due,
                lines=data.lines,
                total=total,
                status="open",
                created_at=datetime.now(UTC),
            )
            self._invoices[invoice.id] = invoice
            self._next += 1
        return invoice

    def list(self) -> list[Invoice]:
        with self._lock:
            return list(self._invoices.values())

    def get(self, invoice_id: int) -> Invoice | None:
        with self._lock:
            return self._invoices.get(invoice_id)

    def pay(self, invoice_id: int) -> Invoice | None:
        with self._lock:
            invoice = self._invoices.get(invoice_id)
            if invoice is None:
                return None
            if invoice.status != "paid":
                invoice = invoice.model_copy(
                    update={"status": "paid", "paid_at": datetime.now(UTC)}
                )
                self._invoices[invoice_id] = invoice
            return invoice


def create_app(**overrides: Any) -> FastAPI:
    """The demo app with the toolkit integrated; ``overrides`` go to ``integrate()``."""
    app = FastAPI(title="ERP demo service", version="1.0.0")
    book = InvoiceBook()

    @app.post("/invoices", status_code=201)
    def create_invoice(data: InvoiceIn) -> Invoice:
        return book.create(data)

    @app.get("/invoices")
    def list_invoices() -> list[Invoice]:
        return book.list()

    @app.get("/invoices/{invoice_id}")
    def get_invoice(invoice_id: int) -> Invoice:
        invoice = book.get(invoice_id)
        if invoice is None:
            raise HTTPException(404, f"invoice {invoice_id} does not exist")
        return invoice

    @app.post("/invoices/{invoice_id}/pay")
    def pay_invoice(invoice_id: int) -> Invoice:
        invoice = book.pay(invoice_id)
        if invoice is None:
            raise HTTPException(404, f"invoice {invoice_id} does not exist")
        return invoice

    settings: dict[str, Any] = {"service__name": "erp-demo", "service__version": "1.0.0"}
    settings.update(overrides)
    pro: Professional = integrate(app, **settings)
    app.state.professional = pro
    app.state.invoices = book
    return app
