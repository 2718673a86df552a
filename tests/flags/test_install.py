"""Flags switched on by integrate(): the component, its health check and its shutdown."""

from typing import Any

from erp_professional import FeatureFlags, integrate
from erp_professional.flags import Flag

from ..integrations.apps import Client


def make_app() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_integrate_registers_flags_and_their_health_check() -> None:
    pro = integrate(make_app())
    try:
        flags = pro.flags
        assert isinstance(flags, FeatureFlags)
        flags.set_flag(Flag(name="new-invoice-layout", enabled=True))
        assert flags.is_enabled("new-invoice-layout")
        client = Client(pro, "asgi")
        try:
            health = client.get("/_pro/health").json()
        finally:
            client.close()
        assert any(key.startswith("flags") for key in health["checks"])
    finally:
        pro.shutdown()


def test_flags_can_be_switched_off() -> None:
    pro = integrate(make_app(), flags__enabled=False)
    try:
        assert "flags" not in pro.components
    finally:
        pro.shutdown()
