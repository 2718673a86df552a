"""The event store switched on by integrate(): opened on first use, closed at shutdown."""

from pathlib import Path
from typing import Any

from erp_professional import EventStore, integrate


def make_app() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    return app


def test_store_is_opened_only_when_used(tmp_path: Path) -> None:
    database = tmp_path / "events.db"
    pro = integrate(make_app(), events__url=f"sqlite:///{database}")
    try:
        assert not database.exists()
        store = pro.events
        assert isinstance(store, EventStore)
        assert pro.events is store
        store.record(
            event_type="InvoiceCreated",
            aggregate_type="invoice",
            aggregate_id="1",
            payload={"total": "19.00"},
        )
        assert database.exists()
        assert [e.type for e in store.read_stream("invoice-1")] == ["InvoiceCreated"]
        assert "events" in pro.components
    finally:
        pro.shutdown()


def test_unused_store_creates_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    pro = integrate(make_app())
    pro.shutdown()
    assert list(tmp_path.iterdir()) == []
