"""Configuration of the health capability and what integrate() installs from it."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

from erp_professional import connections
from erp_professional.config import ConfigError, HealthConfig, load_config
from erp_professional.health import HealthRegistry, drain_on_signal
from erp_professional.health._install import build_registry

from .conftest import Service

MakeService = Callable[..., Service]


def test_defaults() -> None:
    config = HealthConfig()
    assert config.enabled and config.endpoints
    assert config.cache_ttl == 1.0 and config.default_timeout == 1.0
    assert config.details_token is None
    assert not config.drain_on_sigterm


def test_environment_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PRO_HEALTH__CACHE_TTL", "2.5")
    monkeypatch.setenv("ERP_PRO_HEALTH__DETAILS_TOKEN", "t0ken")
    monkeypatch.setenv("ERP_PRO_HEALTH__DEPENDENCIES", '{"cache": "redis://127.0.0.1:6379/0"}')
    config = load_config().health
    assert config.cache_ttl == 2.5
    assert config.details_token is not None
    assert config.details_token.get_secret_value() == "t0ken"
    assert "t0ken" not in repr(config)
    assert config.dependencies == {"cache": "redis://127.0.0.1:6379/0"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"health__cache_ttl": -1}, "health.cache_ttl"),
        ({"health__default_timeout": 0}, "health.default_timeout"),
        ({"health__dependencies": {"db": "ftp://x"}}, "health.dependencies"),
        ({"health__dependencies": {"bad name": "redis://x"}}, "health.dependencies"),
        ({"health__details_header": "X Bad"}, "health.details_header"),
        ({"health__disk_warn_free_percent": 1, "health__disk_fail_free_percent": 5}, "health"),
        ({"health__memory_warn_mb": 500, "health__memory_fail_mb": 100}, "health"),
        ({"health__unknown": 1}, "health.unknown"),
    ],
)
def test_invalid_configuration_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(**overrides)
    assert field in str(info.value)


def test_build_registry_from_config(tmp_path: Path, redis_url: str) -> None:
    db = f"sqlite:///{tmp_path}/app.db"
    connections.sqlite_connect(db).close()
    config = HealthConfig(
        dependencies={"cache:responseTime": redis_url, "db": db},
        disk_paths=[str(tmp_path)],
        disk_warn_free_percent=0,
        disk_fail_free_percent=0,
    )
    registry = build_registry(config)
    assert set(registry.checks) == {
        "cache:responseTime",
        "db",
        "disk:free",
        "memory:rss",
        "circuit_breakers:open",
    }
    report = registry.run()
    assert report.ok, report.results
    assert report.results["cache:responseTime"].observed_unit == "ms"
    connections.shutdown()


def test_integrate_registers_configured_dependencies(
    make_service: MakeService, redis_url: str
) -> None:
    service = make_service(health__dependencies={"redis": redis_url})
    answer = service.get("/_pro/health")
    assert answer.status == 200
    (entry,) = json.loads(answer.text)["checks"]["redis:status"]
    assert entry["componentType"] == "datastore" and entry["observedUnit"] == "ms"


def test_event_loop_lag_only_under_asgi(make_service: MakeService) -> None:
    service = make_service(health__event_loop_lag=True)
    assert ("event_loop:lag" in service.health.checks) is (service.kind == "asgi")
    if service.kind == "asgi":
        assert "[+]event_loop:lag ok" in service.get("/_pro/readyz?verbose").text


def test_built_in_system_checks_on_by_default(make_service: MakeService) -> None:
    service = make_service(health__memory=True, health__breakers=True)
    text = service.get("/_pro/readyz?verbose").text
    assert "[+]memory:rss ok" in text and "[+]circuit_breakers:open ok" in text


def test_health_disabled_installs_nothing(make_service: MakeService) -> None:
    service = make_service(health__enabled=False)
    assert "health" not in service.pro.components
    assert service.get("/_pro/livez").status == 404


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs POSIX signals")
def test_drain_on_signal_fails_readiness_then_passes_the_signal_on() -> None:
    assert _in_main_thread()
    received: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old = signal.signal(signal.SIGUSR1, previous)
    try:
        registry = HealthRegistry()
        restore = drain_on_signal(registry, signals=(signal.SIGUSR1,))
        os.kill(os.getpid(), signal.SIGUSR1)
        assert registry.draining
        assert not registry.run("readiness").ok
        assert registry.run("liveness").ok
        assert received == [signal.SIGUSR1]
        restore()
        assert signal.getsignal(signal.SIGUSR1) is previous
    finally:
        signal.signal(signal.SIGUSR1, old)


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs POSIX signals")
def test_drain_on_signal_delay_and_restore(make_service: MakeService) -> None:
    service = make_service()
    received = threading.Event()
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: received.set())
    try:
        restore = drain_on_signal(service.pro, signals=(signal.SIGUSR1,), delay=0.1)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert service.pro.draining
        assert service.get("/_pro/readyz").status == 503
        assert service.get("/_pro/livez").status == 200
        assert not received.is_set()
        deadline = 50
        while not received.is_set() and deadline:
            received.wait(0.05)  # the handler runs in the main thread between waits
            deadline -= 1
        assert received.is_set()
        restore()
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_drain_on_signal_refuses_bad_targets() -> None:
    with pytest.raises(TypeError, match="begin_shutdown"):
        drain_on_signal(object())
    with pytest.raises(ValueError, match="delay"):
        drain_on_signal(HealthRegistry(), delay=-1)


def test_stopped_dependency_turns_readiness_503_with_the_reason(
    make_service: MakeService, postgres_url: str
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    service = make_service(
        health__default_timeout=3,
        health__dependencies={
            "db": postgres_url,
            "cache": f"redis://127.0.0.1:{port}/0",
        },
    )
    ready = service.get("/_pro/readyz?verbose")
    assert ready.status == 503
    assert "[+]db ok" in ready.text
    (line,) = [line for line in ready.text.splitlines() if line.startswith("[-]cache")]
    assert line.startswith(
        f"[-]cache failed: Redis at redis://127.0.0.1:{port}/0 is unreachable: "
        f"Error 111 connecting to 127.0.0.1:{port}."
    )
    assert "connection refused" in line.lower()
    doc = json.loads(service.get("/_pro/health").text)
    assert doc["status"] == "fail"
    assert doc["checks"]["db:status"][0]["status"] == "pass"
    assert doc["checks"]["cache:status"][0]["status"] == "fail"
    assert service.get("/_pro/livez").status == 200
