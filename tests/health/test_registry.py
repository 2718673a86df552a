from __future__ import annotations

import asyncio
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from erp_professional.health import DRAIN_CHECK, KINDS, CheckResult, HealthRegistry, Status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_register_plain_and_as_decorator() -> None:
    registry = HealthRegistry()
    registry.register("a", lambda: True)

    @registry.register("b:latency", kinds=("liveness", "readiness"), critical=False)
    async def b() -> CheckResult:
        return CheckResult.ok(2.5, "ms")

    assert asyncio.iscoroutinefunction(b)
    assert set(registry.checks) == {"a", "b:latency"}
    check = registry.checks["b:latency"]
    assert check.is_async and not check.critical
    assert check.key == "b:latency" and check.component == "b"
    assert registry.checks["a"].key == "a:status"
    assert registry.checks["a"].timeout == registry.default_timeout
    report = registry.run("liveness")
    assert list(report.results) == ["b:latency"]
    assert report.results["b:latency"].observed_value == 2.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "invalid check name"),
        ({"name": ""}, "invalid check name"),
        ({"kinds": ("ready",)}, "unknown probe kind"),
        ({"kinds": ()}, "at least one kind"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"timeout": float("inf")}, "timeout must be a positive"),
        ({"interval": -1}, "interval must be a positive"),
    ],
)
def test_bad_registrations_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    registry = HealthRegistry()
    options: dict[str, object] = {"name": "ok"}
    options.update(kwargs)
    name = options.pop("name")
    with pytest.raises(ValueError, match=message):
        registry.register(name, lambda: True, **options)  # type: ignore[arg-type]
    assert registry.checks == {}


def test_duplicate_and_unknown_names() -> None:
    registry = HealthRegistry()
    registry.register("db", lambda: True)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("db", lambda: False)
    assert registry.run().ok
    registry.unregister("db")
    with pytest.raises(KeyError):
        registry.unregister("db")
    with pytest.raises(ValueError, match="reserved"):
        registry.register("shutdown", lambda: True)
    with pytest.raises(TypeError, match="not callable"):
        registry.register("x", 3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="unknown probe kind"):
        registry.run("nope")  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_any_name_is_either_registered_or_refused(name: str) -> None:
    registry = HealthRegistry()
    try:
        registry.register(name, lambda: True)
    except ValueError as exc:
        assert "invalid check name" in str(exc) or "reserved" in str(exc)  # noqa: PT017
        assert registry.checks == {}
    else:
        assert name in registry.checks and name.count(":") <= 1


def test_statuses_and_criticality() -> None:
    registry = HealthRegistry()
    registry.register("fine", lambda: None)
    registry.register("slow-disk", lambda: CheckResult.warn("90% full", 90, "%"))
    assert registry.run().status is Status.WARN

    def broken() -> None:
        raise ConnectionError("connection refused")

    registry.register("optional", broken, critical=False)
    report = registry.run()
    assert report.status is Status.WARN and report.ok
    assert report.results["optional"].status is Status.FAIL
    assert report.results["optional"].output == "ConnectionError: connection refused"
    registry.register("required", lambda: False)
    report = registry.run()
    assert report.status is Status.FAIL and not report.ok


def test_hung_sync_check_fails_with_timed_out_and_probe_returns() -> None:
    registry = HealthRegistry(cache_ttl=0)
    release = threading.Event()
    starts: list[float] = []

    def hung() -> bool:
        starts.append(time.monotonic())
        release.wait(10)
        return True

    registry.register("hung", hung, timeout=0.1)
    try:
        begin = time.perf_counter()
        report = registry.run()
        elapsed = time.perf_counter() - begin
        assert report.status is Status.FAIL
        assert report.results["hung"].output == "timed out after 0.1s"
        assert elapsed < 2
        # A second probe joins the still-running call instead of starting another thread.
        assert registry.run().results["hung"].output == "timed out after 0.1s"
        assert len(starts) == 1
    finally:
        release.set()


@pytest.mark.anyio
async def test_hung_async_check_fails_with_timed_out() -> None:
    registry = HealthRegistry(cache_ttl=0)
    calls = 0
    tasks: list[asyncio.Task[object]] = []

    async def hung() -> None:
        nonlocal calls
        calls += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        await asyncio.sleep(30)

    registry.register("hung", hung, timeout=0.05)
    report = await registry.arun()
    assert report.results["hung"].status is Status.FAIL
    assert report.results["hung"].output == "timed out after 0.05s"
    await registry.arun()
    assert calls == 1
    assert not tasks[0].done()  # still joined by later probes, not restarted
    tasks[0].cancel()


@pytest.mark.anyio
async def test_checks_run_concurrently() -> None:
    registry = HealthRegistry(cache_ttl=0)
    for i in range(5):
        registry.register(f"sync{i}", lambda: time.sleep(0.2))

        async def slow() -> None:
            await asyncio.sleep(0.2)

        registry.register(f"async{i}", slow)
    begin = time.perf_counter()
    report = await registry.arun()
    elapsed = time.perf_counter() - begin
    assert report.ok and len(report.results) == 10
    assert elapsed < 1.0  # ten 0.2 s checks one after another would take 2 s


def test_results_are_cached_for_the_ttl() -> None:
    clock = FakeClock()
    registry = HealthRegistry(cache_ttl=5, clock=clock)
    calls = {"fast": 0, "slow": 0}

    def fast() -> bool:
        calls["fast"] += 1
        return True

    def slow() -> bool:
        calls["slow"] += 1
        return True

    registry.register("fast", fast)
    registry.register("slow", slow, interval=60)
    registry.run()
    registry.run()
    assert calls == {"fast": 1, "slow": 1}
    clock.now += 5.1
    registry.run()
    assert calls == {"fast": 2, "slow": 1}
    clock.now += 60
    registry.run()
    assert calls == {"fast": 3, "slow": 2}


def test_exclude_and_unknown_exclusions() -> None:
    registry = HealthRegistry()
    registry.register("a", lambda: True)
    registry.register("b", lambda: False)
    report = registry.run("readiness", exclude=["b", "zzz"])
    assert report.ok
    assert list(report.results) == ["a"]
    assert report.excluded == ("b",)
    assert report.unknown_excluded == ("zzz",)


def test_drain_fails_readiness_only() -> None:
    registry = HealthRegistry()
    registry.register("db", lambda: True, kinds=("readiness", "liveness"))
    assert registry.run("readiness").ok
    registry.begin_drain()
    ready = registry.run("readiness")
    assert not ready.ok and ready.draining
    assert ready.results[DRAIN_CHECK].output == "the service is shutting down"
    assert registry.run("liveness").ok
    assert not registry.run().ok
    registry.end_drain()
    assert registry.run("readiness").ok


@pytest.mark.anyio
async def test_sync_run_inside_a_loop_is_refused() -> None:
    registry = HealthRegistry(cache_ttl=0)
    registry.register("a", lambda: True)
    with pytest.raises(RuntimeError, match="await arun"):
        registry.run()


def test_sync_check_returning_a_coroutine_is_awaited() -> None:
    registry = HealthRegistry()

    async def inner() -> CheckResult:
        return CheckResult.warn("slow")

    registry.register("wrapped", lambda: inner())
    assert registry.run().results["wrapped"].status is Status.WARN


def test_metrics_record_duration_and_status() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    registry = HealthRegistry(meter_provider=provider)
    registry.register("up", lambda: True)
    registry.register("down", lambda: False, critical=False)
    registry.run()
    data = reader.get_metrics_data()
    points: dict[str, list[object]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    durations = points["erp_professional.health.check.duration"]
    by_check = {p.attributes["check"]: p for p in durations}  # type: ignore[attr-defined]
    assert by_check["up"].attributes["status"] == "pass"  # type: ignore[attr-defined]
    assert by_check["down"].attributes["status"] == "fail"  # type: ignore[attr-defined]
    assert all(p.count == 1 for p in durations)  # type: ignore[attr-defined]
    statuses = {
        p.attributes["check"]: p.value  # type: ignore[attr-defined]
        for p in points["erp_professional.health.check.status"]
    }
    assert statuses == {"up": 0, "down": 2}
    provider.shutdown()


def test_status_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    registry = HealthRegistry(cache_ttl=1, clock=clock)
    state = {"up": True}
    registry.register("db", lambda: state["up"])
    registry.run()
    state["up"] = False
    clock.now += 2
    with caplog.at_level("WARNING", logger="erp_professional.health"):
        registry.run()
    assert "health check db: pass -> fail (check returned False)" in caplog.text


@settings(max_examples=100, deadline=None)
@given(
    checks=st.lists(
        st.tuples(st.sampled_from(list(Status)), st.booleans(), st.sampled_from(KINDS)),
        max_size=6,
    ),
    draining=st.booleans(),
    kind=st.sampled_from([*KINDS, None]),
)
def test_cached_status_agrees_with_a_full_run(
    checks: list[tuple[Status, bool, str]], draining: bool, kind: str | None
) -> None:
    clock = FakeClock()
    registry = HealthRegistry(clock=clock)
    for i, (status, critical, check_kind) in enumerate(checks):
        registry.register(
            f"c{i}",
            lambda status=status: CheckResult(status),
            critical=critical,
            kinds=(check_kind,),  # type: ignore[arg-type]
        )
    if draining:
        registry.begin_drain()
    selected = [c for c in registry.checks.values() if kind is None or kind in c.kinds]
    before = registry.cached_status(kind)  # type: ignore[arg-type]
    if selected and not (draining and kind in (None, "readiness")):
        assert before is None
    report = registry.run(kind)  # type: ignore[arg-type]
    assert registry.cached_status(kind) is report.status  # type: ignore[arg-type]
    clock.now += registry.cache_ttl + 1
    if selected and not (draining and kind in (None, "readiness")):
        assert registry.cached_status(kind) is None  # type: ignore[arg-type]


def test_a_check_raising_timeout_error_is_not_mistaken_for_a_registry_timeout() -> None:
    registry = HealthRegistry()

    def sync_socket() -> None:
        raise TimeoutError("read timed out from 10.0.0.5")

    async def async_socket() -> None:
        raise TimeoutError("connect timed out")

    registry.register("sync", sync_socket, timeout=5)
    registry.register("async", async_socket, timeout=5)
    report = registry.run()
    assert report.results["sync"].output == "TimeoutError: read timed out from 10.0.0.5"
    assert report.results["async"].output == "TimeoutError: connect timed out"


class Twin:
    """A sync check with an async twin that says which one ran."""

    def __call__(self) -> CheckResult:
        return CheckResult.ok("sync")

    async def acheck(self) -> CheckResult:
        return CheckResult.ok("async")


@pytest.mark.anyio
async def test_async_twins_are_used_only_when_preferred() -> None:
    plain = HealthRegistry(cache_ttl=0)
    plain.register("twin", Twin())
    assert (await plain.arun()).results["twin"].observed_value == "sync"
    preferring = HealthRegistry(cache_ttl=0, prefer_async=True)
    preferring.register("twin", Twin())
    assert preferring.checks["twin"].async_twin is not None
    assert (await preferring.arun()).results["twin"].observed_value == "async"


def test_sync_run_never_uses_async_twins() -> None:
    registry = HealthRegistry(cache_ttl=0, prefer_async=True)
    registry.register("twin", Twin())
    assert registry.run().results["twin"].observed_value == "sync"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cache_ttl": -1},
        {"cache_ttl": float("nan")},
        {"cache_ttl": float("inf")},
        {"default_timeout": 0},
        {"default_timeout": float("inf")},
    ],
)
def test_bad_registry_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        HealthRegistry(**kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_concurrent_probes_share_one_run_and_one_measurement() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    registry = HealthRegistry(meter_provider=provider, cache_ttl=0)
    calls = {"async": 0, "sync": 0}

    async def slow_async() -> None:
        calls["async"] += 1
        await asyncio.sleep(0.1)

    def slow_sync() -> None:
        calls["sync"] += 1
        time.sleep(0.1)

    registry.register("a", slow_async)
    registry.register("s", slow_sync)
    reports = await asyncio.gather(*(registry.arun() for _ in range(5)))
    assert all(r.ok for r in reports)
    assert calls == {"async": 1, "sync": 1}
    counts = {
        p.attributes["check"]: p.count  # type: ignore[attr-defined]
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "erp_professional.health.check.duration"
        for p in metric.data.data_points
    }
    assert counts == {"a": 1, "s": 1}
    provider.shutdown()
