from __future__ import annotations

from collections.abc import Iterator

import pytest

from erp_professional import testing


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def no_waits() -> Iterator[None]:
    with testing.set_testing(True):
        yield
