"""Switch health checks on for a :class:`~erp_professional.hub.Professional`."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from ._dependencies import dependency_check
from ._endpoints import HealthEndpoints
from ._registry import HealthRegistry
from ._signals import drain_on_signal
from ._system import DiskCheck, EventLoopLagCheck, MemoryCheck
from ._thresholds import BreakersCheck

if TYPE_CHECKING:
    from ..config import HealthConfig
    from ..hub import Professional

__all__ = ["build_registry", "install"]

log = logging.getLogger("erp_professional.health")


def build_registry(config: HealthConfig, *, breakers: bool = True) -> HealthRegistry:
    """A registry with the built-in checks ``config`` asks for (not the event-loop check,
    which needs a running loop: :func:`install` adds it at start-up under ASGI)."""
    registry = HealthRegistry(cache_ttl=config.cache_ttl, default_timeout=config.default_timeout)
    for name, url in config.dependencies.items():
        registry.register(name, dependency_check(url, warn_ms=config.dependency_warn_ms))
    for index, path in enumerate(config.disk_paths):
        name = "disk" if len(config.disk_paths) == 1 else f"disk{index + 1}"
        check = DiskCheck(
            path,
            warn_free_percent=config.disk_warn_free_percent,
            fail_free_percent=config.disk_fail_free_percent,
        )
        registry.register(f"{name}:free", check)
    if config.memory:
        memory = MemoryCheck(warn_mb=config.memory_warn_mb, fail_mb=config.memory_fail_mb)
        registry.register("memory:rss", memory)
    if config.breakers and breakers:
        registry.register("circuit_breakers:open", BreakersCheck())
    return registry


def install(pro: Professional) -> None:
    """Register the ``health`` component, mount the probe endpoints and hook draining."""
    config = pro.config.health
    registry = build_registry(config, breakers=pro.config.resilience.enabled)
    asgi = pro.server_kind == "asgi"
    registry.prefer_async = asgi
    pro.register("health", registry)
    pro.on_drain(registry.begin_drain)
    if config.endpoints:
        token = config.details_token.get_secret_value() if config.details_token else None
        service = pro.config.service
        endpoints = HealthEndpoints(
            registry,
            token=token,
            header=config.details_header,
            service={"serviceId": service.name, "version": service.version},
        )
        for path, handler in endpoints.handlers(asynchronous=asgi).items():
            pro.add_endpoint(path, handler)
    if config.event_loop_lag:
        lag = EventLoopLagCheck(
            warn_ms=config.event_loop_lag_warn_ms, fail_ms=config.event_loop_lag_fail_ms
        )

        def start_lag_monitor() -> None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # a WSGI service: there is no long-lived event loop to watch
            if "event_loop:lag" not in registry.checks:
                registry.register("event_loop:lag", lag)
            lag.start_on(loop)
            pro.on_shutdown(lag.stop)

        pro.on_startup(start_lag_monitor)
    if config.drain_on_sigterm:

        def install_signal_handler() -> None:
            if threading.current_thread() is not threading.main_thread():
                log.warning("drain_on_sigterm needs the main thread; SIGTERM left to the server")
                return
            restore = drain_on_signal(pro, delay=config.drain_delay)
            pro.on_shutdown(restore)

        pro.on_startup(install_signal_handler)
