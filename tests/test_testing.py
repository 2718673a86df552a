"""erp_professional.testing: test mode, telemetry capture and flag overrides."""

from erp_professional import testing, traced
from erp_professional.observability import capture_exception


def test_set_testing_restores_the_previous_state() -> None:
    assert not testing.is_testing()
    with testing.set_testing(True):
        assert testing.is_testing()
        with testing.set_testing(False):
            assert not testing.is_testing()
        assert testing.is_testing()
    assert not testing.is_testing()


def test_capture_spans_records_traced_functions() -> None:
    @traced
    def work() -> int:
        return 42

    with testing.capture_spans() as spans:
        assert work() == 42
        assert any(name.endswith("work") for name in spans.names())


def test_capture_sentry_events_records_scrubbed_events() -> None:
    with testing.capture_sentry_events() as events:
        try:
            raise ValueError("password=hunter2 leaked")
        except ValueError as exc:
            capture_exception(exc)
    assert len(events) == 1
    exception = events[0]["exception"]["values"][0]
    assert exception["type"] == "ValueError"
    assert exception["value"] == "password=[REDACTED] leaked"


def test_override_flag_and_builder() -> None:
    flags = testing.FlagsBuilder().off("checkout-v2").build()
    assert not flags.is_enabled("checkout-v2")
    with testing.override_flag(flags, "checkout-v2", True):
        assert flags.is_enabled("checkout-v2")
    assert not flags.is_enabled("checkout-v2")
