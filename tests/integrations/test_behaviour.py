"""One behavioural contract, checked for every supported framework and driver."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from erp_professional import Professional, integrate
from erp_professional.web import is_valid_request_id

from .apps import FACTORIES, Client


@pytest.fixture(params=sorted(FACTORIES))
def service(request: pytest.FixtureRequest) -> Iterator[tuple[Client, Professional, Any]]:
    app, pro, kind = FACTORIES[request.param]()
    client = Client(app, kind)
    try:
        yield client, pro, app
    finally:
        client.close()
        pro.shutdown()


def test_request_id_is_generated_and_echoed(service: tuple[Client, Professional, Any]) -> None:
    client, _, _ = service
    response = client.get("/hello/ada")
    assert response.status == 200
    request_id = response.headers["x-request-id"]
    assert is_valid_request_id(request_id) and len(request_id) == 32
    assert response.json() == {"hello": "ada", "request_id": request_id}
    assert client.get("/hello/ada").headers["x-request-id"] != request_id


def test_well_formed_incoming_request_id_is_kept(
    service: tuple[Client, Professional, Any],
) -> None:
    client, _, _ = service
    incoming = "trace-42:abc.DEF_x-1"
    response = client.get("/hello/bob", {"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.json()["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["has space", "x" * 129, "semi;colon", "<script>", "a/b", ""],
)
def test_malformed_incoming_request_id_is_replaced(
    service: tuple[Client, Professional, Any], incoming: str
) -> None:
    client, _, _ = service
    response = client.get("/hello/eve", {"X-Request-ID": incoming} if incoming else {})
    echoed = response.headers["x-request-id"]
    assert echoed != incoming
    assert is_valid_request_id(echoed)
    assert response.json()["request_id"] == echoed


def test_unhandled_exception_is_problem_json_without_trace(
    service: tuple[Client, Professional, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client, pro, _ = service
    reported: list[BaseException] = []
    pro.pipeline.error_reporters.append(lambda ex, exc: reported.append(exc))
    with caplog.at_level(logging.ERROR, logger="erp_professional.web"):
        response = client.get("/boom", {"X-Request-ID": "req-500"})
    assert response.status == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-500"
    body = response.json()
    assert body["status"] == 500
    assert body["title"] == "Internal Server Error"
    assert body["request_id"] == "req-500"
    text = response.body.decode()
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    assert len(reported) == 1 and isinstance(reported[0], RuntimeError)
    assert any("req-500" in record.getMessage() for record in caplog.records)


def test_endpoints_are_mounted_under_the_prefix(
    service: tuple[Client, Professional, Any],
) -> None:
    client, _, _ = service
    index = client.get("/_pro/")
    assert index.status == 200
    assert "/_pro/info" in index.json()["endpoints"]
    assert client.get("/_pro/info").json()["service"] == "erp-service"
    missing = client.get("/_pro/nothing-here")
    assert missing.status == 404
    assert missing.headers["content-type"] == "application/problem+json"
    # The app's own routes are untouched.
    assert client.get("/hello/x").status == 200


def test_toolkit_endpoint_rejects_other_methods(
    service: tuple[Client, Professional, Any],
) -> None:
    client, _, _ = service
    response = client.request("POST", "/_pro/info")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_shutdown_is_idempotent(service: tuple[Client, Professional, Any]) -> None:
    _, pro, _ = service
    calls: list[str] = []
    pro.on_shutdown(lambda: calls.append("closed"))
    pro.shutdown()
    pro.shutdown()
    assert calls == ["closed"]
    assert pro.closed and pro.draining


def test_integrate_twice_is_a_clear_error(service: tuple[Client, Professional, Any]) -> None:
    _, pro, app = service
    with pytest.raises(RuntimeError, match="already called"):
        integrate(app)
    with pytest.raises(RuntimeError, match="already called"):
        integrate(pro)


@pytest.mark.parametrize("thing", [object(), 42, "app", lambda: None, type])
def test_unsupported_objects_name_the_supported_kinds(thing: object) -> None:
    with pytest.raises(TypeError, match=r"FastAPI or Starlette.*Flask.*Django.*ASGI.*WSGI"):
        integrate(thing)


def test_factory_components_are_built_once_on_first_use() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    pro = integrate(app)
    built: list[object] = []
    created: list[object] = []

    def factory() -> object:
        built.append(object())
        return built[-1]

    pro.register_factory("thing", factory, on_create=created.append)
    assert built == []
    first = pro.thing
    assert pro.thing is first
    assert pro.component("thing") is first
    assert built == [first]
    assert created == [first]
    with pytest.raises(ValueError, match="already registered"):
        pro.register("thing", object())
    with pytest.raises(AttributeError, match="nothing"):
        pro.nothing
    pro.shutdown()


def test_apps_without_attributes_are_remembered_weakly() -> None:
    class SlottedApp:
        __slots__ = ("__weakref__",)

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            return None

    app = SlottedApp()
    pro = integrate(app)
    with pytest.raises(RuntimeError, match="already called"):
        integrate(app)
    pro.shutdown()
