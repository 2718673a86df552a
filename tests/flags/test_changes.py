"""Changes through the API: audit records, listeners, overrides, builder, exposures."""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from erp_professional.flags import (
    AuditRecord,
    Exposure,
    FeatureFlags,
    Flag,
    FlagChange,
    FlagDefinitionError,
    FlagsBuilder,
    State,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_set_and_delete_record_who_when_what(caplog: pytest.LogCaptureFixture) -> None:
    flags = FeatureFlags(clock=lambda: NOW)
    assert flags.state is State.READY
    audits: list[AuditRecord] = []
    changes: list[FlagChange] = []
    flags.on_audit(audits.append)
    flags.on_change(changes.append)
    with caplog.at_level(logging.INFO, logger="erp_professional.flags"):
        flags.set_flag("beta", {"users": ["alice"]}, actor="alice@example.com", reason="pilot")
    assert flags.is_enabled("beta", {"userId": "alice"})
    record = audits[-1]
    assert (record.action, record.flag, record.actor, record.at, record.reason) == (
        "set",
        "beta",
        "alice@example.com",
        NOW,
        "pilot",
    )
    assert record.before is None and record.after is not None
    assert record.after["name"] == "beta"
    assert changes[-1].names == {"beta"}
    assert "beta: set by alice@example.com (pilot)" in caplog.text

    flags.set_flag(Flag("beta", enabled=False), actor="bob")
    assert audits[-1].before is not None and audits[-1].before["enabled"] is True
    assert not flags.is_enabled("beta", {"userId": "alice"})

    assert flags.delete_flag("beta", actor="carol") is True
    assert audits[-1].action == "delete" and audits[-1].after is None
    assert flags.get_flag("beta") is None
    assert flags.delete_flag("beta") is False
    assert audits[-1].actor == "system"


def test_invalid_change_is_refused_and_nothing_lost() -> None:
    flags = FeatureFlags.from_dict({"flags": {"a": {"rollout": 10}}})
    with pytest.raises(FlagDefinitionError, match="rollout"):
        flags.set_flag("a", {"rollout": 101})
    flag = flags.get_flag("a")
    assert flag is not None and flag.strategies[0].parameters["rollout"] == "10"


def test_listener_errors_do_not_break_changes(caplog: pytest.LogCaptureFixture) -> None:
    flags = FeatureFlags()

    def broken(change: FlagChange) -> None:
        raise RuntimeError("listener bug")

    seen: list[FlagChange] = []
    flags.on_change(broken)
    remove = flags.on_change(seen.append)
    flags.set_flag("a", {})
    assert len(seen) == 1 and "listener bug" in caplog.text
    remove()
    flags.set_flag("b", {})
    assert len(seen) == 1


def test_override_context_manager_nests_and_restores() -> None:
    flags = FlagsBuilder().off("a").variants("ab", "x", "y").build()
    with flags.override("a", True):
        assert flags.is_enabled("a")
        with flags.override("a", False):
            assert not flags.is_enabled("a")
            assert flags.evaluate("a").value is False
            assert flags.get_variant("a").feature_enabled is False
        assert flags.is_enabled("a")
        with flags.override("ab", "y", payload={"size": 2}):
            variant = flags.get_variant("ab")
            assert (variant.name, variant.enabled) == ("y", True)
            assert flags.evaluate("ab", None, {}).value == {"size": 2}
    assert not flags.is_enabled("a")
    with flags.override("unknown-flag", True):
        assert flags.is_enabled("unknown-flag")
    assert not flags.is_enabled("unknown-flag")


def test_builder() -> None:
    flags = (
        FlagsBuilder()
        .on("a")
        .off("b")
        .rollout("c", 100)
        .users("d", "alice")
        .flag("e", enabled=True, overrides={"bob": False})
        .build()
    )
    assert flags.is_enabled("a") and not flags.is_enabled("b")
    assert flags.is_enabled("c", {"userId": "1"})
    assert flags.is_enabled("d", {"userId": "alice"}) and not flags.is_enabled("d", {"userId": "x"})
    assert not flags.is_enabled("e", {"userId": "bob"})
    assert [f.name for f in flags.list_flags()] == ["a", "b", "c", "d", "e"]


def test_exposures_metric_and_sampling() -> None:
    reader = InMemoryMetricReader()
    flags = (
        FlagsBuilder()
        .variants("ab", "x", "y")
        .build(
            exposure_sample_rate=0.25,
            rng=random.Random(3),
            meter_provider=MeterProvider(metric_readers=[reader]),
        )
    )
    exposures: list[Exposure] = []
    flags.on_exposure(exposures.append)
    for user in range(4000):
        flags.get_variant("ab", {"userId": str(user)})
    assert 850 < len(exposures) < 1150
    assert {e.variant for e in exposures} == {"x", "y"}
    assert exposures[0].context["userId"]
    data = reader.get_metrics_data()
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "erp_professional.flags.exposures"
        for p in m.data.data_points
    ]
    assert sum(p.value for p in points) == len(exposures)
    assert {p.attributes["variant"] for p in points} == {"x", "y"}
    assert all(p.attributes["flag"] == "ab" for p in points)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match=r"0\.\.1"):
        FeatureFlags(exposure_sample_rate=1.5)
    with pytest.raises(ValueError, match="refresh_interval"):
        FeatureFlags(refresh_interval=-1)
    with pytest.raises(FlagDefinitionError, match="non-empty"):
        FeatureFlags().set_flag("  ", {})
    with pytest.raises(FlagDefinitionError, match="non-empty"):
        Flag("")


def test_readers_see_whole_snapshots_while_writers_change() -> None:
    # every flag in a snapshot flips together: a reader never sees a half-applied change
    names = [f"f{i}" for i in range(20)]
    flags = FeatureFlags([Flag(n, enabled=True) for n in names])
    stop = threading.Event()
    mixed: list[int] = []

    def read() -> None:
        while not stop.is_set():
            snapshot = flags._snapshot
            states = {snapshot.is_on(snapshot.flags[n], {}) for n in names}
            if len(states) != 1:
                mixed.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(30):
            events = [
                {"type": "feature-updated", "feature": {"name": n, "enabled": round_ % 2 == 0}}
                for n in names
            ]
            flags.apply_unleash_events(events)
    finally:
        stop.set()
        reader.join()
    assert mixed == []


def test_audit_records_land_in_the_event_store(tmp_path: Path) -> None:
    from erp_professional.config import FlagsConfig
    from erp_professional.events import EventStore

    url = f"sqlite:///{tmp_path / 'events.db'}"
    flags = FeatureFlags.from_config(FlagsConfig(audit_events_url=url), clock=lambda: NOW)
    flags.set_flag("beta", {"rollout": 10}, actor="alice", reason="pilot")
    flags.kill("beta", actor="oncall")
    flags.delete_flag("beta", actor="bob")
    store = EventStore(url)
    events = store.read_stream("flag-beta")
    assert [e.type for e in events] == ["FlagSet", "FlagKilled", "FlagDeleted"]
    assert events[0].data["reason"] == "pilot"
    assert events[0].data["after"]["name"] == "beta"  # type: ignore[index]
    assert [e.metadata.actor for e in events] == ["alice", "oncall", "bob"]
    assert [e.stream_id for e in store.audit(actor="oncall")] == ["flag-beta"]
    store.close()
