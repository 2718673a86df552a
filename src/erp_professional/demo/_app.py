from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from ..connections import MissingDependencyError
from ..events import EventStore, Repository
from ..flags import FeatureFlags, Flag
from ..health import HealthRegistry, SqlCheck
from ..hub import Professional, integrate
from ..queue import Queue
from ._domain import Invoice, InvoiceAggregate, InvoiceError, InvoiceIn, LineIn

try:
    from fastapi import FastAPI, HTTPException
except ImportError:  # pragma: no cover - the demo extra installs FastAPI
    raise MissingDependencyError("fastapi", "demo", "the demo service") from None

EMAIL_FLAG = "invoice-emails"


class Outbox:
    """Where the demo's "invoice email" job puts the mails it would send (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mails: list[dict[str, str]] = []

    def send(self, mail: dict[str, str]) -> None:
        with self._lock:
            self._mails.append(mail)

    def list(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._mails)


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(**overrides: Any) -> FastAPI:
    """The demo app with the toolkit integrated; ``overrides`` go to ``integrate()``.

    Invoices are event-sourced (``pro.events``: SQLite by default, ``ERP_PRO_EVENTS__URL``
    to change it); creating one enqueues an "invoice email" job on ``pro.queue`` that the
    embedded worker runs, while the ``invoice-emails`` flag is on; ``/_pro/health`` shows the
    real dependencies.
    """
    app = FastAPI(title="ERP demo service", version="1.0.0")
    settings: dict[str, Any] = {
        "service__name": "erp-demo",
        "service__version": "1.0.0",
        "queue__name": "demo",
        "queue__embedded_worker": True,
    }
    settings.update(overrides)
    pro: Professional = integrate(app, **settings)

    store = pro.component("events")
    flags = pro.component("flags")
    health = pro.components.get("health")  # optional: the demo runs without health checks
    queue = pro.component("queue")
    assert isinstance(store, EventStore)
    assert isinstance(flags, FeatureFlags)
    assert isinstance(queue, Queue)
    invoices = Repository(store, InvoiceAggregate)
    outbox = Outbox()

    @queue.task(name="invoice.email", retries=3)
    def send_invoice_email(invoice_id: str, customer: str, total: str) -> str:
        outbox.send(
            {
                "invoice_id": invoice_id,
                "to": customer,
                "subject": f"Invoice {invoice_id}: {total} due",
            }
        )
        return "sent"

    if flags.get_flag(EMAIL_FLAG) is None:
        flags.set_flag(
            Flag(name=EMAIL_FLAG, enabled=True, description="Email new invoices to customers")
        )
    if isinstance(health, HealthRegistry) and store.url.startswith(("sqlite:", "postgres")):
        health.register("events:responseTime", SqlCheck(store.url))

    def load(invoice_id: str) -> InvoiceAggregate:
        invoice = invoices.get(invoice_id)
        if invoice is None:
            raise HTTPException(404, f"invoice {invoice_id} does not exist")
        return invoice

    def apply(invoice: InvoiceAggregate, command: Any) -> Invoice:
        try:
            command(invoice)
        except InvoiceError as exc:
            raise HTTPException(409, str(exc)) from None
        invoices.save(invoice)
        return invoice.view()

    @app.post("/invoices", status_code=201)
    def create_invoice(data: InvoiceIn) -> Invoice:
        invoice = InvoiceAggregate(uuid.uuid4().hex[:12])
        view = apply(invoice, lambda i: i.create(data, _now()))
        if flags.is_enabled(EMAIL_FLAG, {"userId": data.customer}):
            send_invoice_email.enqueue(
                invoice_id=view.id, customer=view.customer, total=str(view.total)
            )
        return view

    @app.get("/invoices")
    def list_invoices() -> list[Invoice]:
        ids = dict.fromkeys(
            event.stream_id.removeprefix("invoice-")
            for event in store.read_all(stream_prefix="invoice-", types=["InvoiceCreated"])
        )
        return [load(invoice_id).view() for invoice_id in ids]

    @app.get("/invoices/{invoice_id}")
    def get_invoice(invoice_id: str) -> Invoice:
        return load(invoice_id).view()

    @app.post("/invoices/{invoice_id}/lines")
    def add_line(invoice_id: str, line: LineIn) -> Invoice:
        return apply(load(invoice_id), lambda i: i.add_line(line))

    @app.post("/invoices/{invoice_id}/pay")
    def pay_invoice(invoice_id: str) -> Invoice:
        return apply(load(invoice_id), lambda i: i.pay(_now()))

    @app.get("/invoices/{invoice_id}/audit")
    def invoice_audit(invoice_id: str) -> list[dict[str, Any]]:
        load(invoice_id)
        return [
            {
                "version": event.version,
                "type": event.type,
                "data": event.data,
                "recorded_at": event.recorded_at,
                "correlation_id": event.metadata.correlation_id,
                "actor": event.metadata.actor,
            }
            for event in store.audit(stream_id=f"invoice-{invoice_id}")
        ]

    @app.get("/outbox")
    def sent_mails() -> list[dict[str, str]]:
        return outbox.list()

    app.state.professional = pro
    app.state.queue = queue
    return app
