"""Built-in checks that need no outside service: disk, memory, event loop, thresholds,
circuit breakers and HTTP dependencies (against a local server)."""

from __future__ import annotations

import asyncio
import http.server
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.health import (
    BreakersCheck,
    DiskCheck,
    EventLoopLagCheck,
    HealthRegistry,
    HttpCheck,
    MemoryCheck,
    Status,
    ThresholdCheck,
    dependency_check,
    projection_lag_check,
    queue_backlog_check,
)


def test_disk_free_percent(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    free = 100 * usage.free / usage.total
    result = DiskCheck(str(tmp_path), warn_free_percent=0, fail_free_percent=0)()
    assert result.status is Status.PASS
    assert result.observed_unit == "%"
    assert result.observed_value == pytest.approx(free, abs=1)
    full = DiskCheck(str(tmp_path), warn_free_percent=100, fail_free_percent=100)()
    assert full.status is Status.FAIL
    assert f"free space on {tmp_path}" in (full.output or "") and "GiB free of" in (
        full.output or ""
    )
    low = DiskCheck(str(tmp_path), warn_free_percent=100, fail_free_percent=0)()
    assert low.status is Status.WARN


def test_disk_thresholds_validated_and_missing_path_fails(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be below"):
        DiskCheck(".", warn_free_percent=5, fail_free_percent=10)
    registry = HealthRegistry()
    registry.register("disk", DiskCheck(str(tmp_path / "missing")))
    result = registry.run().results["disk"]
    assert result.status is Status.FAIL
    assert "FileNotFoundError" in (result.output or "")


def test_memory_reports_resident_mib() -> None:
    result = MemoryCheck()()
    assert result.status is Status.PASS and result.observed_unit == "MiB"
    assert isinstance(result.observed_value, float) and result.observed_value > 1
    assert MemoryCheck(warn_mb=1)().status is Status.WARN
    failing = MemoryCheck(warn_mb=1, fail_mb=2)()
    assert failing.status is Status.FAIL
    assert "resident memory" in (failing.output or "")
    with pytest.raises(ValueError, match="must not be above"):
        MemoryCheck(warn_mb=10, fail_mb=5)


@pytest.mark.anyio
async def test_event_loop_lag_inline_measurement() -> None:
    check = EventLoopLagCheck(warn_ms=20)
    quiet = await check()
    assert quiet.status is Status.PASS and quiet.observed_unit == "ms"
    asyncio.get_running_loop().call_soon(time.sleep, 0.05)
    blocked = await check()
    assert blocked.status is Status.WARN
    assert isinstance(blocked.observed_value, float) and blocked.observed_value >= 45


@pytest.mark.anyio
async def test_event_loop_lag_sampling() -> None:
    check = EventLoopLagCheck(warn_ms=20, fail_ms=40, sample_interval=0.01)
    await check.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.06)  # noqa: ASYNC251 - block the loop like a CPU-bound handler
        await asyncio.sleep(0.03)
        result = await check()
        assert result.status is Status.FAIL
        assert "event-loop lag" in (result.output or "")
    finally:
        check.cancel()
    await asyncio.sleep(0)


@pytest.mark.anyio
async def test_threshold_checks_sync_and_async_sources() -> None:
    age = {"value": 10.0}
    backlog = queue_backlog_check(lambda: age["value"], warn=60, fail=300)
    assert (await backlog()).status is Status.PASS
    age["value"] = 60
    warned = await backlog()
    assert warned.status is Status.WARN and warned.observed_unit == "s"
    assert warned.output == "oldest waiting job age 60 s is at or above 60 s"
    age["value"] = 301
    assert (await backlog()).status is Status.FAIL

    async def lag() -> int:
        return 5000

    projection = projection_lag_check(lag, warn=1000, fail=10000)
    result = await projection()
    assert result.status is Status.WARN and result.observed_value == 5000
    assert result.observed_unit == "events"
    nothing = await ThresholdCheck(lambda: None, warn=1)()
    assert nothing.status is Status.PASS


@pytest.mark.anyio
async def test_threshold_source_returning_garbage_fails_clearly() -> None:
    registry = HealthRegistry()
    registry.register("queue", ThresholdCheck(lambda: "many", warn=1))  # type: ignore[arg-type]
    result = (await registry.arun()).results["queue"]
    assert result.status is Status.FAIL
    assert "expected a number" in (result.output or "")


@settings(max_examples=150, deadline=None)
@given(
    value=st.floats(min_value=0, max_value=1e6),
    warn=st.none() | st.floats(min_value=0, max_value=1e6),
    fail=st.none() | st.floats(min_value=0, max_value=1e6),
)
def test_threshold_grading_is_monotonic(
    value: float, warn: float | None, fail: float | None
) -> None:
    if warn is not None and fail is not None and warn > fail:
        with pytest.raises(ValueError):
            ThresholdCheck(lambda: value, warn=warn, fail=fail)
        return
    result = asyncio.run(ThresholdCheck(lambda: value, warn=warn, fail=fail)())
    rounded = round(value, 3)
    if fail is not None and value >= fail:
        assert result.status is Status.FAIL
    elif warn is not None and value >= warn:
        assert result.status is Status.WARN
    else:
        assert result.status is Status.PASS
    assert result.observed_value == rounded


@dataclass
class FakeBreaker:
    name: str
    state: str


def test_breakers_check_with_any_objects() -> None:
    breakers = [FakeBreaker("payments", "closed"), FakeBreaker("search", "half_open")]
    assert BreakersCheck(breakers)().status is Status.PASS
    breakers.append(FakeBreaker("mail", "open"))
    result = BreakersCheck(lambda: breakers)()
    assert result.status is Status.WARN
    assert result.output == "open circuit breakers: mail"
    assert result.observed_value == 1


def test_breakers_check_reads_the_resilience_registry() -> None:
    from erp_professional.resilience import CircuitBreaker

    breaker = CircuitBreaker(name="health-test-breaker")
    assert "health-test-breaker" not in (BreakersCheck()().output or "")
    breaker.open()
    result = BreakersCheck()()
    assert result.status is Status.WARN
    assert "health-test-breaker" in (result.output or "")
    breaker.close()
    assert "health-test-breaker" not in (BreakersCheck()().output or "")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/") or 200)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_dependency_status_and_latency(http_base: str) -> None:
    ok = HttpCheck(f"{http_base}/200")()
    assert ok.status is Status.PASS and ok.observed_unit == "ms"
    down = HttpCheck(f"{http_base}/503")()
    assert down.status is Status.FAIL
    assert down.output == f"{http_base}/503 answered HTTP 503"
    assert HttpCheck(f"{http_base}/404", expect_status={404})().status is Status.PASS
    assert isinstance(dependency_check(f"{http_base}/200"), HttpCheck)


def test_http_dependency_stopped() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = HttpCheck(f"http://127.0.0.1:{port}/status")()
    assert result.status is Status.FAIL
    assert (
        result.output
        == f"http://127.0.0.1:{port}/status is unreachable: [Errno 111] Connection refused"
    )


def test_http_check_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpCheck("file:///etc/passwd")


@pytest.mark.anyio
async def test_event_loop_lag_stop_waits_for_the_sampler() -> None:
    check = EventLoopLagCheck(sample_interval=0.01)
    await check.start()
    await asyncio.sleep(0.03)
    task = check._task
    assert task is not None and not task.done()
    await check.stop()
    assert task.done()
    await check.stop()  # idempotent
