from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional.health import HEALTH_JSON, CheckResult

from .conftest import Service

MakeService = Callable[..., Service]


def _with_checks(service: Service) -> Service:
    registry = service.health
    registry.register("db:responseTime", lambda: CheckResult.ok(1.5, "ms"))
    registry.register("cache", lambda: CheckResult.warn("slow", 250, "ms"), critical=False)
    registry.register("ping", lambda: True, kinds=("liveness",))
    registry.register("migrations", lambda: True, kinds=("startup",))
    return service


def test_probes_answer_ok_with_200(make_service: MakeService) -> None:
    service = _with_checks(make_service())
    for probe in ("livez", "readyz", "startupz"):
        answer = service.get(f"/_pro/{probe}")
        assert answer.status == 200, probe
        assert answer.text == "ok"
        assert answer.headers["cache-control"] == "no-store"
    assert service.get("/app").text == "app"


def test_verbose_lists_each_check(make_service: MakeService) -> None:
    service = _with_checks(make_service())
    answer = service.get("/_pro/readyz?verbose")
    assert answer.status == 200
    assert answer.text.splitlines() == [
        "[+]db:responseTime ok",
        "[+]cache warn: slow",
        "readyz check passed",
    ]
    assert service.get("/_pro/livez?verbose=1").text.splitlines() == [
        "[+]ping ok",
        "livez check passed",
    ]
    assert service.get("/_pro/startupz?verbose=false").text == "ok"


def test_failing_check_gives_503_with_reason(make_service: MakeService) -> None:
    service = _with_checks(make_service())

    def down() -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    service.health.register("queue", down)
    answer = service.get("/_pro/readyz")
    assert answer.status == 503
    assert "[-]queue failed: ConnectionError: Error 111 connecting" in answer.text
    assert answer.text.endswith("readyz check failed\n")
    # Liveness does not run readiness checks.
    assert service.get("/_pro/livez").status == 200


def test_exclude_is_repeatable(make_service: MakeService) -> None:
    service = _with_checks(make_service())
    service.health.register("queue", lambda: False)
    service.health.register("search", lambda: False)
    assert service.get("/_pro/readyz?exclude=queue").status == 503
    answer = service.get("/_pro/readyz?exclude=queue&exclude=search&exclude=nope&verbose")
    assert answer.status == 200
    lines = answer.text.splitlines()
    assert "[+]queue excluded: ok" in lines and "[+]search excluded: ok" in lines
    assert 'warn: some health checks cannot be excluded: no matches for "nope"' in lines


def test_health_json_document(make_service: MakeService) -> None:
    service = _with_checks(make_service(service__name="orders", service__version="1.2.3"))
    answer = service.get("/_pro/health")
    assert answer.status == 200
    assert answer.headers["content-type"] == HEALTH_JSON
    doc = json.loads(answer.text)
    assert doc["status"] == "warn"
    assert doc["serviceId"] == "orders" and doc["version"] == "1.2.3"
    assert set(doc["checks"]) == {
        "db:responseTime",
        "cache:status",
        "ping:status",
        "migrations:status",
    }
    (db,) = doc["checks"]["db:responseTime"]
    assert db["componentId"] == "db"
    assert db["observedValue"] == 1.5 and db["observedUnit"] == "ms"
    assert db["status"] == "pass"
    assert "output" not in db
    datetime.fromisoformat(db["time"])
    assert db["time"].endswith("Z")
    (cache,) = doc["checks"]["cache:status"]
    assert cache == {
        "componentId": "cache",
        "observedValue": 250,
        "observedUnit": "ms",
        "status": "warn",
        "time": cache["time"],
        "output": "slow",
    }


def test_health_json_fail_is_503(make_service: MakeService) -> None:
    service = make_service()
    service.health.register("db", lambda: CheckResult.fail("connection refused"))
    answer = service.get("/_pro/health")
    assert answer.status == 503
    doc = json.loads(answer.text)
    assert doc["status"] == "fail"
    assert doc["checks"]["db:status"][0]["output"] == "connection refused"
    assert service.get("/_pro/health?exclude=db").status == 200


def test_head_gives_status_without_body(make_service: MakeService) -> None:
    service = make_service()
    service.health.register("db", lambda: False)
    answer = service.get("/_pro/readyz", method="HEAD")
    assert answer.status == 503 and answer.text == ""
    assert service.get("/_pro/readyz", method="POST").status == 405


def test_details_need_the_token_but_status_codes_stay_public(make_service: MakeService) -> None:
    service = make_service(health__details_token="s3cret")
    service.health.register("db", lambda: CheckResult.fail("password authentication failed"))
    anonymous = service.get("/_pro/readyz?verbose")
    assert anonymous.status == 503
    assert anonymous.text == "readyz check failed\n"
    assert "db" not in anonymous.text
    wrong = service.get("/_pro/readyz?verbose", headers={"X-Health-Token": "guess"})
    assert wrong.text == "readyz check failed\n"
    allowed = service.get("/_pro/readyz?verbose", headers={"X-Health-Token": "s3cret"})
    assert "[-]db failed: password authentication failed" in allowed.text
    bearer = service.get("/_pro/health", headers={"Authorization": "Bearer s3cret"})
    assert "db:status" in json.loads(bearer.text)["checks"]
    public = service.get("/_pro/health")
    assert public.status == 503
    assert json.loads(public.text) == {"status": "fail"}


def test_shutdown_fails_readiness_at_once_liveness_stays(make_service: MakeService) -> None:
    service = _with_checks(make_service())
    assert service.get("/_pro/readyz").status == 200
    service.pro.begin_shutdown()
    ready = service.get("/_pro/readyz?verbose")
    assert ready.status == 503
    assert "[-]shutdown failed: the service is shutting down" in ready.text
    assert service.get("/_pro/livez").status == 200
    assert service.get("/_pro/health").status == 503


def test_hung_check_does_not_hang_the_probe(make_service: MakeService) -> None:
    service = make_service(health__default_timeout=0.2)
    service.health.register("stuck", lambda: time.sleep(3))
    begin = time.perf_counter()
    answer = service.get("/_pro/readyz?verbose")
    assert time.perf_counter() - begin < 2.5
    assert answer.status == 503
    assert "[-]stuck failed: timed out after 0.2s" in answer.text


def test_registry_is_a_component_and_endpoints_listed(make_service: MakeService) -> None:
    service = make_service()
    index = json.loads(service.get("/_pro/").text)
    for path in ("/_pro/livez", "/_pro/readyz", "/_pro/startupz", "/_pro/health"):
        assert path in index["endpoints"]
    assert "health" in json.loads(service.get("/_pro/info").text)["components"]


def test_endpoints_can_be_switched_off(make_service: MakeService) -> None:
    service = make_service(health__endpoints=False)
    assert service.get("/_pro/livez").status == 404
    assert service.health.run().ok


def test_custom_prefix(make_service: MakeService) -> None:
    service = make_service(web__prefix="/ops")
    assert service.get("/ops/livez").status == 200


def test_async_and_slow_checks_under_both_drivers(make_service: MakeService) -> None:
    service = make_service(health__cache_ttl=0)

    async def slow_async() -> CheckResult:
        await asyncio.sleep(0.2)
        return CheckResult.ok(0.2, "s")

    for i in range(5):
        service.health.register(f"async{i}", slow_async)
        service.health.register(f"sync{i}", lambda: time.sleep(0.2))
    begin = time.perf_counter()
    answer = service.get("/_pro/readyz?verbose")
    assert time.perf_counter() - begin < 1.5  # ten 0.2 s checks in sequence take 2 s
    assert answer.status == 200
    assert answer.text.count(" ok\n") == 10


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=40))
def test_any_query_string_gets_a_probe_answer(make_service: MakeService, query: str) -> None:
    service = make_service()
    service.health.register("db", lambda: True)
    for probe in ("readyz", "health"):
        answer = service.get(f"/_pro/{probe}?{quote(query, safe='=&')}")
        assert answer.status in (200, 503), (probe, query, answer.text)
